import Logging
import Metrics
import NIOCore
import PerEventLoop
import Synchronization

/// Limits shared by the whole fleet: every matching rule decided in one atomic step in Redis.
///
/// Each event loop has its own ``RedisBatcher`` and Redis connection: the checks a loop gathers
/// while it handles one round of I/O go to Redis as one `EVALSHA`, so under load many requests
/// share a round trip. Denials are cached until their retry-after, and while Redis fails the
/// ``RateLimitFailureMode`` decides (see ``CircuitBreaker``).
///
/// The deny cache is exact only while Redis keeps its data: a bucket's TAT never decreases, so a
/// denied bucket stays denied until its retry-after. Redis restarting empty or failing over to a
/// replica that had not caught up breaks that; both close the connection, and every cached denial
/// is dropped when a connection is (re-)established. (A `FLUSHALL` on a live connection is not seen.)
///
/// A bucket whose stored value is damaged (not a TAT the script wrote, see ``GCRAScript``) is
/// decided as empty, so its request is limited, and rewritten as such; it is counted in
/// `sidecar_redis_errors_total{kind="damaged_bucket"}` and ``damagedBucketCount``, and the first
/// one is logged.
public final class RedisRateLimiter: RateLimiter {
    /// How to reach Redis and what to do when it cannot answer.
    public struct Configuration: Sendable {
        /// Connection, credentials and database; with ``sentinel``, the master's credentials and
        /// database (its address comes from the sentinels).
        public var redis: RedisConnection.Configuration
        /// The Sentinel set that names the master, if Redis runs under Sentinel.
        public var sentinel: RedisSentinel?
        /// The cluster, if Redis runs as a Redis Cluster (``redis`` is then unused).
        public var cluster: RedisCluster?
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
        /// Where the limiter's metrics go; the global `MetricsSystem` factory by default.
        public var metricsFactory: any MetricsFactory

        public init(
            redis: RedisConnection.Configuration,
            timeout: TimeAmount = .milliseconds(50),
            maximumBatchSize: Int = 256,
            breakerThreshold: Int = 3,
            breakerInitialBackoff: TimeAmount = .milliseconds(250),
            breakerMaximumBackoff: TimeAmount = .seconds(5),
            maximumCachedDenials: Int = 100_000,
            metricsFactory: any MetricsFactory = MetricsSystem.factory,
            sentinel: RedisSentinel? = nil,
            cluster: RedisCluster? = nil
        ) {
            self.redis = redis
            self.sentinel = sentinel
            self.cluster = cluster
            self.timeout = timeout
            self.maximumBatchSize = max(1, maximumBatchSize)
            self.breakerThreshold = breakerThreshold
            self.breakerInitialBackoff = breakerInitialBackoff
            self.breakerMaximumBackoff = breakerMaximumBackoff
            self.maximumCachedDenials = maximumCachedDenials
            self.metricsFactory = metricsFactory
        }
    }

