/// Parses the rule grammar of `SIDECAR_LIMIT_<NAME>` variables.
///
/// `<count>/<period> [burst <n>] [by <key>[|<key>...][+<key>...]] [on <METHODS> <path>] [cost <n>] [shadow]`;
/// the clauses after the rate may come in any order, each at most once.
public enum RuleParser {
    /// The rate part's expected shape, used in messages.
    static let rateExpectation = #""<count>/<period>" such as "100/s" or "10/5m""#
    /// The key clause's expected shape, used in messages.
    static let keyExpectation =
        "ip, host, header:<Name>, jwt:<claim> or tls:subject, joined by | (first present) or + (combined)"

    /// The longest period accepted: 36500 days (a century; anything longer is a typo).
    static let maximumPeriodMicroseconds = RuleValueBounds.maximumPeriodMicroseconds

    /// Parses `text` into a rule named `name`.
    public static func parse(name: String, _ text: String) throws(RuleParseError) -> RateLimitRule {
        let tokens = text.split(whereSeparator: { $0 == " " || $0 == "\t" || $0 == "\n" || $0 == "\r" })
        guard let rateToken = tokens.first else {
            throw RuleParseError("expected a rule such as \"100/s burst 200 by ip\", got an empty value")
        }
        let (count, period) = try parseRate(rateToken)

        var burst: Int?
        var key: RateLimitKey?
        var methods: Set<String>?
        var path: PathPattern?
        var cost: Int?
        var shadow = false
        var seen: Set<String> = []

        var index = 1
        func operand(after clause: String, expecting expectation: String) throws(RuleParseError) -> Substring {
            index += 1
            guard index < tokens.count else {
                throw RuleParseError("expected \(expectation) after \"\(clause)\", got nothing")
            }
            return tokens[index]
        }

        while index < tokens.count {
            let word = tokens[index].lowercased()
            guard ["burst", "by", "on", "cost", "shadow"].contains(word) else {
                throw RuleParseError(
                    "unexpected \"\(tokens[index])\": expected one of burst <n>, by <key>, on <METHODS> <path>, cost <n>, shadow"
                )
            }
            guard seen.insert(word).inserted else {
                throw RuleParseError("\"\(word)\" appears twice: each clause may appear at most once")
            }
            switch word {
            case "burst":
                burst = try positiveInteger(operand(after: word, expecting: "a positive whole number"), after: word)
            case "cost":
                cost = try positiveInteger(operand(after: word, expecting: "a positive whole number"), after: word)
            case "by":
                key = try parseKey(operand(after: word, expecting: "a key (\(keyExpectation))"))
            case "on":
                let expectation = "methods and a path such as \"on GET,POST /jobs/*\" or \"on * /health\""
                methods = try parseMethods(operand(after: word, expecting: expectation))
                path = try parsePath(operand(after: word, expecting: "a path starting with \"/\" (\(expectation))"))
            default:
                shadow = true
            }
            index += 1
        }

        let effectiveBurst = burst ?? count
        let effectiveCost = cost ?? 1
        let largestBurst = RuleValueBounds.largestBurst(count: count, periodMicroseconds: period)
        guard effectiveBurst <= largestBurst else {
            throw RuleParseError(
                "burst \(effectiveBurst) is too large for \"\(rateToken)\": the largest accepted is \(largestBurst) "
                    + "(an empty bucket must refill within 36500 days: burst × period / count); "
                    + "lower the burst or raise the count"
            )
        }
        guard effectiveCost <= effectiveBurst else {
            throw RuleParseError(
                "cost \(effectiveCost) is larger than burst \(effectiveBurst): the rule could never admit a request; "
                    + "lower the cost or raise the burst"
            )
        }
        return RateLimitRule(
            name: name,
            count: count,
            periodMicroseconds: period,
            burst: effectiveBurst,
            key: key,
            methods: methods,
            path: path,
            cost: effectiveCost,
            shadow: shadow
        )
    }

