import Limiter
import Testing

@Suite struct RuleParserTests {
    static let second: Int64 = 1_000_000

    @Test func designExamplePerUser() throws {
        let rule = try RuleParser.parse(name: "per_user", "100/s burst 200 by jwt:sub|ip")
        #expect(
            rule
                == RateLimitRule(
                    name: "per_user",
                    count: 100,
                    periodMicroseconds: Self.second,
                    burst: 200,
                    key: RateLimitKey(alternatives: [[.jwt("sub")], [.ip]])
                )
        )
    }

    @Test func designExampleJobs() throws {
        let rule = try RuleParser.parse(name: "jobs", "10/m by jwt:sub on POST /jobs")
        #expect(rule.count == 10)
        #expect(rule.periodMicroseconds == 60 * Self.second)
        #expect(rule.burst == 10)
        #expect(rule.key == RateLimitKey(alternatives: [[.jwt("sub")]]))
        #expect(rule.methods == ["POST"])
        #expect(rule.path == PathPattern(path: "/jobs", isPrefix: false))
        #expect(rule.cost == 1)
        #expect(!rule.shadow)
    }

    @Test func designExampleFleet() throws {
        let rule = try RuleParser.parse(name: "fleet", "5000/s")
        #expect(rule == RateLimitRule(name: "fleet", count: 5000, periodMicroseconds: Self.second))
        #expect(rule.key == nil && rule.methods == nil && rule.path == nil)
    }

    @Test(arguments: [
        ("1/s", Int64(1_000_000)),
        ("1/m", 60_000_000),
        ("1/h", 3_600_000_000),
        ("1/d", 86_400_000_000),
        ("1/10s", 10_000_000),
        ("1/5m", 300_000_000),
        ("1/2h", 7_200_000_000),
        ("1/7d", 604_800_000_000),
    ])
    func periods(text: String, microseconds: Int64) throws {
        #expect(try RuleParser.parse(name: "r", text).periodMicroseconds == microseconds)
    }

    @Test func keyPrecedencePlusBindsTighterThanBar() throws {
        let rule = try RuleParser.parse(name: "r", "10/s by jwt:sub|ip+host|header:X-Api-Key")
        #expect(rule.key == RateLimitKey(alternatives: [[.jwt("sub")], [.ip, .host], [.header("x-api-key")]]))
    }

    @Test func headerNameIsLowerCasedAndClaimKeepsItsCase() throws {
        let rule = try RuleParser.parse(name: "r", "10/s by header:X-Tenant+jwt:TenantID")
        #expect(rule.key == RateLimitKey(alternatives: [[.header("x-tenant"), .jwt("TenantID")]]))
    }

    @Test func methodsAndPrefixPath() throws {
        let rule = try RuleParser.parse(name: "r", "10/s on get,POST /jobs/*")
        #expect(rule.methods == ["GET", "POST"])
        #expect(rule.path == PathPattern(path: "/jobs/", isPrefix: true))
    }

    @Test func anyMethod() throws {
        let rule = try RuleParser.parse(name: "r", "10/s on * /health")
        #expect(rule.methods == nil)
        #expect(rule.path == PathPattern(path: "/health", isPrefix: false))
    }

    @Test func costAndShadow() throws {
        let rule = try RuleParser.parse(name: "r", "10/s burst 20 cost 5 shadow")
        #expect(rule.burst == 20)
        #expect(rule.cost == 5)
        #expect(rule.shadow)
    }

    @Test func clausesInAnyOrderAndExtraSpaces() throws {
        let ordered = try RuleParser.parse(name: "r", "10/s burst 20 by ip on GET /a cost 2 shadow")
        let shuffled = try RuleParser.parse(name: "r", "  10/s   shadow cost 2\ton GET /a by ip burst 20 ")
        #expect(ordered == shuffled)
    }

    @Test func keywordsAreCaseInsensitive() throws {
        let rule = try RuleParser.parse(name: "r", "10/s BURST 20 By IP Shadow")
        #expect(rule.burst == 20 && rule.key == RateLimitKey(alternatives: [[.ip]]) && rule.shadow)
    }

    @Test(arguments: [
        "100/s",
        "100/s burst 200 by jwt:sub|ip",
        "10/m by jwt:sub on POST /jobs",
        "5000/s",
        "1/10s burst 3 by ip+header:x-api-key|host on GET,POST /jobs/* cost 2 shadow",
        "7/2h on * /",
        "3/d by jwt:sub cost 3",
        "10/s shadow",
    ])
    func canonicalDescriptionRoundTrips(text: String) throws {
        let rule = try RuleParser.parse(name: "r", text)
        #expect(try RuleParser.parse(name: "r", rule.canonicalDescription) == rule)
    }

    @Test func canonicalDescriptionIsNormalised() throws {
        let rule = try RuleParser.parse(name: "r", "60/60s shadow cost 2 on post,get /jobs/* by header:X-Key burst 60")
        #expect(rule.canonicalDescription == "60/m by header:x-key on GET,POST /jobs/* cost 2 shadow")
    }

    @Test(arguments: [
        ("", "empty value"),
        ("abc", #"expected "<count>/<period>" such as "100/s" or "10/5m", got "abc""#),
        ("100", #"got "100""#),
        ("100/", #"got "100/""#),
        ("/s", #"got "/s""#),
        ("0/s", "expected a count between 1"),
        ("-1/s", #"expected "<count>/<period>""#),
        ("10/x", "expected a period of s, m, h or d"),
        ("10/0s", "positive multiple"),
        ("10/1.5s", "positive multiple"),
        ("10/999999999d", "too long"),
        ("2000000/s", "finer than one request per microsecond"),
        ("10/s burst", #"after "burst", got nothing"#),
        ("10/s burst 0", #"expected a positive whole number after "burst", got "0""#),
        ("10/s burst x", #"got "x""#),
        ("10/s cost 0", #"after "cost", got "0""#),
        ("10/s cost 11", "cost 11 is larger than burst 10"),
        ("10/s burst 5 cost 6", "could never admit"),
        ("10/s by", #"after "by", got nothing"#),
        ("10/s by ip||host", "empty key"),
        ("10/s by ip+", "empty key"),
        ("10/s by cookie:a", #"unknown key "cookie:a""#),
        ("10/s by header:", "expected a header name"),
        ("10/s by header:X(Y)", "expected a header name"),
        ("10/s by jwt:", "expected a claim name"),
        ("10/s by ip:4", #"unknown key "ip:4""#),
        ("10/s on", #"after "on", got nothing"#),
        ("10/s on GET", "expected a path starting with"),
        ("10/s on /jobs", #"expected methods (or *) before the path, as in "on * /jobs""#),
        ("10/s on GET jobs", #"got "jobs""#),
        ("10/s on GET,,POST /a", "expected methods such as GET,POST"),
        ("10/s on GE(T /a", "expected methods"),
        ("10/s on GET /a*b", #"expected "*" only at the end"#),
        ("10/s on GET /a?b=1", "without query"),
        ("10/s burst 2 burst 3", #""burst" appears twice"#),
        ("10/s shadow shadow", #""shadow" appears twice"#),
        ("10/s by ip by host", #""by" appears twice"#),
        ("10/s per ip", #"unexpected "per""#),
        ("10/s shadow extra", #"unexpected "extra""#),
    ])
    func errors(text: String, expectedMessage: String) {
        #expect {
            try RuleParser.parse(name: "r", text)
        } throws: { error in
            guard let error = error as? RuleParseError else { return false }
            return error.message.contains(expectedMessage)
        }
    }

    @Test func errorIsTyped() {
        do throws(RuleParseError) {
            _ = try RuleParser.parse(name: "r", "abc")
            Issue.record("expected an error")
        } catch {
            #expect(error.description == #"expected "<count>/<period>" such as "100/s" or "10/5m", got "abc""#)
        }
    }

    @Test(arguments: ["/jobs/*", "/health", "/"])
    func pathPatternTextRoundTrips(text: String) throws {
        #expect(try PathPattern(parsing: text).patternText == text)
    }
}

@Test func tlsSubjectIsAKey() throws {
    let rule = try RuleParser.parse(name: "per_client", "10/s by tls:subject|ip")
    #expect(rule.key == RateLimitKey(alternatives: [[.tlsSubject], [.ip]]))
    #expect(rule.canonicalDescription == "10/s by tls:subject|ip")
    #expect(throws: RuleParseError.self) { try RuleParser.parse(name: "x", "10/s by tls:issuer") }
}
