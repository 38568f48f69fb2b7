/// The arithmetic constants of one bucket, in integer microseconds.
///
/// A rule admitting `count` requests per `period` with a given `burst` spends one emission
/// interval `T = period / count` per token. The burst tolerance `τ = T * (burst - 1)` is how far
/// the theoretical arrival time (TAT) may run ahead of now before a request is refused, so a full
/// bucket holds `burst` tokens (`τ + T`).
///
/// Rounding: `T` is rounded **up** to a whole microsecond and is at least 1, so the enforced rate
/// is never above the configured one; the error is below one microsecond per token.
public struct GCRAParameters: Sendable, Hashable {
    /// Microseconds one token takes to come back (`T`).
    public var emissionIntervalMicroseconds: Int64
    /// Microseconds the TAT may run ahead of now beyond one emission interval (`τ`).
    public var burstToleranceMicroseconds: Int64

    /// Creates parameters from already computed `T` and `τ`.
    public init(emissionIntervalMicroseconds: Int64, burstToleranceMicroseconds: Int64) {
        precondition(emissionIntervalMicroseconds > 0, "the emission interval must be positive")
        precondition(burstToleranceMicroseconds >= 0, "the burst tolerance must not be negative")
        self.emissionIntervalMicroseconds = emissionIntervalMicroseconds
        self.burstToleranceMicroseconds = burstToleranceMicroseconds
    }

    /// Creates parameters for `count` tokens per `periodMicroseconds` holding at most `burst`.
    ///
    /// `divisor` is the number of replicas sharing the limit (the `local` failure mode): the rate
    /// and the burst are divided by it, each kept at one token per period at least. The burst is
    /// rounded down, the emission interval up.
    public init(count: Int, periodMicroseconds: Int64, burst: Int, divisor: Int = 1) {
        precondition(count > 0 && periodMicroseconds > 0 && burst > 0 && divisor > 0)
        let divisor = Int64(divisor)
        let count = Int64(count)
        // T = ceil(period * divisor / count), at most one token per period.
        let (scaled, overflow) = periodMicroseconds.multipliedReportingOverflow(by: divisor)
        let interval: Int64
        if overflow {
            interval = periodMicroseconds
        } else {
            interval = min(periodMicroseconds, max(1, (scaled + count - 1) / count))
        }
        let dividedBurst = max(1, Int64(burst) / divisor)
        let (tolerance, toleranceOverflow) = interval.multipliedReportingOverflow(by: dividedBurst - 1)
        self.init(
            emissionIntervalMicroseconds: interval,
            burstToleranceMicroseconds: toleranceOverflow ? Int64.max / 2 : tolerance
        )
    }

    /// Creates the parameters of `rule`, shared by `divisor` replicas.
    public init(rule: RateLimitRule, divisor: Int = 1) {
        self.init(count: rule.count, periodMicroseconds: rule.periodMicroseconds, burst: rule.burst, divisor: divisor)
    }

    /// Tokens a full bucket holds: `(τ + T) / T`.
    public var capacity: Int {
        Int((self.burstToleranceMicroseconds + self.emissionIntervalMicroseconds) / self.emissionIntervalMicroseconds)
    }
}
