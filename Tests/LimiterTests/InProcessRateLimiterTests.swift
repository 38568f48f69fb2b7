import Limiter
import Testing

private let second: Int64 = 1_000_000

private func limiter(
    _ rules: [RateLimitRule],
    divisor: Int = 1,
    maximumKeys: Int = 1_000,
    clock: ManualClock = ManualClock()
) -> InProcessRateLimiter {
    InProcessRateLimiter(
        rules: rules,
        divisor: divisor,
        configuration: .init(maximumKeys: maximumKeys, shardCount: 4),
        clock: { clock.now }
    )
}

private let byIP = RateLimitKey(alternatives: [[.ip]])

@Test func noMatchingRuleIsUnlimited() {
    let rules = [
        RateLimitRule(
            name: "jobs",
            count: 1,
            periodMicroseconds: second,
            methods: ["POST"],
            path: PathPattern(path: "/jobs", isPrefix: false)
        )
    ]
    let limiter = limiter(rules)
    #expect(limiter.decide(TestRequest(method: "GET", path: "/jobs")) == nil)
    #expect(limiter.decide(TestRequest(method: "POST", path: "/jobs/1")) == nil)
    #expect(limiter.decide(TestRequest(method: "POST", path: "/jobs"))?.verdict == .allowed)
}

@Test func burstThenLimitedThenRefilled() throws {
    let clock = ManualClock()
    let limiter = limiter(
        [RateLimitRule(name: "per_ip", count: 10, periodMicroseconds: second, burst: 3, key: byIP)],
        clock: clock
    )
    let request = TestRequest()
    for remaining in [2, 1, 0] {
        let decision = try #require(limiter.decide(request))
        #expect(decision.verdict == .allowed)
        #expect(decision.policy?.remaining == remaining)
        #expect(decision.policy?.quota == 10 && decision.policy?.windowSeconds == 1)
    }
    let denied = try #require(limiter.decide(request))
    #expect(denied.verdict == .limited)
    #expect(denied.policy?.retryAfterMicroseconds == 100_000)
    #expect(denied.policy?.resetMicroseconds == 300_000)
    // Another client has its own bucket.
    #expect(limiter.decide(TestRequest(clientAddress: "192.0.2.2"))?.verdict == .allowed)
    clock.advance(by: 100_000)
    #expect(limiter.decide(request)?.verdict == .allowed)
}

@Test func keyFallsBackAndJoins() {
    let header = RateLimitKey(alternatives: [[.header("x-api-key")], [.ip]])
    let withKey = TestRequest(headers: ["x-api-key": "k1"])
    let withoutKey = TestRequest()
    #expect(RuleMatcher.clientKey(header, of: withKey) == "header:x-api-key:2:k1")
    #expect(RuleMatcher.clientKey(header, of: withoutKey) == "ip:9:192.0.2.1")
    let joined = RateLimitKey(alternatives: [[.ip, .host]])
    #expect(RuleMatcher.clientKey(joined, of: withoutKey) == "ip:9:192.0.2.1+host:11:api.example")
    #expect(RuleMatcher.clientKey(joined, of: TestRequest(host: nil)) == "ip:9:192.0.2.1")
    // jwt parts count as absent until tokens are verified.
    let jwt = RateLimitKey(alternatives: [[.jwt("sub")], [.ip]])
    #expect(RuleMatcher.clientKey(jwt, of: withoutKey) == "ip:9:192.0.2.1")
}

@Test func ruleWithoutItsKeyCountsTheClientAddress() {
    let rules = [
        RateLimitRule(
            name: "by_key",
            count: 1,
            periodMicroseconds: second,
            key: RateLimitKey(alternatives: [[.header("x-api-key")]])
        ),
        RateLimitRule(name: "fleet", count: 100, periodMicroseconds: second),
    ]
    let matcher = RuleMatcher(rules: rules)
    #expect(
        matcher.matches(TestRequest()) == [
            RuleMatch(ruleIndex: 0, clientKey: "ip:9:192.0.2.1"), RuleMatch(ruleIndex: 1, clientKey: nil),
        ]
    )
    #expect(matcher.matches(TestRequest(headers: ["x-api-key": "a"])).map(\.ruleIndex) == [0, 1])
    // Leaving the header out does not escape "by_key": the client address is limited instead.
    let limiter = limiter(rules)
    #expect(limiter.decide(TestRequest())?.verdict == .allowed)
    #expect(limiter.decide(TestRequest())?.verdict == .limited)
}

