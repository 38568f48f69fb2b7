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
        precondition(
            burstToleranceMicroseconds <= RuleValueBounds.maximumBurstWindowMicroseconds - emissionIntervalMicroseconds,
            "the burst window must be within RuleValueBounds.maximumBurstWindowMicroseconds"
        )
        self.emissionIntervalMicroseconds = emissionIntervalMicroseconds
        self.burstToleranceMicroseconds = burstToleranceMicroseconds
    }

    /// Creates parameters for `count` tokens per `periodMicroseconds` holding at most `burst`.
    ///
    /// `divisor` is the number of replicas sharing the limit (the `local` failure mode): the rate
    /// and the burst are divided by it. The burst is rounded down but kept at `cost` at least, so
    /// that a request of the rule can still pass; the emission interval is rounded up but kept at
    /// one token per period at least. A share whose burst window would exceed
    /// ``RuleValueBounds/maximumBurstWindowMicroseconds`` (a rule near the bounds, divided) gets a
    /// shorter interval instead, so the arithmetic stays within the proven bounds.
    public init(count: Int, periodMicroseconds: Int64, burst: Int, divisor: Int = 1, cost: Int = 1) {
        precondition(count > 0 && periodMicroseconds > 0 && burst > 0 && divisor > 0 && cost > 0)
        let divisor = Int64(divisor)
        let count = Int64(count)
        // T = ceil(period * divisor / count), at most one token per period.
        let (scaled, overflow) = periodMicroseconds.multipliedReportingOverflow(by: divisor)
        var interval: Int64
        if overflow {
            interval = periodMicroseconds
        } else {
            interval = min(periodMicroseconds, max(1, (scaled + count - 1) / count))
        }
        let largestWindow = RuleValueBounds.maximumBurstWindowMicroseconds
        let dividedBurst = min(largestWindow, max(Int64(cost), max(1, Int64(burst) / divisor)))
        let (window, windowOverflow) = interval.multipliedReportingOverflow(by: dividedBurst)
        if windowOverflow || window > largestWindow {
            interval = max(1, largestWindow / dividedBurst)
        }
        self.init(
            emissionIntervalMicroseconds: interval,
            burstToleranceMicroseconds: interval * (dividedBurst - 1)
        )
    }

    /// Creates the parameters of `rule`, shared by `divisor` replicas (see ``init(count:periodMicroseconds:burst:divisor:cost:)``).
    public init(rule: RateLimitRule, divisor: Int = 1) {
        self.init(
            count: rule.count,
            periodMicroseconds: rule.periodMicroseconds,
            burst: rule.burst,
            divisor: divisor,
            cost: rule.cost
        )
    }

    /// Tokens a full bucket holds: `(τ + T) / T`.
    public var capacity: Int {
        Int((self.burstToleranceMicroseconds + self.emissionIntervalMicroseconds) / self.emissionIntervalMicroseconds)
    }
}
