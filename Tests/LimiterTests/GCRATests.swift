import Testing

@testable import Limiter

/// 10/s with burst 5: T = 100 ms, τ = 400 ms, a full bucket reaches 500 ms ahead.
private let tenPerSecondBurstFive = GCRAParameters(count: 10, periodMicroseconds: 1_000_000, burst: 5)
private let start: Int64 = 1_700_000_000_000_000

@Test func parametersFollowCountPeriodAndBurst() {
    #expect(tenPerSecondBurstFive.emissionIntervalMicroseconds == 100_000)
    #expect(tenPerSecondBurstFive.burstToleranceMicroseconds == 400_000)
    #expect(tenPerSecondBurstFive.capacity == 5)
    // 3/s does not divide: the interval rounds up, so the rate is never above the limit.
    #expect(GCRAParameters(count: 3, periodMicroseconds: 1_000_000, burst: 3).emissionIntervalMicroseconds == 333_334)
}

@Test func divisorSharesRateAndBurst() {
    let share = GCRAParameters(count: 10, periodMicroseconds: 1_000_000, burst: 20, divisor: 3)
    #expect(share.emissionIntervalMicroseconds == 300_000)
    #expect(share.capacity == 6)
    // Fewer tokens than replicas: still one per period, burst one.
    let floor = GCRAParameters(count: 2, periodMicroseconds: 1_000_000, burst: 2, divisor: 3)
    #expect(floor.emissionIntervalMicroseconds == 1_000_000)
    #expect(floor.capacity == 1)
}

@Test func theLocalShareKeepsTheBurstAtTheCost() {
    // 10/m burst 10 cost 5 over 3 replicas: 10 / 3 rounds down to 3 tokens, below the cost; kept at 5.
    let share = GCRAParameters(count: 10, periodMicroseconds: 60_000_000, burst: 10, divisor: 3, cost: 5)
    #expect(share.capacity == 5)
    #expect(share.emissionIntervalMicroseconds == 18_000_000)
    #expect(share.evaluate(tat: nil, cost: 5, now: start).allowed)
    let rule = RateLimitRule(name: "jobs", count: 10, periodMicroseconds: 60_000_000, cost: 5)
    #expect(GCRAParameters(rule: rule, divisor: 3) == share)
}

@Test func aTATBeyondTheWindowCountsAsAnEmptyBucket() {
    let damaged = start + 10_000_000
    let outcome = tenPerSecondBurstFive.evaluate(tat: damaged, cost: 1, now: start)
    #expect(
        outcome
            == GCRABucketOutcome(
                allowed: false,
                remaining: 0,
                retryAfterMicroseconds: 100_000,
                resetMicroseconds: 500_000,
                newTAT: start + 500_000
            )
    )
    let batch = GCRABatch(
        keys: ["a"],
        parameters: [tenPerSecondBurstFive],
        checks: [GCRACheck(cost: 1, keyIndices: [0])]
    )
    var tats = ["a": damaged]
    #expect(batch.decide(now: start, tats: &tats).map(\.allowed) == [false])
    #expect(tats == ["a": start + 500_000])
}

@Test func shadowSpendsFollowAnAllowedCheckOnly() {
    let tight = GCRAParameters(count: 1, periodMicroseconds: 1_000_000, burst: 1)
    let check = GCRACheck(spends: [.init(keyIndex: 0, cost: 1)], shadowSpends: [.init(keyIndex: 1, cost: 3)])
    let batch = GCRABatch(keys: ["api", "watch"], parameters: [tight, tenPerSecondBurstFive], checks: [check, check])
    var tats: [String: Int64] = [:]
    let results = batch.decide(now: start, tats: &tats)
    #expect(results.map(\.allowed) == [true, false])
    #expect(results.map(\.shadowSpent) == [[true], []])
    // The denied check spent nothing on the shadow bucket: 2 tokens left, so a cost of 3 would deny.
    #expect(tats["watch"] == start + 300_000)
    let shadowOnly = GCRABatch(
        keys: ["watch"],
        parameters: [tenPerSecondBurstFive],
        checks: [GCRACheck(spends: [], shadowSpends: [.init(keyIndex: 0, cost: 3)])]
    )
    #expect(shadowOnly.decide(now: start, tats: &tats).map(\.shadowSpent) == [[false]])
    #expect(tats["watch"] == start + 300_000)
}

@Test func burstThenDenialWithRetryAfterAndReset() {
    var tat: Int64? = nil
    for expectedRemaining in [4, 3, 2, 1, 0] {
        let outcome = tenPerSecondBurstFive.evaluate(tat: tat, cost: 1, now: start)
        #expect(outcome.allowed)
        #expect(outcome.remaining == expectedRemaining)
        #expect(outcome.resetMicroseconds == Int64(5 - expectedRemaining) * 100_000)
        #expect(outcome.retryAfterMicroseconds == 0)
        tat = outcome.newTAT
    }
    let denied = tenPerSecondBurstFive.evaluate(tat: tat, cost: 1, now: start)
    #expect(!denied.allowed)
    #expect(denied.remaining == 0)
    #expect(denied.retryAfterMicroseconds == 100_000)
    #expect(denied.resetMicroseconds == 500_000)
    // 30 ms later the wait is 70 ms.
    #expect(tenPerSecondBurstFive.evaluate(tat: tat, cost: 1, now: start + 30_000).retryAfterMicroseconds == 70_000)
}

