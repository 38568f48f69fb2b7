import AsyncHTTPClient
import Foundation
import JWTKit
import Limiter
import Logging
import NIOCore
import NIOHTTP1
import NIOPosix
import Synchronization
import TestSupport
import Testing

@testable import Sidecar

@Suite("Rate limits through the proxy")
struct RateLimitIntegrationTests {
    private static func rule(_ name: String, _ text: String) throws -> RateLimitRule {
        try RuleParser.parse(name: name, text)
    }

    @Test func inProcessLimitAnswers429WithHeadersAndProblemBody() async throws {
        try await SidecarHarness.with(configure: { $0.rules = [try! Self.rule("per_ip", "3/m by ip")] }) { harness in
            for expectedRemaining in [2, 1, 0] {
                let response = try await harness.send("/hello")
                #expect(response.status == 200)
                #expect(response.headers.first(name: "ratelimit-policy") == "\"per_ip\";q=3;w=60")
                #expect(
                    response.headers.first(name: "ratelimit")?.hasPrefix("\"per_ip\";r=\(expectedRemaining);t=") == true
                )
            }
            let denied = try await harness.send("/hello")
            #expect(denied.status == 429)
            #expect(denied.headers.first(name: "retry-after") == "20")
            #expect(denied.headers.first(name: "content-type") == "application/problem+json")
            let body = String(buffer: denied.body)
            #expect(body.contains("\"rule\":\"per_ip\"") && body.contains("\"retry_after\":20"))
            // The upstream saw only the allowed requests.
        }
    }

    @Test func rulesMatchOnMethodAndPath() async throws {
        try await SidecarHarness.with(configure: { $0.rules = [try! Self.rule("jobs", "1/m on POST /sink*")] }) {
            harness in
            #expect(try await harness.send("/sink", method: .POST, body: .bytes(ByteBuffer(string: "a"))).status == 200)
            #expect(try await harness.send("/sink", method: .POST, body: .bytes(ByteBuffer(string: "a"))).status == 429)
            // Other methods and paths are not limited and carry no rate-limit headers.
            let other = try await harness.send("/hello")
            #expect(other.status == 200)
            #expect(other.headers.first(name: "ratelimit") == nil)
        }
    }

    @Test func shadowRulesNeverDeny() async throws {
        try await SidecarHarness.with(configure: { $0.rules = [try! Self.rule("trial", "1/m shadow")] }) { harness in
            var statuses: [Int] = []
            for _ in 0..<3 { statuses.append(try await harness.send("/hello").status) }
            #expect(statuses == [200, 200, 200])
        }
    }

    @Test func legacyHeadersAndOff() async throws {
        try await SidecarHarness.with(configure: {
            $0.rules = [try! Self.rule("fleet", "10/s")]
            $0.rateLimitHeaders = .legacy
        }) { harness in
            let response = try await harness.send("/hello")
            #expect(response.headers.first(name: "x-ratelimit-limit") == "10")
            #expect(response.headers.first(name: "x-ratelimit-remaining") == "9")
            #expect(response.headers.first(name: "ratelimit") == nil)
        }
        try await SidecarHarness.with(configure: {
            $0.rules = [try! Self.rule("fleet", "10/s")]
            $0.rateLimitHeaders = .off
        }) { harness in
            let response = try await harness.send("/hello")
            #expect(response.headers.first(name: "ratelimit") == nil)
            #expect(response.headers.first(name: "x-ratelimit-limit") == nil)
        }
    }

    @Test(
        .enabled(if: RedisServerProcess.isAvailable, "redis-server is not installed: apt-get install -y redis-server")
    )
    func redisClosedModeAnswers503WhenRedisIsDown() async throws {
        let deadPort = try await freeLoopbackPort()
        try await SidecarHarness.with(configure: {
            $0.rules = [try! Self.rule("fleet", "100/s")]
            $0.redis = RedisURL(
                useTLS: false,
                host: "127.0.0.1",
                port: deadPort,
                username: nil,
                password: nil,
                database: 0
            )
            $0.redisFailureMode = .closed
        }) { harness in
            let response = try await harness.send("/hello")
            #expect(response.status == 503)
        }
    }
}

