import AsyncHTTPClient
import Foundation
import NIOCore
import NIOPosix
import TestSupport
import Testing

/// The real executable: exit codes, signals and memory under large bodies.
@Suite("sidecar executable", .serialized)
struct ProcessTests {
    @Test func badConfigurationExits78AndNamesEveryProblem() async throws {
        let sidecar = try SidecarProcess(environment: [
            "SIDECAR_LISTEN": "nowhere",
            "SIDECAR_REDIS_URL": "redis://user:hunter2@redis:6379/99",
            "SIDECAR_LIMIT_API": "lots/s",
        ])
        let result = await sidecar.finish()
        #expect(result.status == 78)
        #expect(result.errors.contains("SIDECAR_LISTEN=\"nowhere\""))
        #expect(result.errors.contains("SIDECAR_REDIS_URL="))
        #expect(result.errors.contains("SIDECAR_LIMIT_API=\"lots/s\""))
        #expect(!result.errors.contains("hunter2"))
    }

    @Test func checkPrintsTheEffectiveConfiguration() async throws {
        let sidecar = try SidecarProcess(
            arguments: ["check"],
            environment: ["SIDECAR_LIMIT_JOBS": "10/m by jwt:sub on POST /jobs"]
        )
        let result = await sidecar.finish()
        #expect(result.status == 0)
        #expect(result.output.contains("SIDECAR_LIMIT_JOBS=10/m by jwt:sub|ip on POST /jobs"))
        #expect(result.output.contains("SIDECAR_UPSTREAM=http://127.0.0.1:8000"))
    }

    @Test func sigtermDrainsInFlightRequestsThenExitsZero() async throws {
        let running = try await RunningSidecar.start(extra: ["SIDECAR_SHUTDOWN_GRACE": "10s"])
        async let slow = running.get("/slow/800")
        try await Task.sleep(for: .milliseconds(300))
        running.sidecar.signal(SIGTERM)
        let response = try await slow
        #expect(response.status == 200)
        #expect(response.body == "slow 800\n")
        #expect(await running.sidecar.finish().status == 0)
        try await running.stop()
    }

    @Test func aGibibyteEachWayKeepsMemoryFlat() async throws {
        let running = try await RunningSidecar.start(threads: 2)
        let (client, port) = (running.client, running.port)
        #expect(try await running.get("/hello").status == 200)
        let baseline = try #require(running.sidecar.peakResidentBytes())
        let gibibyte = 1 << 30

        let download = try await client.execute(
            HTTPClientRequest(url: "http://127.0.0.1:\(port)/bytes/\(gibibyte)"),
            timeout: .seconds(120)
        )
        var downloaded = 0
        for try await chunk in download.body { downloaded += chunk.readableBytes }
        #expect(downloaded == gibibyte)

        var upload = HTTPClientRequest(url: "http://127.0.0.1:\(port)/sink")
        upload.method = .POST
        let chunk = ByteBuffer(repeating: 0x61, count: 1 << 20)
        upload.body = .stream(
            AsyncStreamOfBuffers(Array(repeating: chunk, count: 1024)),
            length: .known(Int64(gibibyte))
        )
        let uploaded = try await client.execute(upload, timeout: .seconds(120))
        let answer = try await uploaded.body.collect(upTo: 1024)
        #expect(String(buffer: answer) == "received \(gibibyte)\n")

        let peak = try #require(running.sidecar.peakResidentBytes())
        #expect(peak - baseline < 16 << 20, "peak RSS grew by \((peak - baseline) >> 20) MiB")
        try await running.stop()
    }

    @Test(
        .enabled(if: RedisServerProcess.isAvailable, "redis-server is not installed: apt-get install -y redis-server")
    )
    func clusterModeLimitsThroughEveryMasterAndExportsEach() async throws {
        let cluster = try await RedisClusterProcess.start(masters: 3)
        defer { cluster.stop() }
        let seeds = cluster.servers.prefix(2).map { "127.0.0.1:\($0.port)" }.joined(separator: ",")
        let running = try await RunningSidecar.start(extra: [
            "SIDECAR_REDIS_MODE": "cluster",
            "SIDECAR_REDIS_URL": "redis://\(seeds)",
            "SIDECAR_REDIS_FAILURE_MODE": "closed",
            "SIDECAR_LIMIT_HELLO": "3/h burst 3 by ip on GET /hello",
        ])
        let up = cluster.servers.map { "sidecar_redis_up{node=\"127.0.0.1:\($0.port)\"}" }
        let deadline = ContinuousClock.now + .seconds(15)
        var connected = false
        while !connected, ContinuousClock.now < deadline {
            var values: [Double] = []
            for series in up { values.append(try await running.value(series)) }
            connected = values.allSatisfy { $0 == 1 }
            if !connected { try await Task.sleep(for: .milliseconds(100)) }
        }
        #expect(connected, "sidecar_redis_up is not 1 for every master")
        var statuses: [Int] = []
        for _ in 0..<4 { statuses.append(try await running.get("/hello").status) }
        #expect(statuses == [200, 200, 200, 429])
        let metrics = try await running.get("/metrics", admin: true).body
        #expect(metrics.contains("sidecar_redis_redirects_total{kind=\"moved\"} 0"))
        #expect(!metrics.split(separator: "\n").contains { $0.hasPrefix("sidecar_redis_up ") })
        try await running.stop()
    }
}
