/// The `by` clause of a rule: alternatives separated by `|`, each joining parts with `+`.
///
/// `+` binds tighter than `|`: `jwt:sub|ip+host` is `jwt:sub` or else `ip` joined with `host`.
/// An alternative is present when all its parts are; the first present alternative is the key.
/// A request lacking every alternative is counted under its client address, as if the chain
/// ended in `|ip`, unless it ends in `|none` (``unidentified`` is ``Unidentified/notLimited``).
public struct RateLimitKey: Sendable, Hashable {
    /// Alternatives in order of preference; each is a non-empty list of parts joined with `+`.
    public var alternatives: [[Part]]
    /// What a request lacking every alternative is counted under.
    public var unidentified: Unidentified

    /// A key of `alternatives` in order; by default a request lacking all of them counts by client address.
    public init(alternatives: [[Part]], unidentified: Unidentified = .clientAddress) {
        self.alternatives = alternatives
        self.unidentified = unidentified
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

    /// What happens to a request that lacks every alternative.
    public enum Unidentified: Sendable, Hashable {
        /// Counted under its client address, the same key as an `ip` alternative gives (the default:
        /// no limit is skipped by leaving a header or token out); a request whose address is unknown
        /// too shares one bucket with every other such request.
        case clientAddress
        /// Not limited by this rule: the chain ends in `|none`.
        case notLimited
    }
}
