import NIOCore

/// A Redis command, written as a RESP array of bulk strings as its arguments are appended: what
/// goes on the wire is built once, with no array per argument and no string per number.
public struct RESPCommand: Sendable, Hashable {
    /// The command as sent.
    public private(set) var bytes: ByteBuffer
    /// The command name, for error messages.
    public let name: String
    /// Arguments still to append.
    private var missing: Int

    /// A command of `argumentCount` arguments, the name included; append the others with
    /// ``append(_:)-(String)``, ``append(_:)-(Int)`` or ``append(bytes:)``. `capacity` sizes the buffer.
    public init(name: String, argumentCount: Int, capacity: Int = 64) {
        precondition(argumentCount >= 1, "a command has at least its name")
        self.name = name
        self.missing = argumentCount
        self.bytes = ByteBuffer()
        self.bytes.reserveCapacity(capacity + name.utf8.count)
        self.bytes.writeStaticString("*")
        self.bytes.writeString(String(argumentCount))
        self.bytes.writeStaticString("\r\n")
        self.append(name)
    }

    /// A command from its name and arguments as text.
    public init(_ arguments: [String]) {
        precondition(!arguments.isEmpty, "a command has at least its name")
        self.init(
            name: arguments[0],
            argumentCount: arguments.count,
            capacity: arguments.reduce(16) { $0 + $1.utf8.count + 16 }
        )
        for argument in arguments.dropFirst() { self.append(argument) }
    }

    /// A command from its name and arguments as text.
    public init(_ arguments: String...) {
        self.init(arguments)
    }

    /// Whether every argument announced has been appended.
    public var isComplete: Bool { self.missing == 0 }

    /// Appends a text argument.
    public mutating func append(_ argument: String) {
        self.startArgument(length: argument.utf8.count)
        self.bytes.writeString(argument)
        self.bytes.writeStaticString("\r\n")
    }

    /// Appends an integer argument, in decimal (a string of at most 15 bytes is stored inline:
    /// no allocation for the numbers a batch carries).
    public mutating func append(_ argument: Int) {
        self.append(String(argument))
    }

    /// Appends an argument of any bytes.
    public mutating func append(bytes argument: some Collection<UInt8>) {
        self.startArgument(length: argument.count)
        self.bytes.writeBytes(argument)
        self.bytes.writeStaticString("\r\n")
    }

    private mutating func startArgument(length: Int) {
        precondition(self.missing > 0, "more arguments than announced for \(self.name)")
        self.missing -= 1
        self.bytes.writeStaticString("$")
        self.bytes.writeString(String(length))
        self.bytes.writeStaticString("\r\n")
    }
}