@Test func oneDenyingRuleSpendsNoOtherRule() throws {
    let rules = [
        RateLimitRule(
            name: "strict",
            count: 1,
            periodMicroseconds: second,
            key: byIP,
            path: PathPattern(path: "/strict", isPrefix: false)
        ),
        RateLimitRule(name: "fleet", count: 3, periodMicroseconds: 60 * second),
    ]
    let limiter = limiter(rules)
    #expect(limiter.decide(TestRequest(path: "/strict"))?.policy?.rule == "strict")
    // Denied by "strict" five times: "fleet" stays at 2 tokens.
    for _ in 0..<5 {
        let denied = try #require(limiter.decide(TestRequest(path: "/strict")))
        #expect(denied.verdict == .limited && denied.policy?.rule == "strict")
    }
    let other = try #require(limiter.decide(TestRequest(path: "/other")))
    #expect(
        other.verdict == .allowed
            && other.policy
                == RateLimitPolicyState(
                    rule: "fleet",
                    quota: 3,
                    windowSeconds: 60,
                    remaining: 1,
                    resetMicroseconds: 40 * second,
                    retryAfterMicroseconds: 0
                )
    )
}

@Test func policyIsTheRuleWithFewestTokensOrLongestWait() throws {
    let rules = [
        RateLimitRule(name: "wide", count: 100, periodMicroseconds: second, key: byIP),
        RateLimitRule(name: "narrow", count: 2, periodMicroseconds: second, key: byIP),
        RateLimitRule(name: "slow", count: 1, periodMicroseconds: 10 * second, burst: 2, key: byIP),
    ]
    let limiter = limiter(rules)
    #expect(limiter.decide(TestRequest())?.policy?.rule == "narrow")
    #expect(limiter.decide(TestRequest())?.policy?.remaining == 0)
    let denied = try #require(limiter.decide(TestRequest()))
    // "narrow" waits 0.5 s, "slow" 10 s.
    #expect(denied.verdict == .limited && denied.policy?.rule == "slow")
    #expect(denied.policy?.retryAfterMicroseconds == 10 * second)
}

@Test func shadowRulesNeverDenyNorShow() throws {
    let rules = [
        RateLimitRule(name: "shadow", count: 1, periodMicroseconds: second, key: byIP, shadow: true),
        RateLimitRule(name: "real", count: 5, periodMicroseconds: second, key: byIP),
    ]
    let limiter = limiter(rules)
    for remaining in [4, 3, 2, 1, 0] {
        let decision = try #require(limiter.decide(TestRequest()))
        #expect(
            decision.verdict == .allowed && decision.policy?.rule == "real" && decision.policy?.remaining == remaining
        )
    }
    #expect(limiter.decide(TestRequest())?.verdict == .limited)
    let onlyShadow = InProcessRateLimiter(rules: [rules[0]])
    _ = onlyShadow.decide(TestRequest())
    #expect(onlyShadow.decide(TestRequest()) == RateLimitDecision(verdict: .allowed, policy: nil))
}

@Test func divisorGivesEachReplicaItsShare() throws {
    let limiter = limiter([RateLimitRule(name: "fleet", count: 30, periodMicroseconds: second, burst: 9)], divisor: 3)
    var allowed = 0
    for _ in 0..<10 where limiter.decide(TestRequest())?.verdict == .allowed { allowed += 1 }
    #expect(allowed == 3)
    #expect(limiter.decide(TestRequest())?.policy?.quota == 10)
}