    /// The rules and how requests map onto them.
    public let matcher: RuleMatcher
    let configuration: Configuration
    let parameters: [GCRAParameters]
    let logger: Logger
    let metrics: RedisLimiterMetrics
    private let failureMode: Mutex<RateLimitFailureMode>
    private let damaged = Atomic<Int>(0)
    /// The address the last connection made by any loop reached, to count master changes once.
    private let masterAddress = Mutex<SocketAddress?>(nil)
    /// Cluster masters' `sidecar_redis_up{node}` gauges, and the last failover seen per master.
    private let nodes = Mutex(ClusterNodes())
    private let batchers: PerEventLoop<RedisBatcher>

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
        self.metrics = RedisLimiterMetrics(
            rules: rules,
            perNode: configuration.cluster != nil,
            factory: configuration.metricsFactory
        )
        self.failureMode = Mutex(failureMode)
        self.batchers = PerEventLoop(group: group)
        for loop in batchers.loops {
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

    public func check<Request: RateLimitRequest>(
        _ request: Request,
        on eventLoop: any EventLoop,
        receiver: any RateLimitDecisionReceiver
    ) -> RateLimitCheck {
        let matches = matcher.matches(request)
        if matches.isEmpty { return .unlimited }
        return batcher(on: eventLoop).check(matches, request: request, receiver: receiver)
    }

    /// Follows the sentinels' `+switch-master` announcements until the task is cancelled (at
    /// once returns without Sentinel): on a switch every loop leaves the old master and asks the
    /// sentinels again, without waiting for the old master's connection to fail.
    public func followSentinelAnnouncements() async {
        guard let sentinel = configuration.sentinel, let loop = batchers.loops.first else { return }
        await sentinel.followSwitches(on: loop, logger: logger) { change in
            self.logger.info(
                "the sentinels switched the Redis master",
                metadata: ["master": "\(change.masterName)", "redis": "\(change.host):\(change.port)"]
            )
            for loop in self.batchers.loops {
                loop.execute { self.batcher(on: loop).masterSwitched(to: change.host, port: change.port) }
            }
        }
    }

    /// A loop's connection is ready at `address`: a different address than the last one any loop
    /// reached means the master moved (a Sentinel promotion, a DNS failover), counted once.
    func connected(to address: SocketAddress?) {
        guard let address else { return }
        let moved = masterAddress.withLock { last in
            defer { last = address }
            return last != nil && last != address
        }
        if moved {
            metrics.failovers.increment()
            logger.info("the Redis master moved", metadata: ["redis": "\(address)"])
        }
    }

    /// Records whether this loop reaches cluster master `node` (`sidecar_redis_up{node}`).
    func nodeUp(_ node: String, _ up: Bool) {
        let factory = configuration.metricsFactory
        let gauge = nodes.withLock { nodes in
            if let gauge = nodes.gauges[node] { return gauge }
            let gauge = Gauge(label: "sidecar_redis_up", dimensions: [("node", node)], factory: factory)
            nodes.gauges[node] = gauge
            return gauge
        }
        gauge.record(up ? 1 : 0)
    }

    /// `node` left the cluster's map: its gauge goes.
    func nodeRemoved(_ node: String) {
        nodes.withLock { $0.gauges.removeValue(forKey: node) }?.destroy()
    }

    /// A loop found `from`'s slots served by `to` while it could not reach `from`: a replica was
    /// promoted. Counted once however many loops see it (within ``ClusterNodes/sameFailover``).
    func clusterFailover(from: RedisClusterSlotMap.Node, to: RedisClusterSlotMap.Node) {
        let now = NIODeadline.now()
        let first = nodes.withLock { nodes in
            let key = "\(from)>\(to)"
            if let seen = nodes.failovers[key], now - seen < ClusterNodes.sameFailover { return false }
            nodes.failovers[key] = now
            return true
        }
        guard first else { return }
        metrics.failovers.increment()
        logger.info("a Redis Cluster master failed over", metadata: ["from": "\(from)", "to": "\(to)"])
    }

    struct ClusterNodes {
        var gauges: [String: Gauge] = [:]
        var failovers: [String: NIODeadline] = [:]
        /// Loops that see the same move within this long see one failover.
        static let sameFailover = TimeAmount.seconds(30)
    }

    /// Damaged bucket values Redis found and replaced (see ``GCRAScript``).
    public var damagedBucketCount: Int {
        damaged.load(ordering: .relaxed)
    }

    /// Counts buckets the script found damaged; logs the first one.
    func damagedBuckets(_ keys: [String]) {
        metrics.errors["damaged_bucket"]?.increment(by: keys.count)
        let (_, total) = damaged.add(keys.count, ordering: .relaxed)
        guard total == keys.count else { return }
        logger.warning(
            "a rate-limit bucket in Redis held a value the sidecar never writes; decided as empty and rewritten",
            metadata: [
                "keys": "\(keys)",
                "note": "later ones are counted in sidecar_redis_errors_total{kind=\"damaged_bucket\"}, not logged",
            ]
        )
    }

    /// Closes every loop's Redis connection.
    public func shutdown() async {
        _ = await batchers.gather { $0.close() }
    }

    /// The batcher of `eventLoop`; call on that loop.
    func batcher(on eventLoop: any EventLoop) -> RedisBatcher {
        batchers.value(on: eventLoop) { RedisBatcher(limiter: self, eventLoop: $0) }
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
    let requestDuration: Metrics.Timer
    let batchSize: Recorder
    /// `sidecar_redis_up` without labels; `nil` in cluster mode, where it has one per master.
    let up: Gauge?
    let errors: [String: Counter]
    let failovers: Counter
    /// Cluster redirects followed, by kind.
    let redirects: [String: Counter]

    static let errorKinds = ["timeout", "connection", "reply", "script", "damaged_bucket", "failover", "cluster_down"]

    static let redirectKinds = ["moved", "ask", "tryagain"]

    init(rules: [RateLimitRule], perNode: Bool = false, factory: any MetricsFactory) {
        self.decisions = DecisionCounters(rules: rules, sources: [.redis, .open, .closed, .cache], factory: factory)
        self.requestDuration = Metrics.Timer(label: "sidecar_redis_request_duration_seconds", factory: factory)
        self.batchSize = Recorder(label: "sidecar_redis_batch_size", aggregate: true, factory: factory)
        self.up = perNode ? nil : Gauge(label: "sidecar_redis_up", factory: factory)
        self.redirects = Dictionary(
            uniqueKeysWithValues: Self.redirectKinds.map {
                ($0, Counter(label: "sidecar_redis_redirects_total", dimensions: [("kind", $0)], factory: factory))
            }
        )
        self.failovers = Counter(label: "sidecar_redis_failovers_total", factory: factory)
        self.errors = Dictionary(
            uniqueKeysWithValues: Self.errorKinds.map {
                ($0, Counter(label: "sidecar_redis_errors_total", dimensions: [("kind", $0)], factory: factory))
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
        case .connectionFailed, .connectionClosed, .handshakeFailed, .notMaster, .noMasterFromSentinels:
            kind = "connection"
        case .server(let message) where message.hasPrefix("NOSCRIPT"): kind = "script"
        case let error? where error.isFailover: kind = "failover"
        case let error? where error.isClusterDown: kind = "cluster_down"
        default: kind = "reply"
        }
        errors[kind]?.increment()
    }
}
