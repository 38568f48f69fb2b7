/// What spending `cost` tokens from one bucket at `now` would give.
///
/// Computed by ``GCRAParameters/evaluate(tat:cost:now:)``; nothing is written until the caller
/// decides to keep ``newTAT``.
public struct GCRABucketOutcome: Sendable, Hashable {
    /// Whether the bucket holds `cost` tokens.
    public var allowed: Bool
    /// Tokens left: after spending when allowed, before (untouched) when denied.
    public var remaining: Int
    /// Microseconds until the request could pass; 0 when allowed.
    public var retryAfterMicroseconds: Int64
    /// Microseconds until the bucket is full again, with the request spent when allowed.
    public var resetMicroseconds: Int64
    /// The TAT to store when the request is allowed and kept; the old TAT (or `now`) when denied.
    public var newTAT: Int64

    public init(allowed: Bool, remaining: Int, retryAfterMicroseconds: Int64, resetMicroseconds: Int64, newTAT: Int64) {
        self.allowed = allowed
        self.remaining = remaining
        self.retryAfterMicroseconds = retryAfterMicroseconds
        self.resetMicroseconds = resetMicroseconds
        self.newTAT = newTAT
    }
}

extension GCRAParameters {
    /// Evaluates spending `cost` tokens at `now` from a bucket whose TAT is `tat` (`nil`: full).
    ///
    /// The standard GCRA: `newTAT = max(TAT, now) + cost * T`; allowed iff
    /// `newTAT - now <= τ + T`. Then `remaining = floor((τ + T - (newTAT - now)) / T)` and
    /// `reset = newTAT - now`. When denied, `retryAfter = newTAT - (τ + T) - now`, and
    /// `remaining` and `reset` describe the untouched bucket. A cost above the burst never passes.
    /// A TAT beyond `now + τ + T` (damaged, or written under a longer limit) counts as an empty
    /// bucket, `now + τ + T`. Times are computed relative to `now`, as ``GCRAScript`` does, and
    /// give exactly the same values.
    @inlinable
    public func evaluate(tat: Int64?, cost: Int, now: Int64) -> GCRABucketOutcome {
        let interval = self.emissionIntervalMicroseconds
        let limit = self.burstToleranceMicroseconds + interval
        let current = tat.map { Swift.min(Swift.max($0, now), now + limit) - now } ?? 0
        // A cost this large can never pass; saturated, so that no arithmetic below can overflow.
        let (product, overflow) = Int64(cost).multipliedReportingOverflow(by: interval)
        let spend = overflow ? Int64.max / 4 : Swift.min(product, Int64.max / 4)
        let ahead = current + spend
        if ahead <= limit {
            return GCRABucketOutcome(
                allowed: true,
                remaining: Int((limit - ahead) / interval),
                retryAfterMicroseconds: 0,
                resetMicroseconds: ahead,
                newTAT: now + ahead
            )
        }
        return GCRABucketOutcome(
            allowed: false,
            remaining: Int((limit - current) / interval),
            retryAfterMicroseconds: ahead - limit,
            resetMicroseconds: current,
            newTAT: now + current
        )
    }
}
