/// One field line of a head, as offsets into the bytes it was parsed from.
public struct HTTP1HeaderField: Equatable, Hashable, Sendable {
    /// The field name's bytes.
    public var name: Range<Int>
    /// The field value's bytes, without leading and trailing whitespace.
    public var value: Range<Int>
    /// The line from the name to the end of the value (trailing whitespace and CRLF excluded).
    public var line: Range<Int> { name.lowerBound..<value.upperBound }
    /// The name, when it is one the proxy acts on.
    public var kind: HTTP1FieldKind

    /// A field at these offsets.
    public init(name: Range<Int>, value: Range<Int>, kind: HTTP1FieldKind) {
        self.name = name
        self.value = value
        self.kind = kind
    }
}

/// Field names the proxy acts on, recognised once while parsing (case-insensitively).
public enum HTTP1FieldKind: UInt8, Equatable, Hashable, Sendable {
    /// Any other name.
    case other
    case host
    case contentLength
    case transferEncoding
    case connection
    /// `Keep-Alive`, hop-by-hop.
    case keepAlive
    /// `Proxy-Connection`, hop-by-hop by convention.
    case proxyConnection
    /// `TE`, hop-by-hop.
    case te
    /// `Trailer`.
    case trailer
    case upgrade
    case expect
    case xForwardedFor
    case xForwardedProto
    case xForwardedHost
    case xRequestID

    /// Whether RFC 9110 §7.6.1 makes the field hop-by-hop (besides the names Connection lists).
    public var isHopByHop: Bool {
        switch self {
        case .connection, .keepAlive, .proxyConnection, .te, .transferEncoding, .upgrade: true
        default: false
        }
    }

    /// The kind of the name at `range` of `bytes`.
    static func classify(_ bytes: UnsafeRawBufferPointer, _ range: Range<Int>) -> HTTP1FieldKind {
        switch range.count {
        case 2 where bytes.equalsIgnoringCase(range, "te"): .te
        case 4 where bytes.equalsIgnoringCase(range, "host"): .host
        case 6 where bytes.equalsIgnoringCase(range, "expect"): .expect
        case 7 where bytes.equalsIgnoringCase(range, "upgrade"): .upgrade
        case 7 where bytes.equalsIgnoringCase(range, "trailer"): .trailer
        case 10 where bytes.equalsIgnoringCase(range, "connection"): .connection
        case 10 where bytes.equalsIgnoringCase(range, "keep-alive"): .keepAlive
        case 12 where bytes.equalsIgnoringCase(range, "x-request-id"): .xRequestID
        case 14 where bytes.equalsIgnoringCase(range, "content-length"): .contentLength
        case 15 where bytes.equalsIgnoringCase(range, "x-forwarded-for"): .xForwardedFor
        case 16 where bytes.equalsIgnoringCase(range, "x-forwarded-host"): .xForwardedHost
        case 16 where bytes.equalsIgnoringCase(range, "proxy-connection"): .proxyConnection
        case 17 where bytes.equalsIgnoringCase(range, "transfer-encoding"): .transferEncoding
        case 17 where bytes.equalsIgnoringCase(range, "x-forwarded-proto"): .xForwardedProto
        default: .other
        }
    }
}

/// The tokens a Connection field lists.
public struct HTTP1ConnectionTokens: OptionSet, Hashable, Sendable {
    public let rawValue: UInt8
    /// A set from its raw bits.
    public init(rawValue: UInt8) { self.rawValue = rawValue }
    public static let close = HTTP1ConnectionTokens(rawValue: 1)
    public static let keepAlive = HTTP1ConnectionTokens(rawValue: 2)
    public static let upgrade = HTTP1ConnectionTokens(rawValue: 4)
    /// Some other token: a field name the proxy must remove before forwarding.
    public static let other = HTTP1ConnectionTokens(rawValue: 8)
}

/// The HTTP/1 versions accepted.
public enum HTTP1Version: Equatable, Hashable, Sendable {
    case http1_0
    case http1_1
}

/// How a message's body is delimited (RFC 9112 §6.3).
public enum HTTP1BodyFraming: Equatable, Hashable, Sendable {
    /// No body.
    case none
    /// Exactly this many bytes.
    case contentLength(Int)
    /// Chunked transfer coding; decode with ``ChunkedBodyDecoder``.
    case chunked
    /// Until the connection closes (responses only).
    case untilClose
}

/// What feeding bytes to a head parser gave.
public enum HTTP1HeadParseResult<Head: Sendable>: Sendable {
    /// The head is not complete; feed the same bytes again with more after them.
    case needMore
    /// A complete head; its `length` bytes are consumed.
    case head(Head)
    /// The bytes are not an acceptable head; close the connection after answering.
    case error(HTTP1ParseError)
}
