import Foundation
import Limiter
// Logging is not a declared dependency of this target (Package.swift is not ours to edit), but the
// module is built for Limiter and visible; the limiter takes a Logger.
import Logging
import NIOCore
import NIOPosix
import TestSupport
import Testing

@Suite(
    .enabled(if: RedisServerProcess.isAvailable, "redis-server is not installed: apt-get install -y redis-server"),
    .serialized,
    .timeLimit(.minutes(1))
)
struct RedisRateLimiterTests {
    // MARK: Decisions

    @Test func burstThenDenialWithPolicyData() async throws {
        try await withLimiter(rules: ["api": "10/m burst 5 by header:X-User"]) { redis in
            for (index, remaining) in [4, 3, 2, 1, 0].enumerated() {
                let outcome = try await redis.check(apiRequest())
                #expect(outcome.wasPending)
                let decision = try #require(outcome.decision)
                #expect(decision.verdict == .allowed)
                let policy = try #require(decision.policy)
                #expect(policy.rule == "api")
                #expect(policy.quota == 10)
                #expect(policy.windowSeconds == 60)
                #expect(policy.remaining == remaining)
                #expect(policy.retryAfterMicroseconds == 0)
                // Full again after (index + 1) emission intervals of 6 s, less the time the test took.
                let full = Int64(index + 1) * 6_000_000
                #expect(policy.resetMicroseconds <= full && policy.resetMicroseconds > full - 3_000_000)
            }
            let denied = try await redis.check(apiRequest())
            #expect(denied.wasPending)
            #expect(denied.verdict == .limited)
            let policy = try #require(denied.decision?.policy)
            #expect(policy.rule == "api")
            #expect(policy.remaining == 0)
            #expect(policy.retryAfterMicroseconds <= 6_000_000 && policy.retryAfterMicroseconds > 3_000_000)
            // Another client has its own bucket; a request no rule matches is unlimited.
            #expect(try await redis.check(apiRequest(user: "bob")).verdict == .allowed)
            let other = try await redis.check(TestRequest(method: "GET", path: "/elsewhere"))
            guard case .unlimited = other else {
                Issue.record("expected unlimited, got \(other)")
                return
            }
        }
    }

    @Test func costSpendsSeveralTokens() async throws {
        try await withLimiter(rules: ["api": "10/m burst 5 by header:X-User cost 2"]) { redis in
            let first = try await redis.check(apiRequest())
            #expect(first.verdict == .allowed && first.decision?.policy?.remaining == 3)
            let second = try await redis.check(apiRequest())
            #expect(second.verdict == .allowed && second.decision?.policy?.remaining == 1)
            // One token left, two needed.
            let third = try await redis.check(apiRequest())
            #expect(third.verdict == .limited)
            #expect(third.decision?.policy?.remaining == 1)
        }
    }

    @Test func shadowNeverDeniesButIsCounted() async throws {
        try await withLimiter(rules: ["watch": "1/m burst 1 by header:X-User shadow"]) { redis in
            let key = try redis.bucketKey("watch", apiRequest())
            for _ in 0..<4 {
                let outcome = try await redis.check(apiRequest())
                #expect(outcome.wasPending)
                #expect(outcome.verdict == .allowed)
                // Shadow rules report no policy: nothing is enforced.
                #expect(outcome.decision?.policy == nil)
            }
            // Counted: the first request spent the shadow bucket's only token, in Redis.
            let tat = try #require(try await redis.get(key))
            #expect(Int64(tat) != nil)
            let ttl = try await redis.admin.send("PTTL", key).get()
            guard case .integer(let milliseconds) = ttl else {
                Issue.record("PTTL answered \(ttl)")
                return
            }
            #expect(milliseconds > 50_000 && milliseconds <= 60_000)
        }
    }

    @Test func shadowNextToAnEnforcedRule() async throws {
        try await withLimiter(rules: ["api": "10/m burst 3 by header:X-User", "watch": "1/m burst 1 shadow"]) {
            redis in
            var verdicts: [RateLimitDecision.Verdict?] = []
            for _ in 0..<4 { verdicts.append(try await redis.check(apiRequest()).verdict) }
            // The shadow rule denies from the second request on, yet only the enforced rule limits.
            #expect(verdicts == [.allowed, .allowed, .allowed, .limited])
        }
    }

