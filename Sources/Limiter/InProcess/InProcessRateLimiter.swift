import Metrics
import NIOCore
import Synchronization

/// Limits in memory, with the same GCRA arithmetic as the Redis script.
///
/// One instance serves every event loop of the process. Buckets live in shards, each behind its
/// own lock, chosen by a hash of the bucket; a request locks the shards of its buckets in
/// ascending order, so its rules are decided atomically and all-or-nothing: when one enforced
/// rule denies, no rule spends.
///
/// Memory is bounded: expired buckets (TAT at or before now) are swept out, and each shard keeps
/// at most its share of ``Configuration/maximumKeys``. When a shard is full of live buckets, a new
/// bucket is decided as if full (so its request is allowed unless the cost exceeds the burst),
/// not remembered, and counted in ``untrackedCount`` and the `sidecar_ratelimit_untracked_total`
/// counter; known buckets keep being enforced.
public final class InProcessRateLimiter: RateLimiter {
    /// Sizing of the limiter.
    public struct Configuration: Sendable {
        /// Buckets kept at most, over all shards.
        public var maximumKeys: Int
        /// Number of independently locked shards.
        public var shardCount: Int
        /// The `source` label of recorded decisions (`local` for the embedded limiter and the
        /// `local` failure mode).
        public var metricsSource: RateLimitDecisionSource

        public init(maximumKeys: Int = 1_000_000, shardCount: Int = 16, metricsSource: RateLimitDecisionSource = .local)
        {
            precondition(maximumKeys > 0 && shardCount > 0)
            self.maximumKeys = maximumKeys
            self.shardCount = shardCount
            self.metricsSource = metricsSource
        }
    }

    /// The rules and how requests map onto them.
    public let matcher: RuleMatcher
    private let parameters: [GCRAParameters]
    private let quotas: [Int]
    private let shards: [InProcessBucketShard]
    private let clock: @Sendable () -> Int64
    private let untracked = Atomic<Int>(0)
    private let decisions: DecisionCounters
    private let source: RateLimitDecisionSource
    private let untrackedCounter: Counter

    /// Creates a limiter for `rules`, each divided among `divisor` replicas (at least one token
    /// per period and one of burst each).
    ///
    /// - Parameter clock: microseconds on a monotonic clock; by default the uptime clock.
    public init(
        rules: [RateLimitRule],
        divisor: Int = 1,
        configuration: Configuration = Configuration(),
        clock: @escaping @Sendable () -> Int64 = { Int64(NIODeadline.now().uptimeNanoseconds / 1000) }
    ) {
        let divisor = max(1, divisor)
        self.matcher = RuleMatcher(rules: rules)
        self.parameters = rules.map { GCRAParameters(rule: $0, divisor: divisor) }
        self.quotas = rules.map { max(1, $0.count / divisor) }
        let perShard = max(1, (configuration.maximumKeys + configuration.shardCount - 1) / configuration.shardCount)
        self.shards = (0..<configuration.shardCount).map { _ in InProcessBucketShard(capacity: perShard) }
        self.clock = clock
        self.source = configuration.metricsSource
        self.decisions = DecisionCounters(rules: rules, sources: [configuration.metricsSource])
        self.untrackedCounter = Counter(
            label: "sidecar_ratelimit_untracked_total",
            dimensions: [("source", configuration.metricsSource.label)]
        )
    }

    /// Decisions made for buckets that were not remembered because the key cap was reached.
    public var untrackedCount: Int {
        self.untracked.load(ordering: .relaxed)
    }

    /// Buckets currently held, expired ones not yet swept included.
    public var bucketCount: Int {
        self.shards.reduce(0) { total, shard in total + shard.withLock { shard.store.tats.count } }
    }

    public func check<Request: RateLimitRequest>(_ request: Request, on eventLoop: any EventLoop) -> RateLimitCheck {
        self.decide(request).map { .decided($0) } ?? .unlimited
    }

    /// Decides `request` now; `nil` when no rule applies.
    public func decide<Request: RateLimitRequest>(_ request: Request) -> RateLimitDecision? {
        self.decide(matches: self.matcher.matches(request))
    }