    /// `<count>/<period>` into the count and the period in microseconds.
    static func parseRate(_ token: Substring) throws(RuleParseError) -> (Int, Int64) {
        let parts = token.split(separator: "/", maxSplits: 1, omittingEmptySubsequences: false)
        guard parts.count == 2, !parts[0].isEmpty, parts[0].utf8.allSatisfy(isDigit), !parts[1].isEmpty else {
            throw RuleParseError("expected \(rateExpectation), got \"\(token)\"")
        }
        guard let count = try boundedInteger(parts[0], named: "count") else {
            throw RuleParseError(
                "expected a count between 1 and \(RuleValueBounds.maximumTokens) before \"/\", got \"\(parts[0])\""
            )
        }
        let periodText = parts[1]
        let unitMicroseconds: Int64
        switch periodText.last {
        case "s": unitMicroseconds = 1_000_000
        case "m": unitMicroseconds = 60_000_000
        case "h": unitMicroseconds = 3_600_000_000
        case "d": unitMicroseconds = 86_400_000_000
        default:
            throw RuleParseError(
                "expected a period of s, m, h or d, or a multiple such as 10s or 5m after \"/\", got \"\(periodText)\""
            )
        }
        let multiplierText = periodText.dropLast()
        var multiplier: Int64 = 1
        if !multiplierText.isEmpty {
            guard multiplierText.utf8.allSatisfy(isDigit), let value = Int64(multiplierText), value > 0 else {
                throw RuleParseError(
                    "expected a period of s, m, h or d, or a positive multiple such as 10s or 5m, got \"\(periodText)\""
                )
            }
            multiplier = value
        }
        let (period, overflow) = multiplier.multipliedReportingOverflow(by: unitMicroseconds)
        guard !overflow, period <= maximumPeriodMicroseconds else {
            throw RuleParseError("period \"\(periodText)\" is too long: the largest accepted is 36500d")
        }
        guard Int64(count) <= period else {
            throw RuleParseError(
                "rate \"\(token)\" is finer than one request per microsecond: use a longer period or a smaller count"
            )
        }
        return (count, period)
    }

    /// A whole number ≥ 1 following `clause`, at most ``RuleValueBounds/maximumTokens``.
    static func positiveInteger(_ token: Substring, after clause: String) throws(RuleParseError) -> Int {
        guard token.utf8.allSatisfy(isDigit), let value = try boundedInteger(token, named: clause) else {
            throw RuleParseError("expected a positive whole number after \"\(clause)\", got \"\(token)\"")
        }
        return value
    }

    /// Digits as a count, burst or cost, at most ``RuleValueBounds/maximumTokens``; `nil` for zero or no digits.
    static func boundedInteger(_ digits: Substring, named name: String) throws(RuleParseError) -> Int? {
        let largest = RuleValueBounds.maximumTokens
        // Leading zeros aside, more digits than the largest value has means too large, whatever Int holds.
        let significant = digits.drop { $0 == "0" }
        guard significant.count <= String(largest).count, let value = Int(significant.isEmpty ? "0" : significant),
            value <= largest
        else {
            throw RuleParseError("\(name) \(digits) is too large: the largest accepted is \(largest)")
        }
        return value > 0 ? value : nil
    }

    /// The `by` clause's key expression: `|` separates alternatives, `+` joins parts, and a final
    /// `|none` leaves requests lacking every alternative unlimited instead of counted by client address.
    static func parseKey(_ token: Substring) throws(RuleParseError) -> RateLimitKey {
        var alternatives: [[RateLimitKey.Part]] = []
        var unidentified = RateLimitKey.Unidentified.clientAddress
        let texts = token.split(separator: "|", omittingEmptySubsequences: false)
        for (position, alternative) in texts.enumerated() {
            if alternative.lowercased() == "none" {
                guard texts.count > 1 else {
                    throw RuleParseError(
                        "\"by none\" would limit no request: remove \"by\" for one bucket for the whole fleet, "
                            + "or end a chain with it, as in \"by header:X-Api-Key|none\""
                    )
                }
                guard position == texts.count - 1 else {
                    throw RuleParseError(
                        "\"none\" must be the last alternative in \"\(token)\", as in \"by jwt:sub|none\""
                    )
                }
                unidentified = .notLimited
                continue
            }
            var parts: [RateLimitKey.Part] = []
            for part in alternative.split(separator: "+", omittingEmptySubsequences: false) {
                if part.lowercased() == "none" {
                    throw RuleParseError(
                        "\"none\" cannot be joined with + in \"\(token)\": it stands alone as the last alternative, "
                            + "as in \"by jwt:sub|none\""
                    )
                }
                parts.append(try parseKeyPart(part, in: token))
            }
            alternatives.append(parts)
        }
        return RateLimitKey(alternatives: alternatives, unidentified: unidentified)
    }