@Test func steadyRateAdmitsOnePerEmissionInterval() {
    var tat: Int64? = nil
    var now = start
    // Drain the burst, then one request per 100 ms passes and a second in the same instant fails.
    for _ in 0..<5 { tat = tenPerSecondBurstFive.evaluate(tat: tat, cost: 1, now: now).newTAT }
    for _ in 0..<20 {
        now += 100_000
        let passing = tenPerSecondBurstFive.evaluate(tat: tat, cost: 1, now: now)
        #expect(passing.allowed && passing.remaining == 0)
        tat = passing.newTAT
        #expect(!tenPerSecondBurstFive.evaluate(tat: tat, cost: 1, now: now).allowed)
    }
    // Idle for the whole burst window: full again, an expired TAT counts as absent.
    now += 500_000
    #expect(tenPerSecondBurstFive.evaluate(tat: tat, cost: 1, now: now).remaining == 4)
}

@Test func costSpendsSeveralTokens() {
    let first = tenPerSecondBurstFive.evaluate(tat: nil, cost: 3, now: start)
    #expect(first.allowed && first.remaining == 2 && first.resetMicroseconds == 300_000)
    let second = tenPerSecondBurstFive.evaluate(tat: first.newTAT, cost: 3, now: start)
    #expect(!second.allowed)
    #expect(second.remaining == 2)
    #expect(second.retryAfterMicroseconds == 100_000)
    #expect(second.resetMicroseconds == 300_000)
    // A cost above the burst never passes.
    #expect(!tenPerSecondBurstFive.evaluate(tat: nil, cost: 6, now: start).allowed)
}

@Test func batchIsAllOrNothingPerCheck() {
    let tight = GCRAParameters(count: 1, periodMicroseconds: 1_000_000, burst: 1)
    let batch = GCRABatch(
        keys: ["tight", "loose"],
        parameters: [tight, tenPerSecondBurstFive],
        checks: [
            GCRACheck(cost: 1, keyIndices: [0, 1]),
            GCRACheck(cost: 1, keyIndices: [0, 1]),
            GCRACheck(cost: 1, keyIndices: [1]),
        ]
    )
    var tats: [String: Int64] = [:]
    let results = batch.decide(now: start, tats: &tats)
    #expect(
        results[0]
            == GCRACheckResult(allowed: true, remaining: 0, retryAfterMicroseconds: 0, resetMicroseconds: 1_000_000)
    )
    // Denied by "tight": "loose" spends nothing, reports its untouched 4 tokens; the minimum is 0.
    #expect(
        results[1]
            == GCRACheckResult(
                allowed: false,
                remaining: 0,
                retryAfterMicroseconds: 1_000_000,
                resetMicroseconds: 1_000_000
            )
    )
    #expect(
        results[2]
            == GCRACheckResult(allowed: true, remaining: 3, retryAfterMicroseconds: 0, resetMicroseconds: 200_000)
    )
    #expect(tats == ["tight": start + 1_000_000, "loose": start + 200_000])
}

@Test func perBucketCostsInOneCheck() {
    let batch = GCRABatch(
        keys: ["a", "b"],
        parameters: [tenPerSecondBurstFive, tenPerSecondBurstFive],
        checks: [GCRACheck(spends: [.init(keyIndex: 0, cost: 1), .init(keyIndex: 1, cost: 4)])]
    )
    var tats: [String: Int64] = [:]
    let result = batch.decide(now: start, tats: &tats)[0]
    #expect(
        result
            == GCRACheckResult(
                allowed: true,
                remaining: 1,
                retryAfterMicroseconds: 0,
                resetMicroseconds: 400_000,
                limitingSpend: 1
            )
    )
}

@Test func sha1HexMatchesKnownVectors() {
    #expect(SHA1Hex.of(Array("".utf8)) == "da39a3ee5e6b4b0d3255bfef95601890afd80709")
    #expect(SHA1Hex.of(Array("abc".utf8)) == "a9993e364706816aba3e25717850c26c9cd0d89d")
    #expect(SHA1Hex.of(Array("abc".utf8), prefix: 8) == "a9993e364706816a")
}

@Test func bucketKeysHashTheClientKey() {
    let name = RedisBucketKey.name(rule: "per_user", clientKey: "header:x-api-key:6:secret")
    #expect(name.hasPrefix("sidecar:{") && name.hasSuffix("}:per_user"))
    #expect(!name.contains("secret"))
    #expect(name.count == "sidecar:{}:per_user".count + 16)
    #expect(RedisBucketKey.name(rule: "fleet", clientKey: nil) == "sidecar:{global}:fleet")
}
