import Limiter
import NIOCore
import TestSupport
import Testing

/// A deterministic generator (SplitMix64) so a failing sequence can be replayed from its seed.
private struct SplitMix64: RandomNumberGenerator {
    var state: UInt64
    mutating func next() -> UInt64 {
        self.state &+= 0x9E37_79B9_7F4A_7C15
        var z = self.state
        z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
        z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
        return z ^ (z >> 31)
    }
}

private func withRedis(
    extraArguments: [String] = [],
    _ body: (RedisServerProcess, RedisConnection) async throws -> Void
) async throws {
    let server = try await RedisServerProcess.start(extraArguments: extraArguments)
    defer { server.stop() }
    let connection = try await server.connect()
    do {
        try await body(server, connection)
    } catch {
        try? await connection.close().get()
        throw error
    }
    try? await connection.close().get()
}

private func integer(_ value: RESPValue) -> Int64? {
    if case .integer(let integer) = value { return integer }
    return nil
}

/// Redis's clock, in microseconds.
private func redisMicroseconds(_ connection: RedisConnection) async throws -> Int64 {
    let time = try await connection.send("TIME").get()
    guard case .array(let parts?) = time, parts.count == 2, let seconds = text(parts[0]).flatMap({ Int64($0) }),
        let microseconds = text(parts[1]).flatMap({ Int64($0) })
    else { throw RedisError.unexpectedReply(command: "TIME", reply: "\(time)") }
    return seconds * 1_000_000 + microseconds
}

private func text(_ value: RESPValue) -> String? {
    if case .bulkString(let bytes?) = value { return String(decoding: bytes, as: UTF8.self) }
    if case .simpleString(let string) = value { return string }
    return nil
}

@Suite(
    .enabled(if: RedisServerProcess.isAvailable, "redis-server is not installed: apt-get install -y redis-server"),
    .timeLimit(.minutes(1))
)
struct RedisGCRATests {
    @Test func scriptSHA1IsWhatRedisComputes() async throws {
        try await withRedis { _, connection in
            let sha1 = try await connection.scriptLoad(GCRAScript.source).get()
            #expect(sha1 == GCRAScript.sha1)
        }
    }

    @Test(arguments: [1, 2, 3, 4, 5, 6, 7, 8] as [UInt64])
    func scriptMatchesTheSwiftArithmetic(seed: UInt64) async throws {
        try await withRedis { _, connection in
            var random = SplitMix64(state: seed)
            let executor = RedisGCRAExecutor(connection: connection)
            // Emission intervals of a minute or more: the batches below run far faster, so
            // `allowed` and `remaining` are exact, and times drift only by the elapsed time.
            let keys = (0..<5).map { "sidecar:{k\($0)}:rule\(seed)" }
            let parameters = keys.map { _ in
                GCRAParameters(
                    count: Int.random(in: 1...50, using: &random),
                    periodMicroseconds: 3_600_000_000,
                    burst: Int.random(in: 1...8, using: &random)
                )
            }
            var model: [String: Int64] = [:]
            let modelNow: Int64 = 0
            let started = ContinuousClock.now
            for _ in 0..<4 {
                var batchKeys: [String] = []
                var batchParameters: [GCRAParameters] = []
                var checks: [GCRACheck] = []
                for _ in 0..<Int.random(in: 1...12, using: &random) {
                    var spends: [GCRACheck.Spend] = []
                    for key in keys.indices.shuffled(using: &random).prefix(Int.random(in: 1...3, using: &random)) {
                        if !batchKeys.contains(keys[key]) {
                            batchKeys.append(keys[key])
                            batchParameters.append(parameters[key])
                        }
                        spends.append(
                            .init(
                                keyIndex: batchKeys.firstIndex(of: keys[key])!,
                                cost: Int.random(in: 1...3, using: &random)
                            )
                        )
                    }
                    var check = GCRACheck(spends: spends)
                    // Sometimes a shadow spend on a bucket of its own (the shadow rules' keys differ).
                    if Bool.random(using: &random) {
                        let shadowKey = "sidecar:{s\(Int.random(in: 0..<2, using: &random))}:shadow\(seed)"
                        if !batchKeys.contains(shadowKey) {
                            batchKeys.append(shadowKey)
                            batchParameters.append(parameters[0])
                        }
                        check.shadowSpends.append(
                            .init(
                                keyIndex: batchKeys.firstIndex(of: shadowKey)!,
                                cost: Int.random(in: 1...3, using: &random)
                            )
                        )
                    }
                    checks.append(check)
                }
                let batch = GCRABatch(keys: batchKeys, parameters: batchParameters, checks: checks)
                let reply = try await executor.execute(batch, timeout: .seconds(5)).get()
                #expect(reply.damagedKeyIndices.isEmpty)
                let redis = reply.results
                let expected = batch.decide(now: modelNow, tats: &model)
                let drift = Int64((ContinuousClock.now - started) / .microseconds(1)) + 1_000
                #expect(redis.count == expected.count)
                for (got, want) in zip(redis, expected) {
                    #expect(got.allowed == want.allowed)
                    #expect(got.remaining == want.remaining)
                    #expect(got.limitingSpend == want.limitingSpend)
                    #expect(got.shadowSpent == want.shadowSpent)
                    #expect(abs(got.retryAfterMicroseconds - want.retryAfterMicroseconds) <= drift)
                    #expect(abs(got.resetMicroseconds - want.resetMicroseconds) <= drift)
                    #expect(got.resetMicroseconds <= want.resetMicroseconds)
                }
            }
            // Stored TATs are integer strings that expire when the bucket is full again.
            for key in model.keys {
                let stored = try #require(text(try await connection.send("GET", key).get()))
                #expect(Int64(stored) != nil)
                let ttl = try #require(integer(try await connection.send("PTTL", key).get()))
                #expect(ttl > 0 && ttl <= (model[key]! - modelNow) / 1000 + 1)
            }
        }
    }