    @Test func allOrNothingAcrossRules() async throws {
        try await withLimiter(rules: ["per_user": "3/m burst 3 by header:X-User", "fleet": "4/m burst 4"]) { redis in
            let fleetKey = try redis.bucketKey("fleet", apiRequest())
            for _ in 0..<3 { #expect(try await redis.check(apiRequest()).verdict == .allowed) }
            let tatBefore = try await redis.get(fleetKey)
            // Alice's own bucket is empty: denied by per_user, and the fleet bucket must not pay.
            let denied = try await redis.check(apiRequest())
            #expect(denied.verdict == .limited)
            #expect(denied.decision?.policy?.rule == "per_user")
            #expect(try await redis.get(fleetKey) == tatBefore)
            // So the fleet bucket still has its fourth token for Bob, and it is his tightest rule.
            let bob = try await redis.check(apiRequest(user: "bob"))
            #expect(bob.verdict == .allowed)
            #expect(bob.decision?.policy?.rule == "fleet")
            #expect(bob.decision?.policy?.remaining == 0)
            let carol = try await redis.check(apiRequest(user: "carol"))
            #expect(carol.verdict == .limited)
            #expect(carol.decision?.policy?.rule == "fleet")
        }
    }

    // MARK: Batching and the deny cache

    @Test func checksOfOneLoopTickShareOneEVALSHA() async throws {
        try await withLimiter(rules: ["api": "10/m burst 10"]) { redis in
            let before = try await redis.commandCalls("evalsha")
            let outcomes = try await redis.checkTogether(Array(repeating: apiRequest(), count: 50))
            let after = try await redis.commandCalls("evalsha")
            #expect(after - before == 1)
            #expect(outcomes.allSatisfy { $0.wasPending })
            let verdicts = outcomes.map(\.verdict)
            // Applied in order: the first ten take the burst.
            #expect(verdicts == Array(repeating: .allowed, count: 10) + Array(repeating: .limited, count: 40))
            #expect(outcomes.prefix(10).map { $0.decision?.policy?.remaining } == (0..<10).reversed().map { $0 })
        }
    }

    @Test func theBatchSizeCapFlushesEarly() async throws {
        try await withLimiter(rules: ["api": "10/m burst 10"], maximumBatchSize: 16) { redis in
            let before = try await redis.commandCalls("evalsha")
            let outcomes = try await redis.checkTogether(Array(repeating: apiRequest(), count: 50))
            let after = try await redis.commandCalls("evalsha")
            // 16 + 16 + 16 + 2.
            #expect(after - before == 4)
            #expect(outcomes.filter { $0.verdict == .allowed }.count == 10)
            #expect(outcomes.prefix(10).allSatisfy { $0.verdict == .allowed })
        }
    }

    @Test func loopsBatchSeparatelyAndShareTheBuckets() async throws {
        try await withLimiter(rules: ["api": "10/m burst 10"], loopCount: 2) { redis in
            let before = try await redis.commandCalls("evalsha")
            async let first = redis.checkTogether(Array(repeating: apiRequest(), count: 8), loop: 0)
            async let second = redis.checkTogether(Array(repeating: apiRequest(), count: 8), loop: 1)
            let outcomes = try await first + second
            // One EVALSHA per loop, over one connection each; the fleet bucket is shared.
            #expect(try await redis.commandCalls("evalsha") - before == 2)
            #expect(outcomes.allSatisfy { $0.wasPending })
            #expect(outcomes.filter { $0.verdict == .allowed }.count == 10)
            let clients = try await redis.admin.send("CLIENT", "LIST").get()
            guard case .bulkString(let bytes?) = clients else {
                Issue.record("CLIENT LIST answered \(clients)")
                return
            }
            // The admin connection and one per loop.
            #expect(String(decoding: bytes, as: UTF8.self).split(whereSeparator: \.isNewline).count == 3)
        }
    }

    @Test func aDenialIsCachedUntilItsRetryAfter() async throws {
        // One token per 400 ms, burst 1.
        try await withLimiter(rules: ["api": "5/2s burst 1 by header:X-User"]) { redis in
            #expect(try await redis.check(apiRequest()).verdict == .allowed)
            let denied = try await redis.check(apiRequest())
            #expect(denied.wasPending && denied.verdict == .limited)
            let retryAfter = try #require(denied.decision?.policy?.retryAfterMicroseconds)
            let calls = try await redis.commandCalls("evalsha")
            for _ in 0..<5 {
                let cached = try await redis.check(apiRequest())
                guard case .decided(let decision) = cached else {
                    Issue.record("expected a cached denial, got \(cached)")
                    continue
                }
                #expect(decision.verdict == .limited)
                #expect(decision.policy?.rule == "api")
                let cachedRetry = try #require(decision.policy?.retryAfterMicroseconds)
                #expect(cachedRetry > 0 && cachedRetry <= retryAfter)
            }
            #expect(try await redis.commandCalls("evalsha") == calls)
            // Other clients are not affected by Alice's cached denial.
            #expect(try await redis.check(apiRequest(user: "bob")).wasPending)
            // Once the retry-after has passed Redis decides again, and allows.
            try await Task.sleep(for: .microseconds(retryAfter) + .milliseconds(50))
            let again = try await redis.check(apiRequest())
            #expect(again.wasPending)
            #expect(again.verdict == .allowed)
        }
    }

    @Test func aCachedDenialEndsNoLaterThanRedisWouldAllow() async throws {
        // One token per second, burst 1.
        try await withLimiter(rules: ["api": "1/s burst 1 by header:X-User"], timeout: .seconds(2)) { redis in
            #expect(try await redis.check(apiRequest()).verdict == .allowed)
            // The denial's reply is read late: the loop is busy for 500 ms right after sending.
            let limiter = redis.limiter
            let loop = redis.loop
            let sent = ContinuousClock.now
            let check = try await loop.submit {
                let check = limiter.check(apiRequest(), on: loop)
                loop.execute { usleep(500_000) }
                return check
            }.get()
            guard case .pending(let future) = check else {
                Issue.record("expected the denial from Redis, got \(check)")
                return
            }
            let denied = try await future.get()
            #expect(denied.verdict == .limited)
            let retryAfter = try #require(denied.policy?.retryAfterMicroseconds)
            // Redis counted the retry-after from before the reply was read; once it has passed,
            // Redis allows, and the cache must not deny for the 500 ms the reply was late.
            try await Task.sleep(until: sent + .microseconds(retryAfter) + .milliseconds(150))
            let after = try await redis.check(apiRequest())
            #expect(after.wasPending)
            #expect(after.verdict == .allowed)
        }
    }

    // MARK: Redis losing its state or going away

    @Test func noScriptReloadsAndResends() async throws {
        try await withLimiter(rules: ["api": "10/m burst 5 by header:X-User"]) { redis in
            #expect(try await redis.check(apiRequest()).decision?.policy?.remaining == 4)
            let loads = try await redis.commandCalls("script|load")
            _ = try await redis.admin.send("SCRIPT", "FLUSH").get()
            let outcome = try await redis.check(apiRequest())
            // Decided by Redis with the bucket's stored state (failure mode closed would say unavailable).
            #expect(outcome.wasPending)
            #expect(outcome.verdict == .allowed)
            #expect(outcome.decision?.policy?.remaining == 3)
            #expect(try await redis.commandCalls("script|load") == loads + 1)
            #expect(try await redis.check(apiRequest()).decision?.policy?.remaining == 2)
        }
    }

    @Test func redisStoppedWithFailureModeOpen() async throws {
        try await withLimiter(rules: ["api": "1/m burst 1"], failureMode: { _ in .open }) { redis in
            #expect(try await redis.check(apiRequest()).verdict == .allowed)
            redis.server.stop()
            let outcomes = try await checksWhileDown(redis, count: 10)
            #expect(outcomes.allSatisfy { $0.verdict == .allowed })
        }
    }

    @Test func redisStoppedWithFailureModeClosed() async throws {
        try await withLimiter(rules: ["api": "100/m burst 100"], failureMode: { _ in .closed }) { redis in
            #expect(try await redis.check(apiRequest()).verdict == .allowed)
            redis.server.stop()
            let outcomes = try await checksWhileDown(redis, count: 10)
            #expect(outcomes.allSatisfy { $0.verdict == .unavailable })
        }
    }

    @Test func redisStoppedWithFailureModeLocal() async throws {
        try await withLimiter(
            rules: ["api": "10/m burst 10"],
            failureMode: { rules in .local(InProcessRateLimiter(rules: rules, divisor: 2)) }
        ) { redis in
            #expect(try await redis.check(apiRequest()).verdict == .allowed)
            redis.server.stop()
            let outcomes = try await checksWhileDown(redis, count: 8)
            // This replica's share: 10 / 2 = 5 tokens.
            #expect(outcomes.map(\.verdict) == Array(repeating: .allowed, count: 5) + [.limited, .limited, .limited])
            #expect(outcomes.first?.decision?.policy?.quota == 5)
        }
    }

    @Test func theLocalShareKeepsTheRulesCostWhileRedisIsDown() async throws {
        try await withLimiter(
            rules: ["jobs": "10/m cost 5"],
            failureMode: { rules in .local(InProcessRateLimiter(rules: rules, divisor: 3)) }
        ) { redis in
            #expect(try await redis.check(apiRequest()).verdict == .allowed)
            redis.server.stop()
            let outcomes = try await checksWhileDown(redis, count: 4)
            // This replica's share: one token per 18 s, a burst of 5 (not 10 / 3 = 3 < cost 5).
            #expect(outcomes.map(\.verdict) == [.allowed, .limited, .limited, .limited])
            let retryAfter = try #require(outcomes.last?.decision?.policy?.retryAfterMicroseconds)
            #expect(retryAfter > 80_000_000 && retryAfter <= 90_000_000)
        }
    }

    @Test func aRestartOnTheSamePortEmptiesTheDenyCache() async throws {
        try await withLimiter(rules: ["api": "1/h burst 1 by header:X-User"]) { redis in
            #expect(try await redis.check(apiRequest()).verdict == .allowed)
            let denied = try await redis.check(apiRequest())
            #expect(denied.wasPending && denied.verdict == .limited)
            // Cached for the next hour.
            let cached = try await redis.check(apiRequest())
            #expect(!cached.wasPending && cached.verdict == .limited)
            let port = redis.server.port
            redis.server.stop()
            let restarted = try await RedisServerProcess.start(port: port)
            defer { restarted.stop() }
            try await redis.waitUntilConnected()
            // Redis lost the bucket: the new connection dropped the cached denial, and Redis allows.
            let after = try await redis.check(apiRequest())
            #expect(after.wasPending)
            #expect(after.verdict == .allowed)
        }
    }

    @Test func reconnectsAfterARestartOnTheSamePort() async throws {
        try await withLimiter(rules: ["api": "1000/m burst 1000"], failureMode: { _ in .closed }) { redis in
            #expect(try await redis.check(apiRequest()).decision?.policy?.remaining == 999)
            let port = redis.server.port
            redis.server.stop()
            _ = try await checksWhileDown(redis, count: 5)
            let restarted = try await RedisServerProcess.start(port: port)
            defer { restarted.stop() }
            // The limiter reconnects by itself; the fresh server has an empty bucket.
            let deadline = ContinuousClock.now + .seconds(8)
            var last: Outcome?
            while ContinuousClock.now < deadline {
                let outcome = try await redis.check(apiRequest())
                last = outcome
                if outcome.wasPending, outcome.verdict == .allowed { break }
                #expect(outcome.verdict == .unavailable)
                try await Task.sleep(for: .milliseconds(50))
            }
            let reconnected = try #require(last)
            #expect(reconnected.wasPending)
            #expect(reconnected.decision?.policy?.remaining == 999)
        }
    }

    @Test func aDemotedMasterIsLeftAndDecisionsResumeOnceWritable() async throws {
        try await withLimiter(rules: ["api": "1000/m burst 1000"], failureMode: { _ in .closed }) { redis in
            #expect(try await redis.check(apiRequest()).verdict == .allowed)
            func connectionsReceived() async throws -> Int {
                let reply = try await redis.admin.send("INFO", "stats").get()
                guard case .bulkString(let bytes?) = reply else { return -1 }
                let line = String(decoding: bytes, as: UTF8.self).split(whereSeparator: \.isNewline)
                    .first { $0.hasPrefix("total_connections_received:") }
                return line.flatMap { Int($0.dropFirst("total_connections_received:".count)) } ?? -1
            }
            // The address now names a replica (as after a failover behind one DNS name): writes
            // get READONLY, and the limiter leaves the connection and makes a new one.
            let master = try await RedisServerProcess.start()
            defer { master.stop() }
            _ = try await redis.admin.send("REPLICAOF", "127.0.0.1", String(master.port)).get()
            let before = try await connectionsReceived()
            var sawFailure = false
            let deadline = ContinuousClock.now + .seconds(8)
            while ContinuousClock.now < deadline {
                let outcome = try await redis.check(apiRequest())
                if outcome.verdict == .unavailable { sawFailure = true }
                if sawFailure, try await connectionsReceived() > before { break }
                try await Task.sleep(for: .milliseconds(50))
            }
            #expect(sawFailure)
            #expect(try await connectionsReceived() > before, "the limiter kept its connection to the replica")
            // Promoted again: decided by Redis within the breaker's back-off.
            _ = try await redis.admin.send("REPLICAOF", "NO", "ONE").get()
            var resumed = false
            let promoted = ContinuousClock.now + .seconds(8)
            while ContinuousClock.now < promoted, !resumed {
                let outcome = try await redis.check(apiRequest())
                resumed = outcome.wasPending && outcome.verdict == .allowed
                if !resumed { try await Task.sleep(for: .milliseconds(50)) }
            }
            #expect(resumed)
        }
    }

    // MARK: Deadlines and bad replies

    @Test func aPausedRedisMissesTheDeadlineAndTheBatchIsNotResent() async throws {
        try await withLimiter(
            rules: ["api": "100/m burst 100"],
            failureMode: { _ in .closed },
            timeout: .milliseconds(100)
        ) { redis in
            let calls = try await redis.commandCalls("evalsha")
            redis.server.signal(SIGSTOP)
            let (outcome, took) = try await redis.timedCheck(apiRequest())
            #expect(outcome.wasPending)
            #expect(outcome.verdict == .unavailable)
            #expect(took < .seconds(1))
            // Still stopped: later checks are not queued behind the stopped server. (One may still be
            // sent on the closing connection, NIO completes `closeFuture` a tick after the close, and
            // fail at once.) Once the limiter has seen the close they are decided without waiting.
            var later: [Outcome] = []
            for _ in 0..<3 {
                let (outcome, took) = try await redis.timedCheck(apiRequest())
                #expect(outcome.verdict == .unavailable)
                #expect(took < .seconds(1))
                later.append(outcome)
            }
            #expect(later.last.map { !$0.wasPending } == true)
            try await Task.sleep(for: .milliseconds(500))
            redis.server.signal(SIGCONT)
            try await Task.sleep(for: .milliseconds(300))
            // The timed-out EVALSHA may have run late, but it was sent only once.
            #expect(try await redis.commandCalls("evalsha") <= calls + 1)
            try await redis.waitUntilConnected()
        }
    }

    @Test func clientPauseMissesTheDeadline() async throws {
        try await withLimiter(
            rules: ["api": "100/m burst 100"],
            failureMode: { _ in .open },
            timeout: .milliseconds(100)
        ) { redis in
            let pauser = try await redis.server.connect()
            defer { _ = pauser.close() }
            _ = try await pauser.send("CLIENT", "PAUSE", "2000", "ALL").get()
            let (outcome, took) = try await redis.timedCheck(apiRequest())
            #expect(outcome.verdict == .allowed)
            #expect(outcome.decision?.policy == nil)
            #expect(took < .seconds(1))
        }
    }

    @Test(arguments: [
        "notanumber", "inf", "nan", "-inf", "1e300", "12.5", "-5", "99999999999999999999", "9000000000000000000",
    ])
    func aDamagedBucketIsLimitedRewrittenAndCounted(value: String) async throws {
        let metrics = RecordingMetrics()
        let log = CapturedLog()
        try await withLimiter(
            rules: ["api": "10/m burst 3 by header:X-User"],
            metricsFactory: metrics,
            logger: log.logger
        ) { redis in
            let key = try redis.bucketKey("api", apiRequest())
            _ = try await redis.admin.send("SET", key, value).get()
            // Decided by Redis as an empty bucket: limited, not reset to a full one.
            let outcome = try await redis.check(apiRequest())
            #expect(outcome.wasPending)
            #expect(outcome.verdict == .limited)
            #expect(outcome.decision?.policy?.remaining == 0)
            #expect(outcome.decision?.policy?.retryAfterMicroseconds ?? 0 > 5_000_000)
            // Rewritten as an empty bucket (now + 18 s) that expires once full again.
            let stored = try #require(try await redis.get(key))
            #expect(stored.allSatisfy { $0.isNumber } && Int64(stored) != nil)
            let ttl = try await redis.admin.send("PTTL", key).get()
            guard case .integer(let milliseconds) = ttl else {
                Issue.record("PTTL answered \(ttl)")
                return
            }
            #expect(milliseconds > 15_000 && milliseconds <= 18_000)
            // Counted and logged once.
            #expect(redis.limiter.damagedBucketCount == 1)
            #expect(metrics.counter("sidecar_redis_errors_total", [("kind", "damaged_bucket")]) == 1)
            let warnings = log.messages(atLeast: .warning).filter { $0.contains("never writes") }
            #expect(warnings.count == 1 && warnings.first?.contains(key) == true)
            // Other buckets are unaffected.
            #expect(try await redis.check(apiRequest(user: "bob")).verdict == .allowed)
        }
    }

    @Test func aSecondDamagedBucketIsCountedNotLogged() async throws {
        let metrics = RecordingMetrics()
        let log = CapturedLog()
        try await withLimiter(
            rules: ["api": "10/m burst 3 by header:X-User"],
            metricsFactory: metrics,
            logger: log.logger
        ) { redis in
            for user in ["alice", "bob"] {
                _ = try await redis.admin.send("SET", try redis.bucketKey("api", apiRequest(user: user)), "x").get()
                #expect(try await redis.check(apiRequest(user: user)).verdict == .limited)
            }
            #expect(metrics.counter("sidecar_redis_errors_total", [("kind", "damaged_bucket")]) == 2)
            #expect(log.messages(atLeast: .warning).filter { $0.contains("never writes") }.count == 1)
        }
    }

    @Test func anErrorReplyFailsByTheFailureModeAndRecovers() async throws {
        try await withLimiter(
            rules: ["api": "100/m burst 100"],
            failureMode: { _ in .closed },
            breakerInitialBackoff: .milliseconds(100),
            breakerMaximumBackoff: .milliseconds(200)
        ) { redis in
            // Scripts that may write are refused while Redis is over its memory limit.
            _ = try await redis.admin.send("CONFIG", "SET", "maxmemory", "1").get()
            for _ in 0..<5 {
                let (outcome, took) = try await redis.timedCheck(apiRequest())
                #expect(outcome.verdict == .unavailable)
                #expect(took < .seconds(1))
            }
            _ = try await redis.admin.send("CONFIG", "SET", "maxmemory", "0").get()
            // The connection was never lost: once the breaker lets a probe through, Redis decides again.
            let deadline = ContinuousClock.now + .seconds(5)
            var recovered = false
            while ContinuousClock.now < deadline, !recovered {
                let outcome = try await redis.check(apiRequest())
                recovered = outcome.wasPending && outcome.verdict == .allowed
                if !recovered { try await Task.sleep(for: .milliseconds(50)) }
            }
            #expect(recovered)
        }
    }
}

@Suite(
    .enabled(if: RedisServerProcess.isAvailable, "redis-server is not installed: apt-get install -y redis-server"),
    .serialized,
    .timeLimit(.minutes(1))
)
struct RedisRateLimiterShutdownTests {
    private static let rules = [try! RuleParser.parse(name: "api", "100/m burst 100")]