@Test func keysBeyondTheCapShareTheirRulesOverflowBucket() throws {
    let clock = ManualClock()
    let metrics = RecordingMetrics()
    let limiter = InProcessRateLimiter(
        rules: [RateLimitRule(name: "per_ip", count: 1, periodMicroseconds: second, key: byIP)],
        configuration: .init(maximumKeys: 8, shardCount: 4, metricsFactory: metrics),
        clock: { clock.now }
    )
    func request(_ n: Int) -> TestRequest { TestRequest(clientAddress: "10.0.\(n / 256).\(n % 256)") }
    // Rotating client keys: once the table is full, they share one bucket of burst 1, never unlimited.
    let allowed = (0..<200).filter { limiter.decide(request($0))?.verdict == .allowed }
    #expect(allowed.count <= 8 + 1)
    #expect(limiter.bucketCount <= 8)
    #expect(limiter.untrackedCount >= 200 - 8)
    #expect(
        metrics.counter("sidecar_ratelimit_untracked_total", [("source", "local")]) == Int64(limiter.untrackedCount)
    )
    // Known keys keep being enforced on their own buckets.
    for n in allowed { #expect(limiter.decide(request(n))?.verdict == .limited) }
    // A second later the overflow bucket admits one more: the rule's rate in aggregate.
    clock.advance(by: second / 2)
    let later = (1000..<1100).filter { limiter.decide(request($0))?.verdict == .allowed }
    #expect(later.isEmpty)
    clock.advance(by: second / 2)
    let refilled = (2000..<2100).filter { limiter.decide(request($0))?.verdict == .allowed }
    // Every bucket is full again: swept out, so new keys have room (2 per shard) and the overflow one token.
    #expect(refilled.count >= 1 && refilled.count <= 8 + 1)
    // Once every bucket is full again, new keys are tracked again.
    clock.advance(by: 2 * second)
    let before = limiter.untrackedCount
    for n in 3000..<3002 { _ = limiter.decide(request(n)) }
    #expect(limiter.untrackedCount == before)
    for n in 3000..<3002 { #expect(limiter.decide(request(n))?.verdict == .limited) }
}

@Test func theLocalShareNeverDropsTheBurstBelowTheCost() throws {
    let clock = ManualClock()
    // Shared by 3 replicas: 10/3 per minute rounds the burst down to 3, below the cost of 5.
    let limiter = limiter([try RuleParser.parse(name: "jobs", "10/m cost 5")], divisor: 3, clock: clock)
    let first = try #require(limiter.decide(TestRequest()))
    #expect(first.verdict == .allowed)
    let denied = try #require(limiter.decide(TestRequest()))
    #expect(denied.verdict == .limited)
    // One token per 18 s (a third of the rate): five of them take 90 s, and then the request passes.
    let retryAfter = try #require(denied.policy?.retryAfterMicroseconds)
    #expect(retryAfter == 90 * second)
    clock.advance(by: retryAfter)
    #expect(limiter.decide(TestRequest())?.verdict == .allowed)
}

@Test func deniedRequestsSpendNoShadowBucketAndCountOnce() throws {
    let metrics = RecordingMetrics()
    let rules = [
        RateLimitRule(
            name: "api",
            count: 1,
            periodMicroseconds: 60 * second,
            key: byIP,
            path: PathPattern(path: "/strict", isPrefix: false)
        ),
        RateLimitRule(name: "watch", count: 2, periodMicroseconds: 60 * second, key: byIP, shadow: true),
        RateLimitRule(name: "wide", count: 100, periodMicroseconds: 60 * second, key: byIP),
    ]
    let limiter = InProcessRateLimiter(rules: rules, configuration: .init(metricsFactory: metrics), clock: { 0 })
    #expect(limiter.decide(TestRequest(path: "/strict"))?.verdict == .allowed)
    for _ in 0..<3 { #expect(limiter.decide(TestRequest(path: "/strict"))?.verdict == .limited) }
    // "watch" kept its second token through the denials: the next forwarded request spends it.
    #expect(limiter.decide(TestRequest(path: "/other"))?.verdict == .allowed)
    #expect(limiter.decide(TestRequest(path: "/other"))?.verdict == .allowed)
    // A denied request counts once, under the rule that denied it; shadow rules count on forwarded requests only.
    #expect(metrics.decisions("api", "allowed", source: "local") == 1)
    #expect(metrics.decisions("api", "limited", source: "local") == 3)
    #expect(metrics.decisions("wide", "allowed", source: "local") == 3)
    #expect(metrics.decisions("wide", "limited", source: "local") == 0)
    #expect(metrics.decisions("watch", "allowed", source: "local") == 2)
    #expect(metrics.decisions("watch", "shadow_limited", source: "local") == 1)
}

@Test func concurrentRequestsNeverExceedTheBurst() async {
    let limiter = InProcessRateLimiter(rules: [
        RateLimitRule(name: "fleet", count: 1, periodMicroseconds: 3600 * second, burst: 100)
    ])
    let allowed = await withTaskGroup(of: Int.self) { group in
        for _ in 0..<8 {
            group.addTask {
                (0..<50).reduce(0) { count, _ in count + (limiter.decide(TestRequest())?.verdict == .allowed ? 1 : 0) }
            }
        }
        return await group.reduce(0, +)
    }
    #expect(allowed == 100)
}
