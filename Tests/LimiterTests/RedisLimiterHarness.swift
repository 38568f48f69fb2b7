import Foundation
import Limiter
import Logging
// Metrics is not a declared dependency of this target, but the module is built for Limiter and
// visible; the limiters take a MetricsFactory.
import Metrics
import NIOCore
import NIOPosix
import TestSupport
import Testing

/// How a check came out: `.pending` went to Redis (or fell back after trying), `.decided` never waited.
enum Outcome {
    case unlimited
    case decided(RateLimitDecision)
    case pending(RateLimitDecision)

    var decision: RateLimitDecision? {
        switch self {
        case .unlimited: nil
        case .decided(let decision), .pending(let decision): decision
        }
    }

    var verdict: RateLimitDecision.Verdict? { self.decision?.verdict }

    var wasPending: Bool {
        if case .pending = self { return true }
        return false
    }
}

/// The request every test sends, unless it says otherwise: test rules apply to `GET /api` only.
func apiRequest(user: String = "alice") -> TestRequest {
    TestRequest(method: "GET", path: "/api", headers: ["x-user": user])
}

/// One redis-server, one limiter on a one-loop group, and an admin connection for inspecting Redis.
final class Harness: Sendable {
    let server: RedisServerProcess
    let admin: RedisConnection
    let group: MultiThreadedEventLoopGroup
    let loops: [any EventLoop]
    var loop: any EventLoop { self.loops[0] }
    let rules: [RateLimitRule]
    let limiter: RedisRateLimiter

    /// Rules by name; each gets `on GET /api` appended, and a `warmup` rule is added for ``waitUntilConnected()``.
    init(
        server: RedisServerProcess,
        rules specs: KeyValuePairs<String, String>,
        failureMode: (([RateLimitRule]) -> RateLimitFailureMode) = { _ in .closed },
        timeout: TimeAmount = .milliseconds(500),
        maximumBatchSize: Int = 256,
        breakerInitialBackoff: TimeAmount = .milliseconds(250),
        breakerMaximumBackoff: TimeAmount = .seconds(5),
        loopCount: Int = 1,
        metricsFactory: any MetricsFactory = MetricsSystem.factory,
        logger: Logger = Logger(label: "test.redis-limiter")
    ) async throws {
        self.server = server
        self.admin = try await server.connect()
        var rules = try specs.map { name, text in try RuleParser.parse(name: name, text + " on GET /api") }
        rules.append(try RuleParser.parse(name: "warmup", "1000000/s on POST /warmup"))
        self.rules = rules
        self.group = MultiThreadedEventLoopGroup(numberOfThreads: loopCount)
        self.loops = Array(self.group.makeIterator())
        self.limiter = RedisRateLimiter(
            rules: rules,
            configuration: .init(
                redis: .init(host: "127.0.0.1", port: server.port, connectTimeout: .seconds(1)),
                timeout: timeout,
                maximumBatchSize: maximumBatchSize,
                breakerInitialBackoff: breakerInitialBackoff,
                breakerMaximumBackoff: breakerMaximumBackoff,
                metricsFactory: metricsFactory
            ),
            failureMode: failureMode(rules),
            group: self.group,
            logger: logger
        )
    }

    func close() async {
        await self.limiter.shutdown()
        try? await self.admin.close().get()
        try? await self.group.shutdownGracefully()
        self.server.stop()
    }

    /// Checks `request` on the loop and waits for the decision.
    func check(_ request: TestRequest) async throws -> Outcome {
        let limiter = self.limiter
        let loop = self.loop
        let check = try await loop.submit { limiter.check(request, on: loop) }.get()
        return try await Self.outcome(of: check)
    }

    /// Checks every request in one task on the loop, so that they are gathered in one loop tick.
    func checkTogether(_ requests: [TestRequest], loop index: Int = 0) async throws -> [Outcome] {
        let limiter = self.limiter
        let loop = self.loops[index]
        let checks = try await loop.submit { requests.map { limiter.check($0, on: loop) } }.get()
        var outcomes: [Outcome] = []
        for check in checks { outcomes.append(try await Self.outcome(of: check)) }
        return outcomes
    }

