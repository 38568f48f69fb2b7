/// Finds the rules that apply to a request and the key each one counts it under.
///
/// A rule applies when its methods (`nil`: any) contain the request's method, `GET` covering `HEAD`
/// (RFC 9110 §9.3.2: a `HEAD` is a `GET` without the body, so it cannot step around a `GET` limit),
/// and its path pattern (`nil`: any) matches the path. A rule with `by` counts a request lacking
/// every alternative under its client address, unless its chain ends in `|none`: only then is the
/// rule skipped.
public struct RuleMatcher: Sendable {
    /// The rules, in configuration order.
    public let rules: [RateLimitRule]

    public init(rules: [RateLimitRule]) {
        self.rules = rules
    }

    /// The key of requests whose client address is unknown (no peer address): one bucket shared by
    /// all of them. No address key has this form (`ip:<byte count>:<address>`).
    public static let unknownClientKey = "ip:unknown"

    /// The rules that apply to `request`, in order, with their client keys.
    ///
    /// Allocates nothing when no rule applies.
    public func matches<Request: RateLimitRequest>(_ request: Request) -> [RuleMatch] {
        var matches: [RuleMatch] = []
        for index in self.rules.indices {
            let rule = self.rules[index]
            if let methods = rule.methods, !Self.covers(methods, request.method) {
                continue
            }
            if let path = rule.path, !path.matches(request.path) {
                continue
            }
            guard let key = rule.key else {
                matches.append(RuleMatch(ruleIndex: index, clientKey: nil))
                continue
            }
            guard let clientKey = Self.clientKey(key, of: request) else { continue }
            matches.append(RuleMatch(ruleIndex: index, clientKey: clientKey))
        }
        return matches
    }

    /// Whether a rule naming `methods` applies to `method`: named, `*`, or `HEAD` where `GET` is named.
    static func covers(_ methods: Set<String>, _ method: String) -> Bool {
        methods.contains(method) || methods.contains("*") || (method == "HEAD" && methods.contains("GET"))
    }

    /// The key string of `request` under `key`: the first alternative whose parts are all present;
    /// else its client address (as an `ip` alternative gives it, or ``unknownClientKey``); `nil` only
    /// when the chain ends in `|none`.
    ///
    /// Each part is written as `<kind>:<byte count>:<value>` and parts are joined with `+`, so no
    /// two different part lists give the same string, and a value taken from one kind of part never
    /// shares a bucket with the same text from another kind. An empty value counts as absent.
    public static func clientKey<Request: RateLimitRequest>(_ key: RateLimitKey, of request: Request) -> String? {
        alternatives: for alternative in key.alternatives {
            var text = ""
            for (position, part) in alternative.enumerated() {
                guard let value = self.value(of: part, in: request), !value.isEmpty else {
                    continue alternatives
                }
                if position > 0 { text += "+" }
                append(part, value, to: &text)
            }
            return text
        }
        switch key.unidentified {
        case .notLimited:
            return nil
        case .clientAddress:
            guard let client = request.clientAddress else { return unknownClientKey }
            var text = ""
            append(.ip, client.keyText, to: &text)
            return text
        }
    }

    private static func append(_ part: RateLimitKey.Part, _ value: String, to text: inout String) {
        text += Self.kind(of: part)
        text += ":\(value.utf8.count):"
        text += value
    }

    private static func value<Request: RateLimitRequest>(of part: RateLimitKey.Part, in request: Request) -> String? {
        switch part {
        case .ip:
            return request.clientAddress?.keyText
        case .host:
            return request.host
        case .tlsSubject:
            return request.tlsSubject
        case .header(let name):
            return request.firstHeader(named: name)
        case .jwt(let claim):
            return request.jwtClaim(named: claim)
        }
    }

    private static func kind(of part: RateLimitKey.Part) -> String {
        switch part {
        case .ip: return "ip"
        case .host: return "host"
        case .tlsSubject: return "tls:subject"
        case .header(let name): return "header:\(name)"
        case .jwt(let claim): return "jwt:\(claim)"
        }
    }
}
