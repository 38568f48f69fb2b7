import NIOCore

/// Decides whether a request may proceed, against every rule that matches it.
///
/// The proxy calls ``check(_:on:receiver:)`` on the request's event loop before forwarding. A
/// limiter answers synchronously when it can (no rule matched, an in-process decision, a cached
/// denial); otherwise it calls the receiver back on that loop, with no future in between.
public protocol RateLimiter: Sendable {
    /// Decides `request`; a ``RateLimitCheck/pending`` decision goes to `receiver` on `eventLoop`.
    func check<Request: RateLimitRequest>(
        _ request: Request,
        on eventLoop: any EventLoop,
        receiver: any RateLimitDecisionReceiver
    ) -> RateLimitCheck
}

/// Takes a decision the limiter could not make at once; called on the check's event loop, once.
public protocol RateLimitDecisionReceiver: AnyObject {
    /// The pending decision is made.
    func rateLimitDecided(_ decision: RateLimitDecision)
}

/// What the proxy knows of a request that a rule can match or take a key from.
public protocol RateLimitRequest {
    /// The method, upper-case as sent.
    var method: String { get }
    /// The path without its query.
    var path: Substring { get }
    /// The client's address after the trusted-proxy walk; `nil` when unknown (a Unix-socket peer).
    var clientAddress: ClientAddress? { get }
    /// The request's host, lower-cased and without port.
    var host: String? { get }
    /// The first value of a header, by case-insensitive name.
    func firstHeader(named name: String) -> String?
    /// A claim of the request's verified bearer token; `nil` when absent or unverified.
    func jwtClaim(named name: String) -> String?
    /// The subject of the client certificate verified by mTLS; `nil` without one.
    var tlsSubject: String? { get }
}

extension RateLimitRequest {
    /// No verified token.
    public func jwtClaim(named name: String) -> String? { nil }
    /// No client certificate.
    public var tlsSubject: String? { nil }
}

/// The answer of ``RateLimiter/check(_:on:receiver:)``.
public enum RateLimitCheck: Sendable {
    /// No rule matched: forward without rate-limit headers.
    case unlimited
    /// Decided without waiting.
    case decided(RateLimitDecision)
    /// Not decided yet: the receiver given to the check gets the decision.
    case pending
}

/// The outcome for one request across all the rules that matched it.
public struct RateLimitDecision: Sendable, Hashable {
    /// What the proxy does with the request.
    public enum Verdict: Sendable, Hashable {
        /// Forward it.
        case allowed
        /// Answer 429.
        case limited
        /// The limiter could not decide and its failure mode is `closed`: answer 503.
        case unavailable
    }

    /// What the proxy does with the request.
    public var verdict: Verdict
    /// The state of the matching rule with the fewest tokens left, for response headers.
    public var policy: RateLimitPolicyState?

    public init(verdict: Verdict, policy: RateLimitPolicyState?) {
        self.verdict = verdict
        self.policy = policy
    }
}

/// One rule's bucket as a response reports it.
public struct RateLimitPolicyState: Sendable, Hashable {
    /// The rule's name.
    public var rule: String
    /// The rule's count per period (`q`).
    public var quota: Int
    /// The rule's period in whole seconds (`w`).
    public var windowSeconds: Int64
    /// Tokens left after this request (`r`).
    public var remaining: Int
    /// Microseconds until the bucket is full again (`t`, rounded up to seconds).
    public var resetMicroseconds: Int64
    /// Microseconds until a denied request could pass; 0 when allowed.
    public var retryAfterMicroseconds: Int64

    public init(
        rule: String,
        quota: Int,
        windowSeconds: Int64,
        remaining: Int,
        resetMicroseconds: Int64,
        retryAfterMicroseconds: Int64
    ) {
        self.rule = rule
        self.quota = quota
        self.windowSeconds = windowSeconds
        self.remaining = remaining
        self.resetMicroseconds = resetMicroseconds
        self.retryAfterMicroseconds = retryAfterMicroseconds
    }
}

/// A limiter with no rules: every request is ``RateLimitCheck/unlimited``.
public struct AllowAllRateLimiter: RateLimiter {
    public init() {}

    @inlinable
    public func check<Request: RateLimitRequest>(
        _ request: Request,
        on eventLoop: any EventLoop,
        receiver: any RateLimitDecisionReceiver
    ) -> RateLimitCheck {
        .unlimited
    }
}
