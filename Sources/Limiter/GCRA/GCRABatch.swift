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
    /// one (a full bucket; Redis lets such keys expire); a TAT beyond `now + τ + T` is damaged and
    /// first replaced by `now + τ + T` (an empty bucket); a later check sees the TATs earlier
    /// checks wrote; a check denied by any bucket writes nothing. If one bucket appears twice in
    /// a check, each spend is evaluated against the TAT from before the check. The shadow spends
    /// of an allowed check are then decided one by one, each spending only when it has room.
    public func decide(now: Int64, tats: inout [Key: Int64]) -> [GCRACheckResult] {
        for (key, parameters) in zip(self.keys, self.parameters) {
            let full = now + parameters.burstToleranceMicroseconds + parameters.emissionIntervalMicroseconds
            if let tat = tats[key], tat > full { tats[key] = full }
        }
        var results: [GCRACheckResult] = []
        results.reserveCapacity(self.checks.count)
        var outcomes: [GCRABucketOutcome] = []
        for check in self.checks {
            outcomes.removeAll(keepingCapacity: true)
            var allowed = true
            var denying = 0
            var fewest = 0
            for (position, spend) in check.spends.enumerated() {
                let outcome = self.parameters[spend.keyIndex].evaluate(
                    tat: tats[self.keys[spend.keyIndex]],
                    cost: spend.cost,
                    now: now
                )
                outcomes.append(outcome)
                if !outcome.allowed,
                    allowed || outcome.retryAfterMicroseconds > outcomes[denying].retryAfterMicroseconds
                {
                    allowed = false
                    denying = position
                }
                if outcome.remaining < outcomes[fewest].remaining { fewest = position }
            }
            let limiting = allowed ? fewest : denying
            var result = GCRACheckResult(
                allowed: allowed,
                remaining: outcomes.isEmpty ? 0 : outcomes[limiting].remaining,
                retryAfterMicroseconds: outcomes.isEmpty ? 0 : outcomes[limiting].retryAfterMicroseconds,
                resetMicroseconds: outcomes.isEmpty ? 0 : outcomes[limiting].resetMicroseconds,
                limitingSpend: limiting
            )
            if allowed {
                for (spend, outcome) in zip(check.spends, outcomes) {
                    tats[self.keys[spend.keyIndex]] = outcome.newTAT
                }
                for spend in check.shadowSpends {
                    let key = self.keys[spend.keyIndex]
                    let outcome = self.parameters[spend.keyIndex].evaluate(tat: tats[key], cost: spend.cost, now: now)
                    if outcome.allowed { tats[key] = outcome.newTAT }
                    result.shadowSpent.append(outcome.allowed)
                }
            }
            results.append(result)
        }
        return results
    }
}
