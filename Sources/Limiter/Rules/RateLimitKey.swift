/// The `by` clause of a rule: alternatives separated by `|`, each joining parts with `+`.
///
/// `+` binds tighter than `|`: `jwt:sub|ip+host` is `jwt:sub` or else `ip` joined with `host`.
/// An alternative is present when all its parts are; the first present alternative is the key.
public struct RateLimitKey: Sendable, Hashable {
    /// Alternatives in order of preference; each is a non-empty list of parts joined with `+`.
    public var alternatives: [[Part]]

    public init(alternatives: [[Part]]) {
        self.alternatives = alternatives
    }

    /// One source of a key value.
    public enum Part: Sendable, Hashable {
        /// The client's address, after walking trusted `X-Forwarded-For` entries.
        case ip
        /// A request header; the name is stored lower-cased.
        case header(String)
        /// A claim of a verified bearer JWT.
        case jwt(String)
        /// The `Host` (or `:authority`) of the request, lower-cased, without port.
        case host
        /// The subject of the client certificate verified by mTLS.
        case tlsSubject
    }
}