/// Three sidecars sharing one Redis, hammered at once on one key: together they admit what one
/// limit allows, not three times as much.
@Suite("Fleet accuracy", .serialized)
struct FleetAccuracyTests {
    @Test(
        .enabled(if: RedisServerProcess.isAvailable, "redis-server is not installed: apt-get install -y redis-server")
    )
    func threeReplicasAdmitBurstPlusRateTimesElapsed() async throws {
        let redis = try await RedisServerProcess.start()
        defer { redis.stop() }
        let rate = 200
        let burst = 100
        let rule = try RuleParser.parse(name: "fleet", "\(rate)/s burst \(burst)")
        let group = MultiThreadedEventLoopGroup(numberOfThreads: 2)
        let upstream = try await TestUpstream.start(group: group)
        var logger = Logger(label: "accuracy")
        logger.logLevel = .critical

        var servers: [(ProxyServer, RateLimiters, MultiThreadedEventLoopGroup)] = []
        for _ in 0..<3 {
            let replicaGroup = MultiThreadedEventLoopGroup(numberOfThreads: 1)
            var configuration = try await SidecarConfiguration.load(environment: [:])
            configuration.listen = ListenAddress(host: "127.0.0.1", port: 0)
            configuration.upstream = .tcp(host: "127.0.0.1", port: upstream.port)
            configuration.rules = [rule]
            configuration.redis = RedisURL(
                useTLS: false,
                host: "127.0.0.1",
                port: redis.port,
                username: nil,
                password: nil,
                database: 0
            )
            configuration.redisTimeout = .milliseconds(500)
            configuration.redisFailureMode = .closed
            let limiters = RateLimiters.make(configuration: configuration, group: replicaGroup, logger: logger)
            let server = try await ProxyServer.start(
                configuration: configuration,
                group: replicaGroup,
                limiter: limiters.limiter,
                logger: logger
            )
            servers.append((server, limiters, replicaGroup))
        }
        // Let every replica connect to Redis before the clock starts.
        try await Task.sleep(for: .milliseconds(500))

        let client = HTTPClient(
            eventLoopGroupProvider: .shared(group),
            configuration: HTTPClient.Configuration(
                connectionPool: .init(idleTimeout: .seconds(30), concurrentHTTP1ConnectionsPerHostSoftLimit: 12)
            )
        )
        let tally = Tally()
        let seconds = 5.0
        let clock = ContinuousClock()
        let start = clock.now
        let ports = servers.map { $0.0.localAddress.port! }
        try await withThrowingTaskGroup(of: Void.self) { tasks in
            for worker in 0..<24 {
                let port = ports[worker % ports.count]
                tasks.addTask {
                    while clock.now - start < .seconds(seconds) {
                        let sent = clock.now - start
                        let response = try await client.execute(
                            HTTPClientRequest(url: "http://127.0.0.1:\(port)/hello"),
                            timeout: .seconds(5)
                        )
                        _ = try await response.body.collect(upTo: 1024)
                        tally.record(status: response.status, sentAfter: sent)
                    }
                }
            }
            try await tasks.waitForAll()
        }
        // The bucket starts full; from the first request to the last admitted one it refills at
        // the rate. Measured on the requests' send times, so slow responses do not stretch it.
        let (admitted, unavailable, window) = tally.summary()
        let expected = Double(burst) + Double(rate) * (window / .seconds(1))
        let got = Double(admitted)
        print("fleet accuracy: admitted \(admitted) of \(Int(expected)) expected over \(window) by three replicas")
        #expect(unavailable == 0)
        #expect(abs(got - expected) / expected <= 0.02, "admitted \(admitted), expected \(Int(expected)) ± 2%")

        try await client.shutdown()
        for (server, limiters, replicaGroup) in servers {
            await server.drain(grace: .milliseconds(100))
            await limiters.redis?.shutdown()
            try await replicaGroup.shutdownGracefully()
        }
        try await upstream.stop()
        try await group.shutdownGracefully()
    }
}

/// Counts outcomes across concurrent client tasks.
private final class Tally: Sendable {
    private struct State {
        var admitted = 0
        var unavailable = 0
        var firstSent: Duration?
        var lastAdmittedSent = Duration.zero
    }

    private let state = Mutex(State())

    func record(status: HTTPResponseStatus, sentAfter sent: Duration) {
        state.withLock { state in
            state.firstSent = min(state.firstSent ?? sent, sent)
            if status == .ok {
                state.admitted += 1
                state.lastAdmittedSent = max(state.lastAdmittedSent, sent)
            }
            if status == .serviceUnavailable { state.unavailable += 1 }
        }
    }

    /// Admitted and unavailable counts, and the time from the first request to the last admitted one.
    func summary() -> (admitted: Int, unavailable: Int, window: Duration) {
        state.withLock { ($0.admitted, $0.unavailable, $0.lastAdmittedSent - ($0.firstSent ?? .zero)) }
    }
}

