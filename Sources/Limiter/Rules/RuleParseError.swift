/// Why a rule's text does not follow the grammar, said as what was expected and what was found.
public struct RuleParseError: Error, Sendable, Hashable, CustomStringConvertible {
    /// A human-readable message, such as `expected a positive whole number after "burst", got "x"`.
    public var message: String

    public init(_ message: String) {
        self.message = message
    }

    public var description: String { message }
}
