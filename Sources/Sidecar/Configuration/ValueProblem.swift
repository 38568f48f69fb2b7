import Limiter
import Logging

/// What a value should have looked like; the text after `VARIABLE="value": `.
struct ValueProblem: Error, Sendable, Hashable {
    var expected: String

    init(_ expected: String) {
        self.expected = expected
    }
}

/// An enumeration chosen by one of its raw values, case-insensitively (`SIDECAR_REDIS_MODE=Cluster`).
protocol ConfigurationChoice: RawRepresentable, CaseIterable where RawValue == String {}

extension ConfigurationChoice {
    init(parsing text: String) throws(ValueProblem) {
        guard let value = Self(rawValue: text.lowercased()) else {
            throw ValueProblem("expected one of \(Self.allCases.map(\.rawValue).joined(separator: ", "))")
        }
        self = value
    }
}

extension Logger.Level: ConfigurationChoice {}
extension EncodedSeparators: ConfigurationChoice {}

extension Int {
    /// A whole number in `range`, digits only.
    init(parsing text: String, in range: ClosedRange<Int>) throws(ValueProblem) {
        guard text.allSatisfy({ $0.isASCII && $0.isNumber }), let value = Int(text), range.contains(value) else {
            if range.upperBound == Int.max {
                throw ValueProblem("expected a whole number of at least \(range.lowerBound)")
            }
            throw ValueProblem("expected a whole number from \(range.lowerBound) to \(range.upperBound)")
        }
        self = value
    }
}

extension Bool {
    /// `on` or `off`, case-insensitively.
    init(parsingOnOff text: String) throws(ValueProblem) {
        switch text.lowercased() {
        case "on": self = true
        case "off": self = false
        default: throw ValueProblem("expected on or off")
        }
    }
}

extension Array {
    /// The entries of a comma-separated list, as split and trimmed by swift-configuration; empty entries skipped.
    ///
    /// Every entry that `parse` refuses is named in one problem: `expected <expectation>; not valid: "a", "b"`.
    init(
        parsingEntries entries: [String],
        expected expectation: String,
        _ parse: (String) -> Element?
    ) throws(ValueProblem) {
        var elements: [Element] = []
        var invalid: [String] = []
        for entry in entries where !entry.isEmpty {
            if let element = parse(entry) { elements.append(element) } else { invalid.append(entry) }
        }
        guard invalid.isEmpty else {
            throw ValueProblem(
                "expected \(expectation); not valid: " + invalid.map { "\"\($0)\"" }.joined(separator: ", ")
            )
        }
        self = elements
    }
}
