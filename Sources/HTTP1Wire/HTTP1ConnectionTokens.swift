/// The tokens a Connection field lists.
public struct HTTP1ConnectionTokens: OptionSet, Hashable, Sendable {
    /// The set's bits.
    public let rawValue: UInt8
    /// A set from its raw bits.
    public init(rawValue: UInt8) { self.rawValue = rawValue }
    /// `close`: no further message on this connection.
    public static let close = HTTP1ConnectionTokens(rawValue: 1)
    /// `keep-alive`: persistence asked for (HTTP/1.0).
    public static let keepAlive = HTTP1ConnectionTokens(rawValue: 2)
    /// `upgrade`: the Upgrade field is meant for this hop.
    public static let upgrade = HTTP1ConnectionTokens(rawValue: 4)
    /// Some other token: a field name the proxy must remove before forwarding.
    public static let other = HTTP1ConnectionTokens(rawValue: 8)
}
