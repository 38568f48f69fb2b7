import Limiter
import NIOCore
import TestSupport
import Testing

/// A request of `user` in `tenant`: the enforced rule keys on the user, the shadow rule on the tenant.
private func request(_ user: String, _ tenant: String) -> TestRequest {
    TestRequest(method: "GET", path: "/api", headers: ["x-user": user, "x-tenant": tenant])
}

/// Both rules per hour: no token comes back while the test runs.
private let rules: KeyValuePairs<String, String> = [
    "api": "2/h burst 2 by header:X-User",
    "watch": "4/h burst 4 by header:X-Tenant cost 2 shadow",
]

/// The sequence and what the documented rule says of each request: the enforced verdict, and
/// whether the shadow rule spends (`true`), would deny (`false`) or is not counted (`nil`, the
/// request was denied, so nothing spends).
private let sequence: [(user: String, tenant: String, verdict: RateLimitDecision.Verdict, shadow: Bool?)] = [
    ("alice", "t1", .allowed, true),
    ("alice", "t1", .allowed, true),
    // Denied: the shadow bucket (empty anyway) is neither spent nor counted.
    ("alice", "t1", .limited, nil),
    ("bob", "t2", .allowed, true),
    // Denied (from the deny cache in Redis): t2 keeps its 2 tokens.
    ("alice", "t2", .limited, nil),
    ("bob", "t2", .allowed, true),
    // Forwarded, and t1 is empty: shadow_limited, nothing spent.
    ("carol", "t1", .allowed, false),
    ("alice", "t1", .limited, nil),
    ("bob", "t2", .limited, nil),
    ("dave", "t3", .allowed, true),
    ("erin", "t4", .allowed, true),
    ("erin", "t4", .allowed, true),
    // Denied by Redis itself: t5 must not spend, so frank gets both of its spends.
    ("erin", "t5", .limited, nil),
    ("frank", "t5", .allowed, true),
    ("frank", "t5", .allowed, true),
]

@Suite(
    .enabled(if: RedisServerProcess.isAvailable, "redis-server is not installed: apt-get install -y redis-server"),
    .serialized,
    .timeLimit(.minutes(1))
)
struct ShadowRuleTests {
    @Test func bothLimitersSpendAndCountShadowRulesAlike() async throws {
        let redisMetrics = RecordingMetrics()
        let localMetrics = RecordingMetrics()
        try await withLimiter(rules: rules, metricsFactory: redisMetrics) { redis in
            let clock = ManualClock()
            let inProcess = InProcessRateLimiter(
                rules: redis.rules,
                configuration: .init(metricsFactory: localMetrics),
                clock: { clock.now }
            )
            let started = ContinuousClock.now
            for (step, expected) in sequence.enumerated() {
                let local = try #require(inProcess.decide(request(expected.user, expected.tenant)))
                let remote = try #require(try await redis.check(request(expected.user, expected.tenant)).decision)
                // Redis's clock runs on; a cached denial counts from when its batch was sent.
                let slack = 2 * Int64((ContinuousClock.now - started) / .microseconds(1)) + 1
                #expect(local.verdict == expected.verdict, "request \(step + 1)")
                #expect(remote.verdict == expected.verdict, "request \(step + 1)")
                let localPolicy = try #require(local.policy)
                let remotePolicy = try #require(remote.policy)
                #expect(localPolicy.rule == "api" && remotePolicy.rule == "api")
                #expect(localPolicy.remaining == remotePolicy.remaining, "request \(step + 1)")
                #expect(remotePolicy.retryAfterMicroseconds <= localPolicy.retryAfterMicroseconds)
                #expect(remotePolicy.retryAfterMicroseconds >= localPolicy.retryAfterMicroseconds - slack)
                if step == 12 {
                    // Erin's denial wrote nothing to t5's shadow bucket.
                    #expect(try await redis.get(try redis.bucketKey("watch", request("erin", "t5"))) == nil)
                }
            }
            let expectedCounts: [(rule: String, decision: String, count: Int64)] = [
                ("api", "allowed", Int64(sequence.count { $0.verdict == .allowed })),
                ("api", "limited", Int64(sequence.count { $0.verdict == .limited })),
                ("watch", "allowed", Int64(sequence.count { $0.shadow == true })),
                ("watch", "shadow_limited", Int64(sequence.count { $0.shadow == false })),
                ("watch", "limited", 0),
                ("api", "shadow_limited", 0),
            ]
            for (rule, decision, count) in expectedCounts {
                let local = localMetrics.decisions(rule, decision, source: "local")
                let remote =
                    redisMetrics.decisions(rule, decision, source: "redis")
                    + redisMetrics.decisions(rule, decision, source: "cache")
                #expect(local == count, "\(rule) \(decision) in process")
                #expect(remote == count, "\(rule) \(decision) through Redis")
            }
        }
    }
}