    private static func configuration(port: Int, timeout: TimeAmount) -> RedisRateLimiter.Configuration {
        .init(redis: .init(host: "127.0.0.1", port: port, connectTimeout: .seconds(1)), timeout: timeout)
    }

    @Test func shutdownDecidesTheBatchInFlight() async throws {
        let server = try await RedisServerProcess.start()
        defer { server.stop() }
        let group = MultiThreadedEventLoopGroup(numberOfThreads: 1)
        let loop = group.next()
        let limiter = RedisRateLimiter(
            rules: Self.rules,
            configuration: Self.configuration(port: server.port, timeout: .seconds(10)),
            failureMode: .closed,
            group: group,
            logger: Logger(label: "test.redis-limiter")
        )
        let request = TestRequest(method: "GET", path: "/api")
        // Wait for the connection: a check that goes to Redis.
        let deadline = ContinuousClock.now + .seconds(5)
        while ContinuousClock.now < deadline {
            let check = try await loop.submit { limiter.check(request, on: loop) }.get()
            if case .pending(let future) = check, try await future.get().verdict == .allowed { break }
            try await Task.sleep(for: .milliseconds(20))
        }
        server.signal(SIGSTOP)
        defer { server.signal(SIGCONT) }
        let check = try await loop.submit { limiter.check(request, on: loop) }.get()
        guard case .pending(let future) = check else {
            Issue.record("expected the check to wait for Redis, got \(check)")
            return
        }
        let started = ContinuousClock.now
        await limiter.shutdown()
        // Not left waiting for its 10 s deadline: the failure mode decides it.
        #expect(try await future.get().verdict == .unavailable)
        #expect(ContinuousClock.now - started < .seconds(1))
        try await group.shutdownGracefully()
    }