    private static func outcome(of check: RateLimitFutureCheck) async throws -> Outcome {
        switch check {
        case .unlimited: return .unlimited
        case .decided(let decision): return .decided(decision)
        case .pending(let future): return .pending(try await future.get())
        }
    }

    /// Checks `request`, and how long its decision took.
    func timedCheck(_ request: TestRequest) async throws -> (Outcome, Duration) {
        let started = ContinuousClock.now
        let outcome = try await self.check(request)
        return (outcome, ContinuousClock.now - started)
    }

    /// Polls with the warm-up rule until a check goes to Redis and comes back allowed by it.
    func waitUntilConnected(within limit: Duration = .seconds(10)) async throws {
        let deadline = ContinuousClock.now + limit
        var connected = Set<Int>()
        while ContinuousClock.now < deadline {
            for index in self.loops.indices where !connected.contains(index) {
                let warmup = try await self.checkTogether([TestRequest(method: "POST", path: "/warmup")], loop: index)
                if case .pending(let decision) = warmup[0], decision.verdict == .allowed,
                    decision.policy?.rule == "warmup"
                {
                    connected.insert(index)
                }
            }
            if connected.count == self.loops.count { return }
            try await Task.sleep(for: .milliseconds(20))
        }
        Issue.record("the limiter did not reach Redis within \(limit)")
        throw CancellationError()
    }

    /// `calls` of `cmdstat_<command>` in `INFO commandstats` (0 when never called).
    func commandCalls(_ command: String) async throws -> Int {
        let reply = try await self.admin.send("INFO", "commandstats").get()
        guard case .bulkString(let bytes?) = reply else {
            throw RedisError.unexpectedReply(command: "INFO", reply: "\(reply)")
        }
        let text = String(decoding: bytes, as: UTF8.self)
        for line in text.split(whereSeparator: \.isNewline) where line.hasPrefix("cmdstat_\(command):calls=") {
            let value = line.dropFirst("cmdstat_\(command):calls=".count).prefix { $0.isNumber }
            return Int(value) ?? 0
        }
        return 0
    }

    /// The Redis key of `rule`'s bucket for `request`.
    func bucketKey(_ rule: String, _ request: TestRequest) throws -> String {
        let rule = try #require(self.rules.first { $0.name == rule })
        guard let key = rule.key else { return RedisBucketKey.name(rule: rule.name, clientKey: nil) }
        let clientKey = RuleMatcher.clientKey(key, of: request)
        #expect(clientKey != nil, "the request has no \(rule.name) key")
        return RedisBucketKey.name(rule: rule.name, clientKey: clientKey)
    }

    func get(_ key: String) async throws -> String? {
        let reply = try await self.admin.send("GET", key).get()
        if case .bulkString(let bytes?) = reply { return String(decoding: bytes, as: UTF8.self) }
        return nil
    }
}

/// Runs `body` with a fresh server and limiter, and tears both down whatever happens.
func withLimiter(
    rules: KeyValuePairs<String, String>,
    failureMode: ([RateLimitRule]) -> RateLimitFailureMode = { _ in .closed },
    timeout: TimeAmount = .milliseconds(500),
    maximumBatchSize: Int = 256,
    breakerInitialBackoff: TimeAmount = .milliseconds(250),
    breakerMaximumBackoff: TimeAmount = .seconds(5),
    loopCount: Int = 1,
    metricsFactory: any MetricsFactory = MetricsSystem.factory,
    logger: Logger = Logger(label: "test.redis-limiter"),
    _ body: (Harness) async throws -> Void
) async throws {
    let server = try await RedisServerProcess.start()
    let harness: Harness
    do {
        harness = try await Harness(
            server: server,
            rules: rules,
            failureMode: failureMode,
            timeout: timeout,
            maximumBatchSize: maximumBatchSize,
            breakerInitialBackoff: breakerInitialBackoff,
            breakerMaximumBackoff: breakerMaximumBackoff,
            loopCount: loopCount,
            metricsFactory: metricsFactory,
            logger: logger
        )
    } catch {
        server.stop()
        throw error
    }
    do {
        try await harness.waitUntilConnected()
        try await body(harness)
    } catch {
        await harness.close()
        throw error
    }
    await harness.close()
}
