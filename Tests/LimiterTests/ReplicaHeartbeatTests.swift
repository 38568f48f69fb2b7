import Foundation
import Logging
import NIOCore
import NIOPosix
import TestSupport
import Testing

@testable import Limiter

@Suite("ReplicaHeartbeat", .enabled(if: RedisServerProcess.isAvailable, "redis-server is not installed"))
struct ReplicaHeartbeatTests {
    /// Before Redis 5 (or with `lua-replicate-commands no`) a script that called `TIME` may not
    /// write unless it first asked for effects replication.
    @Test(arguments: [ReplicaHeartbeat.script, GCRAScript.source])
    func scriptsAskForEffectsReplicationBeforeCallingTIME(script: String) throws {
        let replicate = try #require(script.range(of: "redis.replicate_commands()"))
        let time = try #require(script.range(of: "redis.call('TIME')"))
        #expect(replicate.upperBound <= time.lowerBound)
        #expect(script.hasPrefix("if redis.replicate_commands then redis.replicate_commands() end\n"))
    }

    @Test func countsLiveReplicasAndForgetsSilentOnes() async throws {
        let redis = try await RedisServerProcess.start()
        defer { redis.stop() }
        let connection = try await redis.connect()
        func heartbeat(_ id: String) -> ReplicaHeartbeat {
            ReplicaHeartbeat(
                redis: .init(host: "127.0.0.1", port: redis.port),
                id: id,
                expiry: .milliseconds(300),
                eventLoop: connection.eventLoop,
                logger: Logger(label: "test"),
                onCount: { _ in }
            )
        }
        #expect(try await heartbeat("a").beat(on: connection) == 1)
        #expect(try await heartbeat("b").beat(on: connection) == 2)
        #expect(try await heartbeat("a").beat(on: connection) == 2)
        try await Task.sleep(for: .milliseconds(400))
        // Only "a" beats again: "b" has gone silent for longer than the expiry.
        #expect(try await heartbeat("a").beat(on: connection) == 1)
        try await connection.close().get()
    }

    @Test func runReportsTheCountUntilCancelled() async throws {
        let redis = try await RedisServerProcess.start()
        defer { redis.stop() }
        let counts = AsyncStream.makeStream(of: Int.self)
        let heartbeat = ReplicaHeartbeat(
            redis: .init(host: "127.0.0.1", port: redis.port),
            id: "solo",
            interval: .milliseconds(50),
            eventLoop: MultiThreadedEventLoopGroup.singleton.next(),
            logger: Logger(label: "test"),
            onCount: { counts.continuation.yield($0) }
        )
        let task = Task { await heartbeat.run() }
        var iterator = counts.stream.makeAsyncIterator()
        #expect(await iterator.next() == 1)
        #expect(await iterator.next() == 1)
        task.cancel()
        await task.value
    }
}
