/// A batch of checks against distinct buckets: the unit the Lua script decides atomically.
public struct GCRABatch<Key: Hashable & Sendable>: Sendable {
    /// The distinct buckets of the batch and their parameters.
    public var keys: [Key]
    /// Parameters of each bucket, parallel to ``keys``.
    public var parameters: [GCRAParameters]
    /// Checks, applied in order.
    public var checks: [GCRACheck]

    public init(keys: [Key], parameters: [GCRAParameters], checks: [GCRACheck]) {
        precondition(keys.count == parameters.count, "one parameter set per key")
        self.keys = keys
        self.parameters = parameters
        self.checks = checks
    }

    /// Decides the checks in order against `tats` at `now`, writing the TATs of allowed checks.
    ///
    /// The exact semantics of ``GCRAScript``: a TAT at or before `now` is the same as an absent
    /// one (a full bucket; Redis lets such keys expire); a later check sees the TATs earlier
    /// checks wrote; a check denied by any bucket writes nothing. If one bucket appears twice in
    /// a check, each spend is evaluated against the TAT from before the check.
    public func decide(now: Int64, tats: inout [Key: Int64]) -> [GCRACheckResult] {
        var results: [GCRACheckResult] = []
        results.reserveCapacity(self.checks.count)
        var outcomes: [GCRABucketOutcome] = []
        for check in self.checks {
            outcomes.removeAll(keepingCapacity: true)
            var result = GCRACheckResult(
                allowed: true,
                remaining: Int.max,
                retryAfterMicroseconds: 0,
                resetMicroseconds: 0
            )
            var denying = 0
            for (position, spend) in check.spends.enumerated() {
                let key = self.keys[spend.keyIndex]
                let outcome = self.parameters[spend.keyIndex].evaluate(tat: tats[key], cost: spend.cost, now: now)
                outcomes.append(outcome)
                if !outcome.allowed {
                    result.allowed = false
                    if outcome.retryAfterMicroseconds > result.retryAfterMicroseconds {
                        result.retryAfterMicroseconds = outcome.retryAfterMicroseconds
                        denying = position
                    }
                }
            }
            var fewest = 0
            var resets: [Int64] = []
            for (position, (spend, outcome)) in zip(check.spends, outcomes).enumerated() {
                // Denied: every bucket reports its untouched state.
                let reported =
                    result.allowed
                    ? outcome
                    : self.parameters[spend.keyIndex].evaluate(
                        tat: tats[self.keys[spend.keyIndex]],
                        cost: 0,
                        now: now
                    )
                if reported.remaining < result.remaining {
                    result.remaining = reported.remaining
                    fewest = position
                }
                resets.append(reported.resetMicroseconds)
            }
            if check.spends.isEmpty { result.remaining = 0 }
            result.limitingSpend = result.allowed ? fewest : denying
            result.resetMicroseconds = resets.isEmpty ? 0 : resets[result.limitingSpend]
            if result.allowed {
                for (spend, outcome) in zip(check.spends, outcomes) {
                    tats[self.keys[spend.keyIndex]] = outcome.newTAT
                }
            }
            results.append(result)
        }
        return results
    }
}
