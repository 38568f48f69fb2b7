/// One RESP2 reply from Redis.
///
/// hiredis 0.14 reports a null bulk string and a null array alike; both decode as
/// `.bulkString(nil)`.
public enum RESPValue: Sendable, Hashable {
    /// A status reply such as `OK`.
    case simpleString(String)
    /// An error reply, such as `NOSCRIPT No matching script.`.
    case error(String)
    /// An integer reply.
    case integer(Int64)
    /// A bulk string; `nil` is the null reply.
    case bulkString([UInt8]?)
    /// An array; `nil` is the null array.
    case array([RESPValue]?)
}

extension RESPValue: CustomStringConvertible {
    public var description: String {
        switch self {
        case .simpleString(let text): return "+\(text)"
        case .error(let text): return "-\(text)"
        case .integer(let value): return ":\(value)"
        case .bulkString(nil): return "(nil)"
        case .bulkString(let bytes?): return "$\"\(String(decoding: bytes.prefix(64), as: UTF8.self))\""
        case .array(nil): return "(nil array)"
        case .array(let values?): return "[\(values.map(\.description).joined(separator: ", "))]"
        }
    }
}
