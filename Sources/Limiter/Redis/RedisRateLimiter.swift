import Logging
import Metrics
import NIOCore
import Synchronization

/// Limits shared by the whole fleet: every matching rule decided in one atomic step in Redis.
///
/// Each event loop has its own ``RedisBatcher`` and Redis connection: the checks a loop gathers
/// while it handles one round of I/O go to Redis as one `EVALSHA`, so under load many requests
/// share a round trip. Denials are cached until their retry-after, and while Redis fails the
/// ``RateLimitFailureMode`` decides (see ``CircuitBreaker``).
public final class RedisRateLimiter: RateLimiter {
    /// How to reach Redis and what to do when it cannot answer.
    public struct Configuration: Sendable {
        /// Connection, credentials and database.
        public var redis: RedisConnection.Configuration
        /// Deadline of one batch's round trip.
        public var timeout: TimeAmount
        /// Checks sent in one batch at most.
        public var maximumBatchSize: Int
        /// Consecutive failures that open the circuit breaker.
        public var breakerThreshold: Int
        /// Back-off of the breaker once open, doubled up to ``breakerMaximumBackoff``.
        public var breakerInitialBackoff: TimeAmount
        public var breakerMaximumBackoff: TimeAmount
        /// Denied buckets remembered at most per event loop.
        public var maximumCachedDenials: Int

        public init(
            redis: RedisConnection.Configuration,
            timeout: TimeAmount = .milliseconds(50),
            maximumBatchSize: Int = 256,
            breakerThreshold: Int = 3,
            breakerInitialBackoff: TimeAmount = .milliseconds(250),
            breakerMaximumBackoff: TimeAmount = .seconds(5),
            maximumCachedDenials: Int = 100_000
        ) {
            self.redis = redis
            self.timeout = timeout
            self.maximumBatchSize = max(1, maximumBatchSize)
            self.breakerThreshold = breakerThreshold
            self.breakerInitialBackoff = breakerInitialBackoff
            self.breakerMaximumBackoff = breakerMaximumBackoff
            self.maximumCachedDenials = maximumCachedDenials
        }
    }

    /// The rules and how requests map onto them.
    public let matcher: RuleMatcher
    let configuration: Configuration
    let parameters: [GCRAParameters]
    let logger: Logger
    let metrics: RedisLimiterMetrics
    private let failureMode: Mutex<RateLimitFailureMode>
    private let batchers: [ObjectIdentifier: (loop: any EventLoop, box: NIOLoopBoundBox<RedisBatcher?>)]

    /// Creates the limiter for the loops of `group` and starts connecting each loop to Redis.
    public init(
        rules: [RateLimitRule],
        configuration: Configuration,
        failureMode: RateLimitFailureMode,
        group: any EventLoopGroup,
        logger: Logger
    ) {
        self.matcher = RuleMatcher(rules: rules)
        self.configuration = configuration
        self.parameters = rules.map { GCRAParameters(rule: $0) }
        self.logger = logger
        self.metrics = RedisLimiterMetrics(rules: rules)
        self.failureMode = Mutex(failureMode)
        var batchers: [ObjectIdentifier: (loop: any EventLoop, box: NIOLoopBoundBox<RedisBatcher?>)] = [:]
        for loop in group.makeIterator() {
            batchers[ObjectIdentifier(loop)] = (
                loop, NIOLoopBoundBox.makeEmptyBox(valueType: RedisBatcher.self, eventLoop: loop)
            )
        }
        self.batchers = batchers
        for (loop, _) in batchers.values {
            loop.execute { self.batcher(on: loop).connectIfNeeded() }
        }
    }

    /// The decision while Redis cannot answer.
    public var currentFailureMode: RateLimitFailureMode {
        failureMode.withLock { $0 }
    }

    /// Replaces the failure mode, for example when the number of live replicas changes.
    public func setFailureMode(_ mode: RateLimitFailureMode) {
        failureMode.withLock { $0 = mode }
    }

    public func check<Request: RateLimitRequest>(_ request: Request, on eventLoop: any EventLoop) -> RateLimitCheck {
        let matches = matcher.matches(request)
        if matches.isEmpty { return .unlimited }
        return batcher(on: eventLoop).check(matches, request: request)
    }

    /// Closes every loop's Redis connection.
    public func shutdown() async {
        for (loop, box) in batchers.values {
            try? await loop.submit { box.value?.close() }.get()
        }
    }

    /// The batcher of `eventLoop`; call on that loop.
    func batcher(on eventLoop: any EventLoop) -> RedisBatcher {
        guard let box = batchers[ObjectIdentifier(eventLoop)]?.box else {
            preconditionFailure("\(eventLoop) is not a loop of the group the limiter was made for")
        }
        if let batcher = box.value { return batcher }
        let batcher = RedisBatcher(limiter: self, eventLoop: eventLoop)
        box.value = batcher
        return batcher
    }

    /// The policy a response reports for `match` after `result`.
    func policy(
        _ match: RuleMatch,
        remaining: Int,
        resetMicroseconds: Int64,
        retryAfterMicroseconds: Int64
    )
        -> RateLimitPolicyState
    {
        let rule = matcher.rules[match.ruleIndex]
        return RateLimitPolicyState(
            rule: rule.name,
            quota: rule.count,
            windowSeconds: max(1, (rule.periodMicroseconds + 999_999) / 1_000_000),
            remaining: remaining,
            resetMicroseconds: resetMicroseconds,
            retryAfterMicroseconds: retryAfterMicroseconds
        )
    }
}

/// The metrics the Redis limiter records, with label sets resolved once.
struct RedisLimiterMetrics: Sendable {
    let decisions: DecisionCounters
    let requestDuration = Metrics.Timer(label: "sidecar_redis_request_duration_seconds")
    let batchSize = Recorder(label: "sidecar_redis_batch_size", aggregate: true)
    let up = Gauge(label: "sidecar_redis_up")
    let errors: [String: Counter]

    static let errorKinds = ["timeout", "connection", "reply", "script"]

    init(rules: [RateLimitRule]) {
        self.decisions = DecisionCounters(rules: rules, sources: [.redis, .open, .closed, .cache])
        self.errors = Dictionary(
            uniqueKeysWithValues: Self.errorKinds.map {
                ($0, Counter(label: "sidecar_redis_errors_total", dimensions: [("kind", $0)]))
            }
        )
    }

    func record(rule: Int, decision: DecisionCounters.Decision, source: RateLimitDecisionSource) {
        decisions.record(rule: rule, decision, source)
    }

    func recordError(_ error: any Error) {
        let kind: String
        switch error as? RedisError {
        case .timeout: kind = "timeout"
        case .connectionFailed, .connectionClosed, .handshakeFailed: kind = "connection"
        case .server(let message) where message.hasPrefix("NOSCRIPT"): kind = "script"
        default: kind = "reply"
        }
        errors[kind]?.increment()
    }
}
