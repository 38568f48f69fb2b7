import AsyncHTTPClient
import Foundation
import NIOCore
import NIOPosix
import TestSupport
import Testing

@testable import Sidecar

/// The upstream pool's cap, queue and back-off against a real sidecar and a real upstream.
@Suite("Upstream pool", .serialized)
struct UpstreamPoolIntegrationTests {
    @Test(.enabled(if: Tool.h2load != nil, "h2load is not installed: apt-get install -y nghttp2-client"))
    func http1ConnectionsAndHTTP2StreamsShareTheCappedPoolOfTheirLoop() async throws {
        // One event loop: every client connection and stream uses its one pool.
        let running = try await RunningSidecar.start(
            extra: ["SIDECAR_UPSTREAM_MAX_CONNECTIONS": "2", "SIDECAR_EVENT_LOOPS": "1", "SIDECAR_H2C": "on"]
        )
        let url = "http://127.0.0.1:\(running.port)/slow/100"
        // 20 concurrent HTTP/2 streams on one connection, and HTTP/1.1 requests on several at once.
        let streams = Task {
            try Tool.run(Tool.h2load!, ["-n", "20", "-c", "1", "-m", "20", url])
        }
        let statuses = try await withThrowingTaskGroup(of: Int.self) { group in
            for _ in 0..<8 {
                group.addTask { try await running.get("/slow/100").status }
            }
            return try await group.reduce(into: []) { $0.append($1) }
        }
        let load = try await streams.value
        #expect(statuses == Array(repeating: 200, count: 8))
        #expect(load.output.contains("20 succeeded, 0 failed"), "\(load.output)")
        // Without the cap, 20 streams alone would have opened 20 upstream connections.
        #expect(running.upstream.peakConnections == 2)
        try await running.stop()
    }

    @Test func aRequestQueuedPastItsDeadlineIsAnswered503NamingTheSetting() async throws {
        // The queue deadline is the upstream timeout when that is shorter than a connect's 5 s.
        let running = try await RunningSidecar.start(
            extra: [
                "SIDECAR_UPSTREAM_MAX_CONNECTIONS": "1", "SIDECAR_EVENT_LOOPS": "1", "SIDECAR_UPSTREAM_TIMEOUT": "1s",
            ]
        )
        // A chunked upload that never ends holds the only upstream connection: `/echo` answers its
        // head at once, so no upstream deadline runs.
        let holder = try await ClientBootstrap(group: running.group).connect(host: "127.0.0.1", port: running.port)
            .get()
        try await holder.writeAndFlush(
            ByteBuffer(string: "POST /echo HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhello\r\n")
        ).get()
        var held = false
        for _ in 0..<100 where !held {
            try await Task.sleep(for: .milliseconds(20))
            held = running.upstream.connections == 1
        }
        #expect(held, "the upload never reached the upstream")
        let started = ContinuousClock.now
        let queued = try await running.get("/hello")
        let waited = ContinuousClock.now - started
        #expect(queued.status == 503)
        #expect(queued.headers.first(name: "content-type") == "application/problem+json")
        #expect(queued.body.contains("SIDECAR_UPSTREAM_MAX_CONNECTIONS"), "\(queued.body)")
        #expect(waited >= .milliseconds(900) && waited < .seconds(4), "\(waited)")
        #expect(running.upstream.connections == 1)
        #expect(try await running.value(#"sidecar_upstream_errors_total{kind="pool_timeout"}"#) == 1)
        // Once the upload ends, the connection serves again.
        try await holder.close()
        var status = 0
        for _ in 0..<50 where status != 200 {
            status = try await running.get("/hello").status
            if status != 200 { try await Task.sleep(for: .milliseconds(20)) }
        }
        #expect(status == 200)
        try await running.stop()
    }

    @Test func aWebSocketTunnelLeavesThePool() async throws {
        let running = try await RunningSidecar.start(
            extra: ["SIDECAR_UPSTREAM_MAX_CONNECTIONS": "1", "SIDECAR_EVENT_LOOPS": "1"]
        )
        let upgrade =
            "GET /ws HTTP/1.1\r\nHost: x\r\nConnection: Upgrade\r\nUpgrade: websocket\r\n"
            + "Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\r\n"
        let tunnel = try await ClientBootstrap(group: running.group).connect(host: "127.0.0.1", port: running.port) {
            channel in
            channel.eventLoop.makeCompletedFuture {
                try NIOAsyncChannel<ByteBuffer, ByteBuffer>(wrappingChannelSynchronously: channel)
            }
        }
        try await tunnel.executeThenClose { inbound, outbound in
            try await outbound.write(ByteBuffer(string: upgrade))
            var answer = ""
            for try await chunk in inbound {
                answer += String(buffer: chunk)
                if answer.contains("\r\n\r\n") { break }
            }
            #expect(answer.hasPrefix("HTTP/1.1 101 "))
            // The tunnel is open and holds its upstream connection, yet the only place in the pool is free.
            let other = try await running.get("/hello")
            #expect(other.status == 200)
            #expect(running.upstream.connections == 2)
        }
        try await running.stop()
    }

    @Test func whileTheGatewayIsDownRequestsFailFastWithoutAConnectEach() async throws {
        let closedPort = try await freeLoopbackPort()
        try await SidecarHarness.with(upstreamAddress: { _ in .tcp(host: "127.0.0.1", port: closedPort) }) { harness in
            let requests = 60
            let started = ContinuousClock.now
            let statuses = try await withThrowingTaskGroup(of: Int.self) { group in
                for _ in 0..<requests {
                    group.addTask { try await harness.send("/hello").status }
                }
                return try await group.reduce(into: []) { $0.append($1) }
            }
            let elapsed = ContinuousClock.now - started
            #expect(statuses == Array(repeating: 502, count: requests))
            #expect(elapsed < .seconds(5), "\(elapsed)")
            // One attempt at a time per event loop (two here), 100 ms apart, then 200, 400, …: within
            // 5 s at most 7 per loop, however many requests; without the back-off, one per request.
            let attempts = await harness.server.pools.connectAttempts()
            #expect(attempts >= 1 && attempts <= 14, "\(attempts) connect attempts for \(requests) requests")
        }
    }
}
