/// What decides while Redis cannot (`SIDECAR_REDIS_FAILURE_MODE`).
public enum RateLimitFailureMode: Sendable {
    /// An in-process share of each limit (the limit divided by the number of replicas).
    case local(InProcessRateLimiter)
    /// Allow every request.
    case open
    /// Answer 503.
    case closed
}
