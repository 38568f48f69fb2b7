import Limiter
import NIOCore
import TestSupport
import Testing

/// Rules at the edges of ``RuleValueBounds``, each admitting a few requests before its burst is spent.
private let acceptedEdges = [
    // The largest count, burst and cost, with the shortest emission interval (1 µs).
    "1000000000/1000s cost 1000000000",
    // The largest count, burst and cost with the longest period: a refill time of exactly 36500 days.
    "1000000000/36500d cost 1000000000",
    "1000000000/36500d cost 500000000",
    "1/36500d",
    "1000/36500d burst 1000 cost 250",
    "1000000/d burst 1000000000 cost 1000000000",
    // T rounds up: the window is 2 µs over 36500 days, still accepted.
    "7/36500d",
    "3/s burst 1000000000 cost 999999999",
]

/// One past each bound, and the message naming the largest value accepted.
private let refusedEdges = [
    ("1000000001/1000s", "count 1000000001 is too large: the largest accepted is 1000000000"),
    ("3000000000/d", "count 3000000000 is too large: the largest accepted is 1000000000"),
    ("99999999999999999999999/d", "count 99999999999999999999999 is too large: the largest accepted is 1000000000"),
    ("1000000000/1000s burst 1000000001", "burst 1000000001 is too large: the largest accepted is 1000000000"),
    ("10/s burst 3000000000", "burst 3000000000 is too large: the largest accepted is 1000000000"),
    ("10/s cost 1000000001", "cost 1000000001 is too large: the largest accepted is 1000000000"),
    ("1/36501d", #"period "36501d" is too long: the largest accepted is 36500d"#),
    ("1/36500d burst 2", #"burst 2 is too large for "1/36500d": the largest accepted is 1 "#),
    ("1/36500d burst 3000 cost 3000", #"burst 3000 is too large for "1/36500d": the largest accepted is 1 "#),
    ("1000/36500d burst 1001", #"burst 1001 is too large for "1000/36500d": the largest accepted is 1000 "#),
    ("1/d burst 36501", #"burst 36501 is too large for "1/d": the largest accepted is 36500 "#),
]

@Suite struct RuleValueBoundsTests {
    @Test(arguments: acceptedEdges)
    func theLargestValuesParse(text: String) throws {
        let rule = try RuleParser.parse(name: "edge", text)
        let parameters = GCRAParameters(rule: rule)
        #expect(
            parameters.burstToleranceMicroseconds + parameters.emissionIntervalMicroseconds
                <= RuleValueBounds.maximumBurstWindowMicroseconds
        )
        #expect(parameters.capacity == rule.burst)
    }

    @Test(arguments: refusedEdges)
    func onePastEachBoundIsRefusedNamingTheLargest(text: String, message: String) {
        #expect {
            try RuleParser.parse(name: "edge", text)
        } throws: { error in
            (error as? RuleParseError)?.message.contains(message) == true
        }
    }

    @Test func theLocalShareOfTheLargestRulesStaysWithinTheBounds() throws {
        for text in acceptedEdges {
            let rule = try RuleParser.parse(name: "edge", text)
            for divisor in [2, 3, 1000, Int(Int32.max)] {
                let share = GCRAParameters(rule: rule, divisor: divisor)
                #expect(share.capacity >= rule.cost)
                #expect(
                    share.burstToleranceMicroseconds + share.emissionIntervalMicroseconds
                        <= RuleValueBounds.maximumBurstWindowMicroseconds
                )
                // A request of the rule passes a full share, and a second one right after it does not trap.
                let first = share.evaluate(tat: nil, cost: rule.cost, now: 1_800_000_000_000_000)
                #expect(first.allowed)
                _ = share.evaluate(tat: first.newTAT, cost: rule.cost, now: 1_800_000_000_000_000)
            }
        }
    }
}

@Suite(
    .enabled(if: RedisServerProcess.isAvailable, "redis-server is not installed: apt-get install -y redis-server"),
    .serialized,
    .timeLimit(.minutes(2))
)
struct RuleValueBoundsLimiterTests {
    /// Both limiters admit exactly the burst, then deny, with the same remaining and retry-after.
    /// Redis's clock runs on while the test does: its times are shorter, by at most the time
    /// elapsed, twice over for a cached denial (counted from when its batch was sent).
    @Test(arguments: acceptedEdges)
    func bothLimitersDecideTheLargestValuesAlike(text: String) async throws {
        try await withLimiter(rules: ["edge": text]) { redis in
            let clock = ManualClock()
            let inProcess = InProcessRateLimiter(rules: redis.rules, clock: { clock.now })
            let rule = try #require(redis.rules.first)
            let interval = GCRAParameters(rule: rule).emissionIntervalMicroseconds
            let admitted = rule.burst / rule.cost
            #expect(admitted >= 1 && admitted <= 8)
            let started = ContinuousClock.now
            for attempt in 0...(admitted + 1) {
                let request = apiRequest()
                let local = try #require(inProcess.decide(request))
                let remote = try #require(try await redis.check(request).decision)
                let slack = 2 * Int64((ContinuousClock.now - started) / .microseconds(1)) + 1
                let expectedVerdict: RateLimitDecision.Verdict = attempt < admitted ? .allowed : .limited
                #expect(local.verdict == expectedVerdict, "\(text), request \(attempt + 1)")
                #expect(remote.verdict == expectedVerdict, "\(text), request \(attempt + 1)")
                let localPolicy = try #require(local.policy)
                let remotePolicy = try #require(remote.policy)
                let spent = min(attempt + 1, admitted)
                #expect(localPolicy.remaining == rule.burst - spent * rule.cost)
                // Redis may have refilled a token or so while the test ran (1 µs each for the fastest rule).
                #expect(remotePolicy.remaining >= localPolicy.remaining)
                #expect(Int64(remotePolicy.remaining - localPolicy.remaining) <= slack / interval + 1)
                let expectedRetry =
                    attempt < admitted
                    ? 0 : Int64(admitted + 1) * Int64(rule.cost) * interval - Int64(rule.burst) * interval
                #expect(localPolicy.retryAfterMicroseconds == expectedRetry)
                #expect(remotePolicy.retryAfterMicroseconds <= localPolicy.retryAfterMicroseconds)
                #expect(remotePolicy.retryAfterMicroseconds >= localPolicy.retryAfterMicroseconds - slack)
                #expect(localPolicy.resetMicroseconds == Int64(spent * rule.cost) * interval)
                #expect(remotePolicy.resetMicroseconds <= localPolicy.resetMicroseconds)
                #expect(remotePolicy.resetMicroseconds >= localPolicy.resetMicroseconds - slack)
            }
            // The bucket Redis stored is an exact integer TAT, one full window ahead at most.
            let stored = try #require(try await redis.get(try redis.bucketKey("edge", apiRequest())))
            #expect(!stored.isEmpty && stored.allSatisfy { $0.isNumber })
        }
    }
}
