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
