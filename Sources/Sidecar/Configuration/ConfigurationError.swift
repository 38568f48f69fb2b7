import Foundation

/// Every problem found in the environment, one line each, sorted by variable name.
struct ConfigurationError: Error, Sendable, Equatable, CustomStringConvertible {
    /// One line each: the variable, the value (redacted where secret) and what is expected.
    var problems: [String]

    var description: String { problems.joined(separator: "\n") }
}

/// One bad value: rendered as `VARIABLE="value": expected ...`.
struct ConfigurationProblem: Sendable, Hashable {
    var variable: String
    /// The value as shown: credentials already redacted.
    var shownValue: String
    var message: String

    init(variable: String, value: String, isSecret: Bool, message: String) {
        self.variable = variable
        self.shownValue = Self.redacted(value, isSecret: isSecret)
        self.message = message
    }

    var line: String {
        let escaped = shownValue.replacingOccurrences(of: "\\", with: "\\\\")
            .replacingOccurrences(of: "\"", with: "\\\"")
            .replacingOccurrences(of: "\n", with: "\\n")
        return "\(variable)=\"\(escaped)\": \(message)"
    }

    /// `value` with the password of a `scheme://user:password@` part replaced by `<redacted>`.
    ///
    /// Without `://` the value is left alone (a path may hold `@`) unless `isSecret`.
    static func redacted(_ value: String, isSecret: Bool) -> String {
        guard let at = value.lastIndex(of: "@") else { return value }
        let scheme = value.range(of: "://")
        guard scheme != nil || isSecret else { return value }
        let start = scheme?.upperBound ?? value.startIndex
        guard start <= at else { return value }
        let userInfo = value[start..<at]
        let shown = userInfo.firstIndex(of: ":").map { userInfo[..<$0] + ":<redacted>" } ?? "<redacted>"
        return value[..<start] + shown + value[at...]
    }
}
