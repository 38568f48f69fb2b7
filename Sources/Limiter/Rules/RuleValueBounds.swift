/// The largest rule values both limiters decide exactly; ``RuleParser`` refuses anything larger.
///
/// The derivation, all times in integer microseconds:
/// - The Redis script computes with Lua numbers (IEEE doubles), exact for integers below
///   2^53 ≈ 9.007e15. Swift computes in `Int64` (below 9.2e18), so Lua is the tighter bound.
/// - `now` from Redis `TIME` is about 1.8e15 (the year 2027) and grows by 3.2e13 a year.
/// - A bucket holds `burst` tokens of `T = ⌈period / count⌉` each: its burst window is
///   `W = τ + T = burst × T`. An allowed spend writes `newTAT ≤ now + W`; a stored TAT beyond
///   `now + W` is treated as damaged and replaced by `now + W` (see ``GCRAScript``).
/// - Rules are refused unless `burst × period / count ≤ 36500 days` (the refill time of an empty
///   bucket, and the longest period). Rounding `T` up adds less than 1 µs per token, so
///   `W < 36500 days + burst µs ≤` ``maximumBurstWindowMicroseconds`` (36500 days + 10^9 µs,
///   3.153601e15 µs).
/// - The script computes relative to now: `(TAT − now) + cost × T ≤ W + cost × T ≤ 2W`, since
///   `cost ≤ burst`; `2W ≤ 6.31e15 < 2^53`. The absolute `now + W` stays below 2^53 until now
///   reaches 5.85e15 µs, the year 2155.
/// - In Swift the same values are far below `Int64.max`; `cost × T` is checked for overflow anyway.
/// - Counts, bursts and costs are at most ``maximumTokens`` (10^9, below 2^31 − 1): token counts
///   (`q`, `r`, `X-RateLimit-*`) fit a 32-bit integer in any client that parses the headers, and
///   no real limit needs more (10^9 per second is far beyond what one proxy forwards).
/// - A count is at most the period in microseconds, so `T ≥ 1`.
public enum RuleValueBounds {
    /// The largest count, burst and cost accepted.
    public static let maximumTokens = 1_000_000_000

    /// The longest period accepted, and the longest refill time (`burst × period / count`): 36500 days.
    public static let maximumPeriodMicroseconds: Int64 = 36_500 * 86_400_000_000

    /// The longest burst window `W = burst × T` of an accepted rule (its refill time plus the
    /// rounding of `T`), which the limiters' arithmetic is proven exact for.
    public static let maximumBurstWindowMicroseconds: Int64 = maximumPeriodMicroseconds + Int64(maximumTokens)

    /// The largest burst whose refill time `burst × period / count` is at most 36500 days, and at
    /// most ``maximumTokens``.
    static func largestBurst(count: Int, periodMicroseconds: Int64) -> Int {
        // 36500 days × count / period, in full width: the quotient is at most 36500 days since count ≤ period.
        let product = maximumPeriodMicroseconds.multipliedFullWidth(by: Int64(count))
        let (quotient, _) = periodMicroseconds.dividingFullWidth(product)
        return Int(min(Int64(maximumTokens), quotient))
    }
}
