import Limiter
import NIOCore
import NIOHTTP1

/// The exchange a ``ProxyHandler`` is serving: the request as forwarded and what it learned since.
struct ProxiedExchange {
    var forwarded: ForwardingPolicy.ForwardedRequest
    var method: HTTPMethod
    /// The version the client spoke; the response's framing follows it.
    var clientVersion: HTTPVersion
    var start: NIODeadline
    var policy: RateLimitPolicyState?
    /// The upstream's status, once its response head arrived.
    var upstreamStatus: HTTPResponseStatus?
    /// When the request went upstream, and how long its response head took.
    var forwardedAt: NIODeadline?
    var upstreamDuration: TimeAmount?
}