    @Test func shutdownWhileConnectingThenReleasingTheLimiter() async throws {
        let server = try await RedisServerProcess.start()
        defer { server.stop() }
        let group = MultiThreadedEventLoopGroup(numberOfThreads: 1)
        // Stopped: the kernel still accepts the connection, but SCRIPT LOAD waits for its 1 s deadline.
        server.signal(SIGSTOP)
        var limiter: RedisRateLimiter? = RedisRateLimiter(
            rules: Self.rules,
            configuration: Self.configuration(port: server.port, timeout: .milliseconds(100)),
            failureMode: .closed,
            group: group,
            logger: Logger(label: "test.redis-limiter")
        )
        try await Task.sleep(for: .milliseconds(200))
        await limiter?.shutdown()
        weak let released = limiter
        limiter = nil
        // The connection attempt fails after the limiter is gone; that must not crash.
        try await Task.sleep(for: .milliseconds(1_500))
        server.signal(SIGCONT)
        try await group.shutdownGracefully()
        #expect(released == nil)
    }
}

/// Checks `count` times while Redis is down: each decision within a second, and once the
/// limiter knows Redis is gone (the breaker open or no connection) without waiting at all.
private func checksWhileDown(_ redis: Harness, count: Int) async throws -> [Outcome] {
    var outcomes: [Outcome] = []
    for _ in 0..<count {
        let (outcome, took) = try await redis.timedCheck(apiRequest())
        #expect(took < .seconds(1))
        outcomes.append(outcome)
        try await Task.sleep(for: .milliseconds(10))
    }
    #expect(outcomes.suffix(3).allSatisfy { !$0.wasPending })
    return outcomes
}
