extension RateLimitRule {
    /// The rule in the grammar's canonical form, such as `100/s burst 200 by jwt:sub|ip on POST /jobs/* cost 2`.
    ///
    /// Clauses come in grammar order and only when they differ from their defaults; parsing the text
    /// with ``RuleParser/parse(name:_:)`` gives this rule back.
    public var canonicalDescription: String {
        var words = ["\(count)/\(Self.periodText(microseconds: periodMicroseconds))"]
        if burst != count { words.append("burst \(burst)") }
        if let key { words.append("by \(key.canonicalDescription)") }
        if methods != nil || path != nil {
            let methodText = methods.map { $0.sorted().joined(separator: ",") } ?? "*"
            let pathText = path?.patternText ?? "/*"
            words.append("on \(methodText) \(pathText)")
        }
        if cost != 1 { words.append("cost \(cost)") }
        if shadow { words.append("shadow") }
        return words.joined(separator: " ")
    }

    /// A period as the grammar writes it: the largest unit of `d`, `h`, `m`, `s` that divides it, `1` left out.
    static func periodText(microseconds: Int64) -> String {
        let units: [(String, Int64)] = [
            ("d", 86_400_000_000), ("h", 3_600_000_000), ("m", 60_000_000), ("s", 1_000_000),
        ]
        for (unit, size) in units where microseconds % size == 0 {
            let multiple = microseconds / size
            return multiple == 1 ? unit : "\(multiple)\(unit)"
        }
        // Not produced by the parser: the grammar has no sub-second periods.
        return "\(microseconds)us"
    }
}

extension RateLimitKey {
    /// The key in the grammar's form, such as `jwt:sub|ip+host`.
    public var canonicalDescription: String {
        alternatives.map { parts in parts.map(\.canonicalDescription).joined(separator: "+") }.joined(separator: "|")
    }
}

extension RateLimitKey.Part {
    /// The part in the grammar's form: `ip`, `host`, `header:<name>` or `jwt:<claim>`.
    public var canonicalDescription: String {
        switch self {
        case .ip: "ip"
        case .host: "host"
        case .tlsSubject: "tls:subject"
        case .header(let name): "header:\(name)"
        case .jwt(let claim): "jwt:\(claim)"
        }
    }
}
