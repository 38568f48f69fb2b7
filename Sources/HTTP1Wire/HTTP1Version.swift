/// The HTTP/1 versions accepted.
public enum HTTP1Version: Equatable, Hashable, Sendable {
    /// `HTTP/1.0`.
    case http1_0
    /// `HTTP/1.1`.
    case http1_1
}
