/// Field names the proxy acts on, recognised once while parsing (case-insensitively).
public enum HTTP1FieldKind: UInt8, Equatable, Hashable, Sendable {
    /// Any other name.
    case other
    /// `Host`.
    case host
    /// `Content-Length`.
    case contentLength
    /// `Transfer-Encoding`.
    case transferEncoding
    /// `Connection`.
    case connection
    /// `Keep-Alive`, hop-by-hop.
    case keepAlive
    /// `Proxy-Connection`, hop-by-hop by convention.
    case proxyConnection
    /// `TE`, hop-by-hop.
    case te
    /// `Trailer`.
    case trailer
    /// `Upgrade`.
    case upgrade
    /// `Expect`.
    case expect
    /// `X-Forwarded-For`.
    case xForwardedFor
    /// `X-Forwarded-Proto`.
    case xForwardedProto
    /// `X-Forwarded-Host`.
    case xForwardedHost
    /// `X-Request-ID`.
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
