import Limiter
import Testing

/// The `by` chain's end: the implicit `|ip`, the explicit `|none`, and how both are written back.
@Suite struct RuleKeyChainTests {
    private func parse(_ text: String) throws -> RateLimitRule {
        try RuleParser.parse(name: "r", text)
    }

    @Test func aChainCountsUnidentifiedRequestsByAddressUnlessItEndsInNone() throws {
        #expect(try parse("10/m by jwt:sub").key == RateLimitKey(alternatives: [[.jwt("sub")]]))
        #expect(try parse("10/m by jwt:sub").key?.unidentified == .clientAddress)
        #expect(
            try parse("10/m by jwt:sub|NONE").key
                == RateLimitKey(alternatives: [[.jwt("sub")]], unidentified: .notLimited)
        )
        #expect(
            try parse("10/m by header:X-Api-Key|ip+host|none").key
                == RateLimitKey(alternatives: [[.header("x-api-key")], [.ip, .host]], unidentified: .notLimited)
        )
    }

    @Test(arguments: [
        ("10/s by none", #""by none" would limit no request"#),
        ("10/s by none|ip", #""none" must be the last alternative"#),
        ("10/s by jwt:sub|none|ip", #""none" must be the last alternative"#),
        ("10/s by jwt:sub|none+ip", #""none" cannot be joined with +"#),
        ("10/s by jwt:sub|ip+none", #""none" cannot be joined with +"#),
        ("10/s by jwt:sub|none|", #""none" must be the last alternative"#),
        ("10/s by none:x", #"unknown key "none:x""#),
    ])
    func noneStandsAloneAtTheEnd(text: String, expectedMessage: String) {
        #expect {
            try parse(text)
        } throws: { error in
            (error as? RuleParseError)?.message.contains(expectedMessage) == true
        }
    }

    @Test(arguments: [
        "10/m by jwt:sub|none on POST /jobs",
        "10/m by header:x-api-key|ip+host|none",
        "10/m by ip|none",
        "10/m by jwt:sub",
    ])
    func canonicalTextRoundTrips(text: String) throws {
        let rule = try parse(text)
        #expect(rule.canonicalDescription == text)
        #expect(try parse(rule.canonicalDescription) == rule)
    }

    @Test(arguments: [
        ("10/m by jwt:sub on POST /jobs", "10/m by jwt:sub|ip on POST /jobs"),
        ("10/m by jwt:sub|ip", "10/m by jwt:sub|ip"),
        ("10/m by ip", "10/m by ip"),
        ("10/m by ip+host", "10/m by ip+host|ip"),
        ("10/m by header:X-A|none", "10/m by header:x-a|none"),
        ("10/m", "10/m"),
        ("10/m on GET /a", "10/m on GET,HEAD /a"),
        ("10/m on GET,POST /a", "10/m on GET,HEAD,POST /a"),
        ("10/m on POST /a", "10/m on POST /a"),
        ("10/m on * /a", "10/m on * /a"),
    ])
    func effectiveTextWritesOutTheChainAndTheMethods(text: String, effective: String) throws {
        let rule = try parse(text)
        #expect(rule.effectiveDescription == effective)
        // The effective text is a rule of its own that decides every request the same way.
        let reparsed = try parse(effective)
        #expect(reparsed.effectiveDescription == effective)
    }
}