@Suite("jwt: keys through the proxy")
struct JWTKeyIntegrationTests {
    struct Payload: JWTPayload {
        var sub: String
        func verify(using algorithm: some JWTAlgorithm) async throws {}
    }

    @Test func eachVerifiedSubjectHasItsOwnBucketAndForgeriesFallBackToTheAddress() async throws {
        let secret = "a secret shared with the gateway, 32+ bytes"
        let path = "/tmp/sidecar-jwt-\(UInt32.random(in: 0...UInt32.max)).secret"
        try (secret + "\n").write(toFile: path, atomically: true, encoding: .utf8)
        defer { try? FileManager.default.removeItem(atPath: path) }
        func token(_ subject: String, secret: String) async throws -> String {
            let keys = JWTKeyCollection()
            await keys.add(hmac: HMACKey(from: secret), digestAlgorithm: .sha256)
            return try await keys.sign(Payload(sub: subject))
        }
        let alice = try await token("alice", secret: secret)
        let bob = try await token("bob", secret: secret)
        let forged = try await token("alice", secret: "not the gateway's secret at all!!")

        try await SidecarHarness.with(configure: {
            $0.rules = [try! RuleParser.parse(name: "per_user", "2/m by jwt:sub|ip")]
            $0.jwtHS256SecretFile = path
        }) { harness in
            func status(_ token: String?) async throws -> Int {
                try await harness.send("/hello", headers: token.map { [("Authorization", "Bearer \($0)")] } ?? [])
                    .status
            }
            var aliceStatuses: [Int] = []
            for _ in 0..<3 { aliceStatuses.append(try await status(alice)) }
            #expect(aliceStatuses == [200, 200, 429])
            #expect(try await status(bob) == 200)
            // A forged token is not alice: it counts against the client's address, like no token.
            #expect(try await status(forged) == 200)
            #expect(try await status(nil) == 200)
            #expect(try await status(nil) == 429)
        }
    }

    /// DESIGN's own example, `by jwt:sub` alone: a request without a verified token is not
    /// unlimited but counted under its client address, as if the chain ended in `|ip`.
    @Test func leavingTheTokenOutDoesNotEscapeAJWTRule() async throws {
        let secret = "a secret shared with the gateway, 32+ bytes"
        let path = "/tmp/sidecar-jwt-\(UInt32.random(in: 0...UInt32.max)).secret"
        try (secret + "\n").write(toFile: path, atomically: true, encoding: .utf8)
        defer { try? FileManager.default.removeItem(atPath: path) }
        let keys = JWTKeyCollection()
        await keys.add(hmac: HMACKey(from: "not the gateway's secret at all!!"), digestAlgorithm: .sha256)
        let forged = try await keys.sign(Payload(sub: "alice"))
        func base64URL(_ text: String) -> String {
            Data(text.utf8).base64EncodedString().replacingOccurrences(of: "+", with: "-")
                .replacingOccurrences(of: "/", with: "_").replacingOccurrences(of: "=", with: "")
        }
        let unsigned = base64URL(#"{"alg":"none","typ":"JWT"}"#) + "." + base64URL(#"{"sub":"alice"}"#) + "."

        try await SidecarHarness.with(configure: {
            $0.rules = [try! RuleParser.parse(name: "jobs", "3/m by jwt:sub on POST /echo")]
            $0.jwtHS256SecretFile = path
        }) { harness in
            func status(_ token: String?) async throws -> Int {
                try await harness.send(
                    "/echo",
                    method: .POST,
                    headers: token.map { [("Authorization", "Bearer \($0)")] } ?? []
                ).status
            }
            // No token, a forged one and `alg: none` all spend the one bucket of 127.0.0.1.
            var statuses: [Int] = []
            for token in [nil, forged, unsigned, nil, unsigned] { statuses.append(try await status(token)) }
            #expect(statuses == [200, 200, 200, 429, 429])
        }
    }

    @Test func headSpendsTheGetLimit() async throws {
        try await SidecarHarness.with(configure: {
            $0.rules = [try! RuleParser.parse(name: "reads", "2/m by ip on GET /hello")]
        }) { harness in
            var statuses: [Int] = []
            for method in [HTTPMethod.HEAD, .HEAD, .GET, .HEAD] {
                statuses.append(try await harness.send("/hello", method: method).status)
            }
            #expect(statuses == [200, 200, 429, 429])
        }
    }
}