    static func parseKeyPart(_ part: Substring, in expression: Substring) throws(RuleParseError) -> RateLimitKey.Part {
        guard !part.isEmpty else {
            throw RuleParseError("empty key in \"\(expression)\": expected \(keyExpectation)")
        }
        let pieces = part.split(separator: ":", maxSplits: 1, omittingEmptySubsequences: false)
        let kind = pieces[0].lowercased()
        switch (kind, pieces.count) {
        case ("ip", 1): return .ip
        case ("host", 1): return .host
        case ("header", 2):
            let name = pieces[1]
            guard !name.isEmpty, name.utf8.allSatisfy(isTokenCharacter) else {
                throw RuleParseError(
                    "expected a header name such as header:X-Api-Key, got \"\(part)\""
                )
            }
            return .header(name.lowercased())
        case ("tls", 2) where pieces[1].lowercased() == "subject":
            return .tlsSubject
        case ("jwt", 2):
            let claim = pieces[1]
            guard !claim.isEmpty else {
                throw RuleParseError("expected a claim name such as jwt:sub, got \"\(part)\"")
            }
            return .jwt(String(claim))
        default:
            throw RuleParseError("unknown key \"\(part)\": expected \(keyExpectation)")
        }
    }

    /// `*` (any method, `nil`) or comma-separated method tokens, upper-cased.
    static func parseMethods(_ token: Substring) throws(RuleParseError) -> Set<String>? {
        if token == "*" { return nil }
        if token.first == "/" {
            throw RuleParseError("expected methods (or *) before the path, as in \"on * \(token)\", got \"\(token)\"")
        }
        var methods: Set<String> = []
        for method in token.split(separator: ",", omittingEmptySubsequences: false) {
            guard !method.isEmpty, method != "*", method.utf8.allSatisfy(isTokenCharacter) else {
                throw RuleParseError(
                    "expected methods such as GET,POST or * after \"on\", got \"\(token)\""
                )
            }
            methods.insert(method.uppercased())
        }
        return methods
    }

    /// A path starting with `/`, exact or with one trailing `*` for a prefix.
    static func parsePath(_ token: Substring) throws(RuleParseError) -> PathPattern {
        guard token.first == "/" else {
            throw RuleParseError("expected a path starting with \"/\" such as /jobs or /jobs/*, got \"\(token)\"")
        }
        let isPrefix = token.last == "*"
        let path = isPrefix ? token.dropLast() : token
        guard !path.contains("*") else {
            throw RuleParseError("expected \"*\" only at the end of the path, got \"\(token)\"")
        }
        guard !path.contains("?"), !path.contains("#") else {
            throw RuleParseError("expected a path without query or fragment, got \"\(token)\"")
        }
        // In the normal form requests are matched in (see RequestTarget), so that `/%6Aobs` or
        // `/a/../jobs` written in a rule means the same route as in a request.
        let normalized: RequestTarget
        do throws(RequestTargetError) {
            normalized = try RequestTargetNormalizer().normalize(String(path), method: "GET", allowsAbsoluteForm: false)
        } catch {
            throw RuleParseError("expected a path a request could have, got \"\(token)\": \(error.description)")
        }
        return PathPattern(path: String(normalized.path), isPrefix: isPrefix)
    }

    static func isDigit(_ byte: UInt8) -> Bool {
        byte >= UInt8(ascii: "0") && byte <= UInt8(ascii: "9")
    }

    /// RFC 9110 `tchar`: what a method or a header name may contain.
    static func isTokenCharacter(_ byte: UInt8) -> Bool {
        switch byte {
        case UInt8(ascii: "a")...UInt8(ascii: "z"), UInt8(ascii: "A")...UInt8(ascii: "Z"),
            UInt8(ascii: "0")...UInt8(ascii: "9"):
            return true
        default:
            return "!#$%&'*+-.^_`|~".utf8.contains(byte)
        }
    }
}
