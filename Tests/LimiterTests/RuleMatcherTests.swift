import Limiter
import Testing

/// Which rules a request meets and the key each counts it under.
@Suite struct RuleMatcherTests {
    private func rule(_ text: String) -> RateLimitRule {
        try! RuleParser.parse(name: "r", text)
    }

    private func key(_ text: String, _ request: TestRequest) -> String? {
        RuleMatcher(rules: [rule(text)]).matches(request).first?.clientKey
    }

    @Test func ipv4MappedAndPlainIPv4ShareAKey() {
        let mapped = key("10/s by ip", TestRequest(clientAddress: "::ffff:203.0.113.7"))
        #expect(mapped == "ip:11:203.0.113.7")
        #expect(mapped == key("10/s by ip", TestRequest(clientAddress: "203.0.113.7")))
    }

    @Test func twoAddressesInOneSlash64ShareAKey() {
        let first = key("10/s by ip", TestRequest(clientAddress: "2001:db8:1:2::1"))
        #expect(first == "ip:17:2001:db8:1:2::/64")
        #expect(first == key("10/s by ip", TestRequest(clientAddress: "2001:db8:1:2:dead:beef:0:9")))
        #expect(first != key("10/s by ip", TestRequest(clientAddress: "2001:db8:1:3::1")))
    }

    @Test func thePrefixTheRequestCarriesGroupsIt() {
        let address = IPAddress(parsing: "2001:db8:1:2::1")!
        let per56 = TestRequest(clientAddress: ClientAddress(address, ipv6PrefixLength: 56))
        let perAddress = TestRequest(clientAddress: ClientAddress(address, ipv6PrefixLength: 128))
        #expect(key("10/s by ip", per56) == "ip:15:2001:db8:1::/56")
        #expect(key("10/s by ip", perAddress) == "ip:15:2001:db8:1:2::1")
    }

    @Test func aRequestLackingEveryKeyIsCountedByItsAddress() {
        let anonymous = TestRequest()
        #expect(key("10/m by jwt:sub on * /", anonymous) == "ip:9:192.0.2.1")
        #expect(key("10/m by header:X-Api-Key", anonymous) == "ip:9:192.0.2.1")
        #expect(key("10/m by header:X-Api-Key+host", TestRequest(host: nil)) == "ip:9:192.0.2.1")
        #expect(key("10/m by header:X-Api-Key", TestRequest(headers: ["x-api-key": "k"])) == "header:x-api-key:1:k")
    }

    @Test func theImplicitFallbackIsTheExplicitIP() {
        for request in [TestRequest(), TestRequest(clientAddress: "2001:db8::7"), TestRequest(clientAddress: nil)] {
            #expect(key("10/m by jwt:sub", request) == key("10/m by jwt:sub|ip", request))
            #expect(key("10/m by header:X-A", request) == key("10/m by header:X-A|ip", request))
        }
    }

    @Test func aChainEndingInNoneLeavesUnidentifiedRequestsUnlimited() {
        let rules = [rule("10/m by header:X-Api-Key|none"), rule("100/m")]
        let matcher = RuleMatcher(rules: rules)
        #expect(matcher.matches(TestRequest()) == [RuleMatch(ruleIndex: 1, clientKey: nil)])
        #expect(
            matcher.matches(TestRequest(headers: ["x-api-key": "k"])) == [
                RuleMatch(ruleIndex: 0, clientKey: "header:x-api-key:1:k"), RuleMatch(ruleIndex: 1, clientKey: nil),
            ]
        )
    }

    @Test func clientsOfUnknownAddressShareOneBucket() {
        let unknown = TestRequest(clientAddress: nil)
        #expect(key("10/m by ip", unknown) == RuleMatcher.unknownClientKey)
        #expect(key("10/m by jwt:sub", unknown) == RuleMatcher.unknownClientKey)
        #expect(key("10/m by ip|none", unknown) == nil)
        #expect(RuleMatcher(rules: [rule("10/m by ip|none")]).matches(unknown).isEmpty)
        // An address key never takes that form.
        #expect(key("10/m by ip", TestRequest()) != RuleMatcher.unknownClientKey)
    }

    @Test func getCoversHead() {
        let matcher = RuleMatcher(rules: [rule("10/m on GET /jobs"), rule("10/m on POST /jobs")])
        #expect(matcher.matches(TestRequest(method: "HEAD", path: "/jobs")).map(\.ruleIndex) == [0])
        #expect(matcher.matches(TestRequest(method: "GET", path: "/jobs")).map(\.ruleIndex) == [0])
        #expect(
            RuleMatcher(rules: [rule("10/m on POST /jobs")]).matches(TestRequest(method: "HEAD", path: "/jobs")).isEmpty
        )
        #expect(
            RuleMatcher(rules: [rule("10/m on HEAD /jobs")]).matches(TestRequest(method: "GET", path: "/jobs")).isEmpty
        )
    }

    @Test func headSpendsTheGetBucket() {
        let limiter = InProcessRateLimiter(rules: [rule("2/m by ip on GET /jobs")])
        #expect(limiter.decide(TestRequest(method: "GET", path: "/jobs"))?.verdict == .allowed)
        #expect(limiter.decide(TestRequest(method: "HEAD", path: "/jobs"))?.verdict == .allowed)
        #expect(limiter.decide(TestRequest(method: "HEAD", path: "/jobs"))?.verdict == .limited)
        #expect(limiter.decide(TestRequest(method: "GET", path: "/jobs"))?.verdict == .limited)
    }

    @Test func rotatingAddressesInOneSlash64DoesNotEscapeTheLimit() {
        let limiter = InProcessRateLimiter(rules: [rule("2/m by ip")])
        let verdicts = (1...4).map { n in
            limiter.decide(TestRequest(clientAddress: "2001:db8:1:2::\(n)"))?.verdict
        }
        #expect(verdicts == [.allowed, .allowed, .limited, .limited])
        #expect(limiter.decide(TestRequest(clientAddress: "::ffff:192.0.2.1"))?.verdict == .allowed)
        #expect(limiter.decide(TestRequest(clientAddress: "192.0.2.1"))?.verdict == .allowed)
        #expect(limiter.decide(TestRequest(clientAddress: "192.0.2.1"))?.verdict == .limited)
    }
}
