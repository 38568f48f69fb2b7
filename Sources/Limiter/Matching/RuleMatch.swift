/// A rule that matches a request, and the bucket it counts against.
public struct RuleMatch: Sendable, Hashable {
    /// The rule's position in the matcher's ``RuleMatcher/rules``.
    public var ruleIndex: Int
    /// The client key string (see ``RuleMatcher/clientKey(_:of:)``); `nil` for a rule without
    /// `by`, whose single bucket the whole fleet shares.
    public var clientKey: String?

    public init(ruleIndex: Int, clientKey: String?) {
        self.ruleIndex = ruleIndex
        self.clientKey = clientKey
    }
}
