/// One rate-limit rule, parsed from a `SIDECAR_LIMIT_<NAME>` variable.
///
/// Grammar: `<count>/<period> [burst <n>] [by <key>] [on <METHODS> <path>] [cost <n>] [shadow]`.
public struct RateLimitRule: Sendable, Hashable {
    /// The rule's name: `<NAME>` lower-cased.
    public var name: String
    /// Requests admitted per `period` at the steady rate.
    public var count: Int
    /// The window `count` refers to, in whole microseconds.
    public var periodMicroseconds: Int64
    /// Largest number of requests admitted at once; defaults to `count`.
    public var burst: Int
    /// Which bucket a request counts against; `nil` is one bucket for the whole fleet.
    public var key: RateLimitKey?
    /// Methods the rule applies to, upper-cased; `nil` for any method.
    public var methods: Set<String>?
    /// Path the rule applies to; `nil` for every path.
    public var path: PathPattern?
    /// Tokens one request spends.
    public var cost: Int
    /// Decided and counted, never enforced.
    public var shadow: Bool

    public init(
        name: String,
        count: Int,
        periodMicroseconds: Int64,
        burst: Int? = nil,
        key: RateLimitKey? = nil,
        methods: Set<String>? = nil,
        path: PathPattern? = nil,
        cost: Int = 1,
        shadow: Bool = false
    ) {
        self.name = name
        self.count = count
        self.periodMicroseconds = periodMicroseconds
        self.burst = burst ?? count
        self.key = key
        self.methods = methods
        self.path = path
        self.cost = cost
        self.shadow = shadow
    }
}