    @Test func allOrNothingBurstAndCost() async throws {
        try await withRedis { _, connection in
            let executor = RedisGCRAExecutor(connection: connection)
            let tight = GCRAParameters(count: 1, periodMicroseconds: 60_000_000, burst: 1)
            let loose = GCRAParameters(count: 10, periodMicroseconds: 60_000_000, burst: 5)
            let batch = GCRABatch(
                keys: ["sidecar:{a}:tight", "sidecar:{a}:loose"],
                parameters: [tight, loose],
                checks: [
                    GCRACheck(cost: 1, keyIndices: [0]),
                    GCRACheck(spends: [.init(keyIndex: 0, cost: 1), .init(keyIndex: 1, cost: 2)]),
                    GCRACheck(cost: 3, keyIndices: [1]),
                    GCRACheck(cost: 3, keyIndices: [1]),
                ]
            )
            let results = try await executor.execute(batch).get().results
            #expect(results.map(\.allowed) == [true, false, true, false])
            #expect(results.map(\.remaining) == [0, 0, 2, 2])
            #expect(results[1].retryAfterMicroseconds > 59_000_000)
            #expect(results[3].retryAfterMicroseconds > 5_000_000 && results[3].retryAfterMicroseconds <= 6_000_000)
            // The denied check wrote nothing to "loose": only the third check's 3 tokens are spent.
            let stored = try #require(
                text(try await connection.send("GET", "sidecar:{a}:loose").get()).flatMap { Int64($0) }
            )
            let time = try await connection.send("TIME").get()
            guard case .array(let parts?) = time, let seconds = text(parts[0]).flatMap({ Int64($0) }) else {
                Issue.record("TIME reply \(time)")
                return
            }
            let ahead = stored - seconds * 1_000_000
            #expect(ahead > 17_000_000 && ahead <= 19_000_000)
        }
    }

    @Test func noScriptReloadsAndResendsOnce() async throws {
        try await withRedis { _, connection in
            let executor = RedisGCRAExecutor(connection: connection)
            let batch = GCRABatch(
                keys: ["sidecar:{n}:r"],
                parameters: [GCRAParameters(count: 5, periodMicroseconds: 60_000_000, burst: 5)],
                checks: [GCRACheck(cost: 1, keyIndices: [0])]
            )
            // A fresh server has no script: the first batch goes through NOSCRIPT.
            let first = try await executor.execute(batch).get().results
            #expect(first.first?.remaining == 4)
            _ = try await connection.send("SCRIPT", "FLUSH").get()
            let second = try await executor.execute(batch).get().results
            #expect(second.first?.remaining == 3)
            let stats = try #require(text(try await connection.send("INFO", "commandstats").get()))
            #expect(stats.contains("cmdstat_evalsha:calls=4"))
        }
    }

    @Test func missedDeadlineFailsWithTimeoutAndIsNotResent() async throws {
        try await withRedis { server, connection in
            let executor = RedisGCRAExecutor(connection: connection)
            let batch = GCRABatch(
                keys: ["sidecar:{t}:r"],
                parameters: [GCRAParameters(count: 5, periodMicroseconds: 60_000_000, burst: 5)],
                checks: [GCRACheck(cost: 1, keyIndices: [0])]
            )
            _ = try await executor.execute(batch).get()
            let admin = try await server.connect()
            _ = try await admin.send("CLIENT", "PAUSE", "500", "ALL").get()
            await #expect(throws: RedisError.timeout(.milliseconds(100))) {
                _ = try await executor.execute(batch, timeout: .milliseconds(100)).get()
            }
            // The connection is closed, so a later reply cannot be taken for another request.
            try await connection.closeFuture.get()
            await #expect(throws: RedisError.self) { _ = try await connection.send("PING").get() }
            try await Task.sleep(for: .milliseconds(600))
            let stats = try #require(text(try await admin.send("INFO", "commandstats").get()))
            // 2 from the first batch (NOSCRIPT, then the resend), at most 1 from the timed-out one.
            let calls = stats.split(separator: "\r\n").first { $0.hasPrefix("cmdstat_evalsha:") }
            #expect(
                calls.map { $0.hasPrefix("cmdstat_evalsha:calls=2,") || $0.hasPrefix("cmdstat_evalsha:calls=3,") }
                    == true
            )
            try await admin.close().get()
        }
    }

    @Test func droppedConnectionFailsPendingRequests() async throws {
        try await withRedis { server, connection in
            let id = try #require(integer(try await connection.send("CLIENT", "ID").get()))
            let blocked = connection.send("BLPOP", "nothing", "10", timeout: .seconds(20))
            let queued = connection.send("PING", timeout: .seconds(20))
            let admin = try await server.connect()
            _ = try await admin.send("CLIENT", "KILL", "ID", String(id)).get()
            for pending in [blocked, queued] {
                do {
                    _ = try await pending.get()
                    Issue.record("a request on a killed connection succeeded")
                } catch let error as RedisError {
                    guard case .connectionClosed = error else {
                        Issue.record("unexpected error \(error)")
                        continue
                    }
                }
            }
            try await admin.close().get()
        }
    }

    @Test func shadowSpendsOnlyWhenTheCheckIsAllowedAndHasRoom() async throws {
        try await withRedis { _, connection in
            let executor = RedisGCRAExecutor(connection: connection)
            let enforced = GCRAParameters(count: 1, periodMicroseconds: 60_000_000, burst: 1)
            let shadow = GCRAParameters(count: 3, periodMicroseconds: 60_000_000, burst: 3)
            let keys = ["sidecar:{a}:api", "sidecar:{t}:watch"]
            let check = GCRACheck(spends: [.init(keyIndex: 0, cost: 1)], shadowSpends: [.init(keyIndex: 1, cost: 2)])
            let batch = GCRABatch(keys: keys, parameters: [enforced, shadow], checks: [check, check])
            let results = try await executor.execute(batch).get().results
            // Allowed and spent; then denied by the enforced bucket: the shadow bucket keeps its last token.
            #expect(results.map(\.allowed) == [true, false])
            #expect(results.map(\.shadowSpent) == [[true], []])
            let shadowOnly = GCRABatch(
                keys: [keys[1]],
                parameters: [shadow],
                checks: [GCRACheck(spends: [], shadowSpends: [.init(keyIndex: 0, cost: 1)])]
            )
            // One token left: a cost of 1 spends, the next would deny and spends nothing.
            let again = try await executor.execute(shadowOnly).get().results
            #expect(again.map(\.shadowSpent) == [[true]])
            #expect(try await executor.execute(shadowOnly).get().results.map(\.shadowSpent) == [[false]])
        }
    }

    @Test func damagedValuesCountAsEmptyBucketsAndAreRewritten() async throws {
        try await withRedis { _, connection in
            let executor = RedisGCRAExecutor(connection: connection)
            let parameters = GCRAParameters(count: 10, periodMicroseconds: 60_000_000, burst: 5)
            let keys = ["sidecar:{d}:a", "sidecar:{d}:b", "sidecar:{d}:c"]
            _ = try await connection.send("SET", keys[0], "garbage").get()
            // A TAT two centuries ahead, far beyond the 30 s window: written by nothing the sidecar runs.
            _ = try await connection.send("SET", keys[2], "8000000000000000").get()
            let batch = GCRABatch(
                keys: keys,
                parameters: [parameters, parameters, parameters],
                checks: keys.indices.map { GCRACheck(cost: 1, keyIndices: [$0]) }
            )
            let reply = try await executor.execute(batch).get()
            #expect(reply.damagedKeyIndices == [0, 2])
            #expect(reply.results.map(\.allowed) == [false, true, false])
            #expect(reply.results[0].retryAfterMicroseconds == 6_000_000)
            for key in [keys[0], keys[2]] {
                let stored = try #require(text(try await connection.send("GET", key).get()))
                #expect(Int64(stored) != nil)
                let ttl = try #require(integer(try await connection.send("PTTL", key).get()))
                #expect(ttl > 25_000 && ttl <= 30_000)
            }
            // Rewritten as empty buckets: the next batch finds nothing damaged, and they refill normally.
            let next = try await executor.execute(batch).get()
            #expect(next.damagedKeyIndices.isEmpty)
            #expect(next.results.map(\.allowed) == [false, true, false])
        }
    }

    @Test func theScriptStaysExactAtTheLargestWindow() async throws {
        try await withRedis { _, connection in
            let executor = RedisGCRAExecutor(connection: connection)
            let rule = try RuleParser.parse(name: "edge", "1000000000/36500d cost 1000000000")
            let parameters = GCRAParameters(rule: rule)
            let window = parameters.burstToleranceMicroseconds + parameters.emissionIntervalMicroseconds
            #expect(window == RuleValueBounds.maximumPeriodMicroseconds)
            let key = "sidecar:{x}:edge"
            let batch = GCRABatch(
                keys: [key],
                parameters: [parameters],
                checks: [GCRACheck(cost: rule.cost, keyIndices: [0]), GCRACheck(cost: rule.cost, keyIndices: [0])]
            )
            let before = try await redisMicroseconds(connection)
            let results = try await executor.execute(batch).get().results
            let after = try await redisMicroseconds(connection)
            #expect(
                results[0]
                    == GCRACheckResult(
                        allowed: true,
                        remaining: 0,
                        retryAfterMicroseconds: 0,
                        resetMicroseconds: window
                    )
            )
            #expect(
                results[1]
                    == GCRACheckResult(
                        allowed: false,
                        remaining: 0,
                        retryAfterMicroseconds: window,
                        resetMicroseconds: window
                    )
            )
            // Stored as the exact integer now + window: digits only, no exponent, no rounding.
            let stored = try #require(text(try await connection.send("GET", key).get()))
            #expect(stored.allSatisfy { $0.isNumber })
            let tat = try #require(Int64(stored))
            #expect(tat >= before + window && tat <= after + window)
            let ttl = try #require(integer(try await connection.send("PTTL", key).get()))
            #expect(ttl > window / 1000 - 60_000 && ttl <= window / 1000)
            // A second request much later is still denied for exactly the rest of the window.
            let later = try await executor.execute(batch).get().results
            let now = try await redisMicroseconds(connection)
            #expect(!later[0].allowed)
            #expect(later[0].retryAfterMicroseconds <= tat - before && later[0].retryAfterMicroseconds >= tat - now)
        }
    }

    @Test func theScriptRefusesArgumentsItCannotDecideExactly() async throws {
        try await withRedis { _, connection in
            let sha1 = try await connection.scriptLoad(GCRAScript.source).get()
            func run(_ arguments: String...) async throws -> RESPValue {
                try await connection.send(RESPCommand(["EVALSHA", sha1, "1", "sidecar:{g}:r"] + arguments)).get()
            }
            let widest = RuleValueBounds.maximumBurstWindowMicroseconds
            // The widest window decides; one microsecond more, a spend past 2^52 µs, or a fraction is refused.
            _ = try await run("1", String(widest - 1), "1", "0", "1", "1")
            let refused: [[String]] = [
                ["1", String(widest), "1", "0", "1", "1"],
                ["1000000", "0", "1", "0", "1", "5000000000"],
                ["1.5", "0", "1", "0", "1", "1"],
                ["1000", "0", "1", "0", "1", "0.5"],
                ["1000", "0", "1", "0", "2", "1"],
                ["1000", "0", "1", "1", "1", "1"],
            ]
            for arguments in refused {
                await #expect(throws: RedisError.self, "\(arguments)") {
                    _ = try await connection.send(RESPCommand(["EVALSHA", sha1, "1", "sidecar:{g}:r"] + arguments))
                        .get()
                }
            }
            _ = try await run("1000", "0", "1", "0", "1", "1")
        }
    }

    @Test func bucketKeysNeverCarryTheClientKey() async throws {
        try await withRedis { _, connection in
            let clientKey = RuleMatcher.clientKey(
                RateLimitKey(alternatives: [[.header("authorization")]]),
                of: TestRequest(headers: ["authorization": "Bearer super-secret-token"])
            )
            let name = RedisBucketKey.name(rule: "per_token", clientKey: clientKey)
            let batch = GCRABatch(
                keys: [name],
                parameters: [GCRAParameters(count: 5, periodMicroseconds: 60_000_000, burst: 5)],
                checks: [GCRACheck(cost: 1, keyIndices: [0])]
            )
            _ = try await RedisGCRAExecutor(connection: connection).execute(batch).get()
            let keys = try await connection.send("KEYS", "*").get()
            #expect(keys == .array([.bulkString(Array(name.utf8))]))
            #expect(!keys.description.contains("secret"))
        }
    }

    @Test func authenticatesAndSelectsTheDatabase() async throws {
        try await withRedis(extraArguments: ["--requirepass", "pw"]) { server, _ in
            let connection = try await server.connect(password: "pw", database: 3)
            _ = try await connection.send("SET", "x", "1").get()
            let info = try #require(text(try await connection.send("CLIENT", "INFO").get()))
            #expect(info.contains("db=3"))
            try await connection.close().get()
            await #expect(throws: RedisError.self) { _ = try await server.connect(password: "wrong") }
        }
    }
}
