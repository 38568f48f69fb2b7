import AsyncHTTPClient
import Foundation
import NIOCore
import NIOPosix
import TestSupport
import Testing

/// The real executable on SIGTERM: the drain ends as soon as nothing is in flight, and everything
/// on the event loops stops before the loops do.
@Suite("sidecar shutdown", .serialized)
struct ShutdownTests {
    /// A connection still sniffing for the HTTP/2 preface serves nothing: the drain closes it at
    /// once instead of waiting the grace for it.
    @Test func aDrainDoesNotWaitForAConnectionStillSniffing() async throws {
        let running = try await RunningSidecar.start(extra: [
            "SIDECAR_H2C": "on", "SIDECAR_SHUTDOWN_GRACE": "20s", "SIDECAR_HEADER_TIMEOUT": "60s",
        ])
        let silent = try await ClientBootstrap(group: running.group).connect(host: "127.0.0.1", port: running.port)
            .get()
        try await silent.writeAndFlush(ByteBuffer(string: "PRI * HT")).get()
        #expect(try await running.get("/hello").status == 200)
        let started = ContinuousClock.now
        running.sidecar.signal(SIGTERM)
        // A drain that never ends fails the test instead of hanging it.
        let watchdog = Task { [sidecar = running.sidecar] in
            try await Task.sleep(for: .seconds(30))
            sidecar.signal(SIGKILL)
        }
        defer { watchdog.cancel() }
        let result = await running.sidecar.finish()
        let took = ContinuousClock.now - started
        #expect(result.status == 0)
        #expect(took < .seconds(5), "the drain took \(took) with a 20 s grace")
        try await silent.closeFuture.get()
        try await running.stop()
    }

    /// An exchange still in flight when the grace ends does not keep the process: it exits 0 soon
    /// after the grace, and the client's request ends.
    @Test func theGraceBoundsTheDrainWhenAnExchangeIsStillInFlight() async throws {
        let running = try await RunningSidecar.start(extra: ["SIDECAR_SHUTDOWN_GRACE": "2s"])
        let client = running.client
        let port = running.port
        let inFlight = Task {
            try await client.execute(
                HTTPClientRequest(url: "http://127.0.0.1:\(port)/slow/30000"),
                timeout: .seconds(40)
            )
        }
        try await Task.sleep(for: .milliseconds(500))
        let started = ContinuousClock.now
        running.sidecar.signal(SIGTERM)
        // A drain that never ends fails the test instead of hanging it.
        let watchdog = Task { [sidecar = running.sidecar] in
            try await Task.sleep(for: .seconds(30))
            sidecar.signal(SIGKILL)
        }
        defer { watchdog.cancel() }
        let result = await running.sidecar.finish()
        let took = ContinuousClock.now - started
        #expect(result.status == 0)
        #expect(took < .seconds(10), "the drain took \(took) with a 2 s grace")
        #expect(result.errors.contains("grace period over"))
        _ = try? await inFlight.value
        try await running.stop()
    }

    /// With Redis (limiter and replica heartbeat) and TLS (certificate reloader), a request and a
    /// SIGTERM: exit 0 and no NIO error lines, such as scheduling on a loop already shut down. A
    /// client that never starts its TLS handshake does not hold the drain up either.
    @Test(
        .enabled(if: RedisServerProcess.isAvailable, "redis-server is not installed"),
        .enabled(if: Tool.openssl != nil && Tool.curl != nil, "openssl and curl are needed")
    )
    func sigtermWithRedisAndTLSStopsEverythingBeforeItsEventLoops() async throws {
        let redis = try await RedisServerProcess.start()
        defer { redis.stop() }
        let directory = try TLSTests.temporaryDirectory()
        defer { try? FileManager.default.removeItem(at: directory) }
        let certificate = try TLSTests.makeCertificate(in: directory, serial: 1)
        let running = try await RunningSidecar.start(
            extra: [
                "SIDECAR_REDIS_URL": "redis://127.0.0.1:\(redis.port)",
                "SIDECAR_LIMIT_API": "1000/s by ip",
                "SIDECAR_TLS_CERT_FILE": certificate,
                "SIDECAR_TLS_KEY_FILE": directory.appendingPathComponent("key.pem").path,
                "SIDECAR_SHUTDOWN_GRACE": "20s",
                "SIDECAR_HEADER_TIMEOUT": "60s",
            ],
            threads: 2
        )
        for _ in 0..<3 {
            let curl = try Tool.run(
                Tool.curl!,
                [
                    "-sS", "--cacert", certificate, "-o", "/dev/null", "-w", "%{http_code}",
                    "https://localhost:\(running.port)/hello", "--resolve", "localhost:\(running.port):127.0.0.1",
                ]
            )
            #expect(curl.output == "200")
        }
        let silent = try await ClientBootstrap(group: running.group).connect(host: "127.0.0.1", port: running.port)
            .get()
        // The heartbeat and the reloader have run at least once.
        try await Task.sleep(for: .milliseconds(1_200))
        let started = ContinuousClock.now
        running.sidecar.signal(SIGTERM)
        // A drain that never ends fails the test instead of hanging it.
        let watchdog = Task { [sidecar = running.sidecar] in
            try await Task.sleep(for: .seconds(30))
            sidecar.signal(SIGKILL)
        }
        defer { watchdog.cancel() }
        let result = await running.sidecar.finish()
        let took = ContinuousClock.now - started
        #expect(result.status == 0)
        #expect(took < .seconds(5), "the drain took \(took) with a 20 s grace")
        try await silent.closeFuture.get()
        #expect(!result.errors.contains("Cannot schedule tasks"), "\(result.errors)")
        let nioErrors = result.errors.split(separator: "\n").filter { $0.hasPrefix("ERROR:") }
        #expect(nioErrors.isEmpty, "\(nioErrors)")
        #expect(result.errors.contains("stopped") || result.output.contains("stopped"))
        try await running.stop()
    }
}
