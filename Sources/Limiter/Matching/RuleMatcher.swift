/// Finds the rules that apply to a request and the key each one counts it under.
///
/// A rule applies when its methods (`nil`: any) contain the request's method and its path pattern
/// (`nil`: any) matches the path. A rule with `by` whose every alternative lacks a part does not
/// count the request and is skipped.
public struct RuleMatcher: Sendable {
    /// The rules, in configuration order.
    public let rules: [RateLimitRule]

    public init(rules: [RateLimitRule]) {
        self.rules = rules
    }

    /// The rules that apply to `request`, in order, with their client keys.
    ///
    /// Allocates nothing when no rule applies.
    public func matches<Request: RateLimitRequest>(_ request: Request) -> [RuleMatch] {
        var matches: [RuleMatch] = []
        for index in self.rules.indices {
            let rule = self.rules[index]
            if let methods = rule.methods, !methods.contains(request.method), !methods.contains("*") {
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

    /// The key string of `request` under `key`: the first alternative whose parts are all present.
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
                text += Self.kind(of: part)
                text += ":\(value.utf8.count):"
                text += value
            }
            return text
        }
        return nil
    }

    private static func value<Request: RateLimitRequest>(of part: RateLimitKey.Part, in request: Request) -> String? {
        switch part {
        case .ip:
            return request.clientAddress
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
