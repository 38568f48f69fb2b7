extension Duration {
    static let parsingExpectation = "expected a duration such as 50ms, 10s or 1m"

    /// `250us`, `50ms`, `1.5s`, `1m`, `2h` (also `ns`, `µs`): greater than zero, at most 100 years.
    init(parsing text: String) throws(ValueProblem) {
        let expectation = Self.parsingExpectation
        let quantity = DecimalQuantity(text)
        guard !quantity.number.isEmpty else { throw ValueProblem(expectation) }
        guard !quantity.unit.isEmpty else {
            throw ValueProblem("\(expectation): a unit is required (ns, us, ms, s, m or h)")
        }
        let nanosecondsPerUnit: Int64
        switch quantity.unit.lowercased() {
        case "ns": nanosecondsPerUnit = 1
        case "us", "µs": nanosecondsPerUnit = 1_000
        case "ms": nanosecondsPerUnit = 1_000_000
        case "s": nanosecondsPerUnit = 1_000_000_000
        case "m": nanosecondsPerUnit = 60_000_000_000
        case "h": nanosecondsPerUnit = 3_600_000_000_000
        default:
            throw ValueProblem("\(expectation): unknown unit \"\(quantity.unit)\" (use ns, us, ms, s, m or h)")
        }
        guard let nanoseconds = quantity.scaled(by: nanosecondsPerUnit) else { throw ValueProblem(expectation) }
        guard nanoseconds <= 100 * 365 * 86_400 * 1_000_000_000 else {
            throw ValueProblem("\(expectation): at most 100 years")
        }
        guard nanoseconds > 0 else { throw ValueProblem("\(expectation), greater than zero") }
        self = .nanoseconds(nanoseconds)
    }
}

extension Int {
    /// A number of bytes: `512`, `32KiB`, `1MiB`, `1GiB` (binary), `10KB`, `10MB`, `1GB` (decimal), `512B`.
    init(parsingByteCount text: String, allowZero: Bool) throws(ValueProblem) {
        let expectation = "expected a size such as 32KiB, 1MiB or 4096 (bytes)"
        let quantity = DecimalQuantity(text)
        guard !quantity.number.isEmpty, !quantity.number.contains(".") else { throw ValueProblem(expectation) }
        let multiplier: Int64
        switch quantity.unit.lowercased() {
        case "", "b": multiplier = 1
        case "kib": multiplier = 1 << 10
        case "mib": multiplier = 1 << 20
        case "gib": multiplier = 1 << 30
        case "kb": multiplier = 1_000
        case "mb": multiplier = 1_000_000
        case "gb": multiplier = 1_000_000_000
        default:
            throw ValueProblem(
                "\(expectation): unknown unit \"\(quantity.unit)\" (use B, KiB, MiB, GiB, KB, MB or GB)"
            )
        }
        guard let bytes = quantity.scaled(by: multiplier), bytes <= Int64(Int32.max) * 1024 else {
            throw ValueProblem("\(expectation): too large")
        }
        guard allowZero || bytes > 0 else { throw ValueProblem("\(expectation), greater than zero") }
        self = Int(bytes)
    }
}

/// `12.5ms` as its number (`12.5`) and its unit (`ms`).
private struct DecimalQuantity {
    var number: Substring
    var unit: Substring

    init(_ text: String) {
        number = text.prefix { $0.isASCII && ($0.isNumber || $0 == ".") }
        unit = text.dropFirst(number.count)
    }

    /// The number (digits, at most one `.`) times `unit`, truncated; `nil` when malformed or out of range.
    func scaled(by unit: Int64) -> Int64? {
        let parts = number.split(separator: ".", omittingEmptySubsequences: false)
        guard parts.count <= 2, !parts[0].isEmpty, let whole = Int64(parts[0]) else { return nil }
        let (wholeScaled, overflow) = whole.multipliedReportingOverflow(by: unit)
        guard !overflow else { return nil }
        guard parts.count == 2 else { return wholeScaled }
        let fractionDigits = parts[1].prefix(15)
        guard !parts[1].isEmpty, parts[1].allSatisfy(\.isNumber), let fraction = Int64(fractionDigits) else {
            return nil
        }
        var denominator: Int64 = 1
        for _ in fractionDigits { denominator *= 10 }
        // unit ≤ 3.6e12 and fraction < 1e15: split the product to stay in range.
        let fractionScaled = (unit / denominator) * fraction + (unit % denominator) * fraction / denominator
        let (total, totalOverflow) = wholeScaled.addingReportingOverflow(fractionScaled)
        return totalOverflow ? nil : total
    }
}