    /// Decides already matched rules (indices into ``matcher``'s rules); `nil` when there are none.
    public func decide(matches: [RuleMatch]) -> RateLimitDecision? {
        if matches.isEmpty { return nil }
        let ids = matches.map { InProcessBucketID(ruleIndex: $0.ruleIndex, clientKey: $0.clientKey) }
        let shardIndices = ids.map(self.shardIndex(of:))
        let lockOrder = Array(Set(shardIndices)).sorted()
        let now = self.clock()
        let rules = self.matcher.rules

        var untrackedWrites = 0
        let outcomes: [GCRABucketOutcome] = self.withShardsLocked(lockOrder[...]) {
            let outcomes = zip(matches, zip(ids, shardIndices)).map { match, bucket in
                self.parameters[match.ruleIndex].evaluate(
                    tat: self.shards[bucket.1].store.tat(of: bucket.0, now: now),
                    cost: rules[match.ruleIndex].cost,
                    now: now
                )
            }
            let denied = zip(matches, outcomes).contains { match, outcome in
                !outcome.allowed && !rules[match.ruleIndex].shadow
            }
            if !denied {
                for (position, outcome) in outcomes.enumerated() where outcome.allowed {
                    if !self.shards[shardIndices[position]].store.store(outcome.newTAT, for: ids[position], now: now) {
                        untrackedWrites += 1
                    }
                }
            }
            return outcomes
        }
        if untrackedWrites > 0 {
            self.untracked.add(untrackedWrites, ordering: .relaxed)
            self.untrackedCounter.increment(by: untrackedWrites)
        }
        return self.decision(for: matches, outcomes: outcomes)
    }

    private func decision(for matches: [RuleMatch], outcomes: [GCRABucketOutcome]) -> RateLimitDecision {
        let rules = self.matcher.rules
        var denying: (position: Int, retryAfter: Int64)?
        var fewest: (position: Int, remaining: Int)?
        for (position, (match, outcome)) in zip(matches, outcomes).enumerated() {
            let rule = rules[match.ruleIndex]
            let decision: DecisionCounters.Decision =
                outcome.allowed ? .allowed : rule.shadow ? .shadowLimited : .limited
            self.decisions.record(rule: match.ruleIndex, decision, self.source)
            if rule.shadow { continue }
            if !outcome.allowed, denying.map({ outcome.retryAfterMicroseconds > $0.retryAfter }) ?? true {
                denying = (position, outcome.retryAfterMicroseconds)
            }
            if fewest.map({ outcome.remaining < $0.remaining }) ?? true {
                fewest = (position, outcome.remaining)
            }
        }
        if let denying {
            return RateLimitDecision(
                verdict: .limited,
                policy: self.policy(matches[denying.position], outcomes[denying.position])
            )
        }
        return RateLimitDecision(
            verdict: .allowed,
            policy: fewest.map { self.policy(matches[$0.position], outcomes[$0.position]) }
        )
    }

    private func policy(_ match: RuleMatch, _ outcome: GCRABucketOutcome) -> RateLimitPolicyState {
        let rule = self.matcher.rules[match.ruleIndex]
        return RateLimitPolicyState(
            rule: rule.name,
            quota: self.quotas[match.ruleIndex],
            windowSeconds: max(1, (rule.periodMicroseconds + 999_999) / 1_000_000),
            remaining: outcome.remaining,
            resetMicroseconds: outcome.resetMicroseconds,
            retryAfterMicroseconds: outcome.retryAfterMicroseconds
        )
    }

    private func shardIndex(of id: InProcessBucketID) -> Int {
        let mixed = UInt(bitPattern: id.clientKeyDigest) &+ UInt(bitPattern: id.ruleIndex) &* 0x9E37_79B9_7F4A_7C15
        return Int((mixed ^ (mixed >> 29)) % UInt(self.shards.count))
    }

    private func withShardsLocked<Result>(_ order: ArraySlice<Int>, _ body: () -> Result) -> Result {
        guard let first = order.first else { return body() }
        return self.shards[first].withLock { self.withShardsLocked(order.dropFirst(), body) }
    }
}
