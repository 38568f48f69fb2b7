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
/// Shadow rules: a shadow rule is decided on its own bucket exactly like an enforced one, but
/// never denies. It spends only when the request is forwarded and its own bucket has room, and
/// counts `allowed`; when its bucket would deny, it spends nothing and counts `shadow_limited`.
/// A request denied by an enforced rule spends nothing anywhere, shadow buckets included, and
/// counts once: `limited` under the rule that denied it (the longest wait). ``RedisRateLimiter``,
/// its deny cache and ``GCRAScript`` follow the same rule.
///
/// Memory is bounded: expired buckets (TAT at or before now) are swept out, and each shard keeps
/// at most its share of ``Configuration/maximumKeys``. When a shard is full of live buckets, a new
/// key is decided on its rule's one overflow bucket, shared by every key that finds no room, so
/// keys rotated to escape a limit get the rule's rate in aggregate, never more; such decisions are
/// counted in ``untrackedCount`` and `sidecar_ratelimit_untracked_total`. Known buckets keep
/// being enforced, and new keys get buckets of their own again once expired ones are swept out.
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
        /// Where the limiter's metrics go; the global `MetricsSystem` factory by default.
        public var metricsFactory: any MetricsFactory

        public init(
            maximumKeys: Int = 1_000_000,
            shardCount: Int = 16,
            metricsSource: RateLimitDecisionSource = .local,
            metricsFactory: any MetricsFactory = MetricsSystem.factory
        ) {
            precondition(maximumKeys > 0 && shardCount > 0)
            self.maximumKeys = maximumKeys
            self.shardCount = shardCount
            self.metricsSource = metricsSource
            self.metricsFactory = metricsFactory
        }
    }

    /// The rules and how requests map onto them.
    public let matcher: RuleMatcher
    private let parameters: [GCRAParameters]
    private let quotas: [Int]
    private let shards: [InProcessBucketShard]
    private let clock: @Sendable () -> Int64
    private let untracked = Atomic<Int>(0)
    /// The TAT of each rule's overflow bucket, by rule index. Locked after any shard lock, never before.
    private let overflow: Mutex<[Int64?]>
    private let decisions: DecisionCounters
    private let source: RateLimitDecisionSource
    private let untrackedCounter: Counter

    /// Creates a limiter for `rules`, each divided among `divisor` replicas (at least one token
    /// per period and the rule's cost of burst each).
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
        self.overflow = Mutex(Array(repeating: nil, count: rules.count))
        self.decisions = DecisionCounters(
            rules: rules,
            sources: [configuration.metricsSource],
            factory: configuration.metricsFactory
        )
        self.untrackedCounter = Counter(
            label: "sidecar_ratelimit_untracked_total",
            dimensions: [("source", configuration.metricsSource.label)],
            factory: configuration.metricsFactory
        )
    }

    /// Decisions made on a rule's overflow bucket because the key cap was reached.
    public var untrackedCount: Int {
        self.untracked.load(ordering: .relaxed)
    }

    /// Buckets currently held, expired ones not yet swept included.
    public var bucketCount: Int {
        self.shards.reduce(0) { total, shard in total + shard.withLock { shard.store.tats.count } }
    }

    public func check<Request: RateLimitRequest>(
        _ request: Request,
        on eventLoop: any EventLoop,
        receiver: any RateLimitDecisionReceiver
    ) -> RateLimitCheck {
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
        // Each shard once, in ascending order; one match (the common case) needs no copy.
        var lockOrder = shardIndices
        if lockOrder.count > 1 {
            lockOrder.sort()
            var kept = 1
            for index in 1..<lockOrder.count where lockOrder[index] != lockOrder[kept - 1] {
                lockOrder[kept] = lockOrder[index]
                kept += 1
            }
            lockOrder.removeLast(lockOrder.count - kept)
        }
        let now = self.clock()

        var overflowed = 0
        let outcomes: [GCRABucketOutcome] = self.withShardsLocked(lockOrder[...]) {
            // Each match is decided on its own bucket, or on its rule's overflow bucket when its shard is full.
            var tracked: [Bool] = []
            tracked.reserveCapacity(matches.count)
            for (id, shard) in zip(ids, shardIndices) {
                tracked.append(self.shards[shard].store.hasRoom(for: id, now: now))
            }
            overflowed = tracked.count { !$0 }
            if overflowed == 0 {
                var unused: [Int64?] = []
                return self.decideAndSpend(
                    matches,
                    ids: ids,
                    shards: shardIndices,
                    tracked: tracked,
                    overflow: &unused,
                    now
                )
            }
            return self.overflow.withLock { overflow in
                self.decideAndSpend(matches, ids: ids, shards: shardIndices, tracked: tracked, overflow: &overflow, now)
            }
        }
        if overflowed > 0 {
            self.untracked.add(overflowed, ordering: .relaxed)
            self.untrackedCounter.increment(by: overflowed)
        }
        return self.decision(for: matches, outcomes: outcomes)
    }

    /// Evaluates every match and, unless an enforced rule denies, spends each bucket that has room;
    /// called with the shards of `ids` locked, and `overflow` (the overflow TATs, read only for
    /// untracked matches) locked when any match is untracked.
    private func decideAndSpend(
        _ matches: [RuleMatch],
        ids: [InProcessBucketID],
        shards: [Int],
        tracked: [Bool],
        overflow: inout [Int64?],
        _ now: Int64
    ) -> [GCRABucketOutcome] {
        let rules = self.matcher.rules
        var outcomes: [GCRABucketOutcome] = []
        outcomes.reserveCapacity(matches.count)
        for (position, match) in matches.enumerated() {
            let tat =
                tracked[position]
                ? self.shards[shards[position]].store.tat(of: ids[position], now: now)
                : overflow[match.ruleIndex]
            outcomes.append(
                self.parameters[match.ruleIndex].evaluate(tat: tat, cost: rules[match.ruleIndex].cost, now: now)
            )
        }
        let denied = zip(matches, outcomes).contains { match, outcome in
            !outcome.allowed && !rules[match.ruleIndex].shadow
        }
        if denied { return outcomes }
        for (position, outcome) in outcomes.enumerated() where outcome.allowed {
            if tracked[position] {
                self.shards[shards[position]].store.store(outcome.newTAT, for: ids[position], now: now)
            } else {
                overflow[matches[position].ruleIndex] = outcome.newTAT
            }
        }
        return outcomes
    }

    /// The decision for the evaluated `matches`, recorded in the metrics (see the type's shadow rule).
    private func decision(for matches: [RuleMatch], outcomes: [GCRABucketOutcome]) -> RateLimitDecision {
        let rules = self.matcher.rules
        var denying: Int?
        var fewest: Int?
        for (position, (match, outcome)) in zip(matches, outcomes).enumerated() where !rules[match.ruleIndex].shadow {
            if !outcome.allowed,
                denying.map({ outcome.retryAfterMicroseconds > outcomes[$0].retryAfterMicroseconds }) ?? true
            {
                denying = position
            }
            if fewest.map({ outcome.remaining < outcomes[$0].remaining }) ?? true {
                fewest = position
            }
        }
        if let denying {
            self.decisions.record(rule: matches[denying].ruleIndex, .limited, self.source)
            return RateLimitDecision(verdict: .limited, policy: self.policy(matches[denying], outcomes[denying]))
        }
        for (match, outcome) in zip(matches, outcomes) {
            let decision: DecisionCounters.Decision =
                outcome.allowed ? .allowed : .shadowLimited
            self.decisions.record(rule: match.ruleIndex, decision, self.source)
        }
        return RateLimitDecision(
            verdict: .allowed,
            policy: fewest.map { self.policy(matches[$0], outcomes[$0]) }
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
