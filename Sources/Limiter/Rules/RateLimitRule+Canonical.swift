extension RateLimitRule {
    /// The rule in the grammar's canonical form, such as `100/s burst 200 by jwt:sub|ip on POST /jobs/* cost 2`.
    ///
    /// Clauses come in grammar order and only when they differ from their defaults; parsing the text
    /// with ``RuleParser/parse(name:_:)`` gives this rule back.
    public var canonicalDescription: String {
        description(key: key?.canonicalDescription, methods: methods)
    }

    /// The rule as it applies, for `sidecar check`: the key chain written out to its end and the
    /// methods a rule covers without naming them.
    ///
    /// `10/m by jwt:sub on GET /jobs` reads `10/m by jwt:sub|ip on GET,HEAD /jobs`. Parsing the text gives
    /// a rule that decides every request the same way.
    public var effectiveDescription: String {
        description(key: key?.effectiveDescription, methods: methods.map(Self.effectiveMethods))
    }

    private func description(key: String?, methods: Set<String>?) -> String {
        var words = ["\(count)/\(Self.periodText(microseconds: periodMicroseconds))"]
        if burst != count { words.append("burst \(burst)") }
        if let key { words.append("by \(key)") }
        if methods != nil || path != nil {
            let methodText = methods.map { $0.sorted().joined(separator: ",") } ?? "*"
            let pathText = path?.patternText ?? "/*"
            words.append("on \(methodText) \(pathText)")
        }
        if cost != 1 { words.append("cost \(cost)") }
        if shadow { words.append("shadow") }
        return words.joined(separator: " ")
    }

    /// The methods a rule naming `methods` matches: `GET` brings `HEAD` (RFC 9110 §9.3.2).
    static func effectiveMethods(_ methods: Set<String>) -> Set<String> {
        methods.contains("GET") ? methods.union(["HEAD"]) : methods
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
    /// The key in the grammar's form, such as `jwt:sub|ip+host` or `header:x-api-key|none`.
    public var canonicalDescription: String {
        var text = alternativesText
        if unidentified == .notLimited { text += "|none" }
        return text
    }

    /// The key chain as it applies: ends in `|ip` (the implicit fallback, unless the last alternative is
    /// already `ip`) or in `|none`. `jwt:sub` reads `jwt:sub|ip`; `ip` stays `ip`.
    public var effectiveDescription: String {
        switch unidentified {
        case .notLimited: return canonicalDescription
        case .clientAddress: return alternatives.last == [.ip] ? alternativesText : alternativesText + "|ip"
        }
    }

    private var alternativesText: String {
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
