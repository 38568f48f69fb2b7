import CHiredis
import NIOCore

/// A Redis command as its arguments, formatted for the wire by hiredis.
public struct RESPCommand: Sendable, Hashable {
    /// The command name and its arguments, as bytes.
    public var arguments: [[UInt8]]

    public init(arguments: [[UInt8]]) {
        self.arguments = arguments
    }

    public init(_ arguments: [String]) {
        self.arguments = arguments.map { Array($0.utf8) }
    }

    public init(_ arguments: String...) {
        self.init(arguments)
    }

    /// The command name, for error messages.
    public var name: String {
        self.arguments.first.map { String(decoding: $0, as: UTF8.self) } ?? ""
    }

    /// Writes the command as a RESP array of bulk strings.
    public func encode(into buffer: inout ByteBuffer) throws {
        guard !self.arguments.isEmpty, self.arguments.count <= Int(Int32.max) else {
            throw RedisError.invalidCommand("a command needs between 1 and 2^31-1 arguments")
        }
        // One contiguous copy of all arguments, plus a byte so the storage is never empty.
        var storage: [UInt8] = []
        storage.reserveCapacity(self.arguments.reduce(1) { $0 + $1.count })
        var offsets: [Int] = []
        var lengths: [Int] = []
        for argument in self.arguments {
            offsets.append(storage.count)
            lengths.append(argument.count)
            storage.append(contentsOf: argument)
        }
        storage.append(0)
        var formatted: UnsafeMutablePointer<CChar>?
        let length = storage.withUnsafeBytes { raw -> Int32 in
            var pointers: [UnsafePointer<CChar>?] = offsets.map { offset in
                (raw.baseAddress! + offset).assumingMemoryBound(to: CChar.self)
            }
            return redisFormatCommandArgv(&formatted, Int32(self.arguments.count), &pointers, lengths)
        }
        guard length >= 0, let formatted else {
            throw RedisError.invalidCommand("hiredis could not format \(self.name) (out of memory)")
        }
        defer { redisFreeCommand(formatted) }
        buffer.writeBytes(UnsafeRawBufferPointer(start: formatted, count: Int(length)))
    }
}
