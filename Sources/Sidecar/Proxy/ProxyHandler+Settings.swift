import Limiter
import NIOCore

extension ProxyHandler {
    /// What every connection of a listener shares.
    struct Settings: Sendable {
        var forwarding: ForwardingPolicy
        var rateLimitHeaders: RateLimitResponseHeaders
        var maxBodyBytes: Int?
        var headerTimeout: TimeAmount
        var idleTimeout: TimeAmount
        var upstreamTimeout: TimeAmount
        var accessLog: AccessLog?
        /// Verifies bearer tokens when a rule takes a `jwt:` key.
        var jwt: JWTClaimVerifier? = nil
        /// Where requests are counted; `nil` records nothing.
        var metrics: ProxyMetrics? = nil
        /// Whether a rule takes a `tls:subject` key, so the client certificate is read.
        var usesTLSSubject = false
        /// The listener's connections, and whether they close after their exchange (`/drain`).
        var connections = ConnectionRegistry()
    }
}
