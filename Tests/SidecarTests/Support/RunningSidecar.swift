import AsyncHTTPClient
import NIOCore
import NIOHTTP1
import NIOPosix
import TestSupport

/// The built `sidecar` executable in front of a ``TestUpstream``, with an HTTP client for both of its ports.
struct RunningSidecar {
    let group: MultiThreadedEventLoopGroup
    let upstream: TestUpstream
    let sidecar: SidecarProcess
    let client: HTTPClient
    let port: Int
    let adminPort: Int

    /// Starts it with `extra` on top of its listen, admin and upstream variables.
    static func start(extra: [String: String] = [:], threads: Int = 1) async throws -> RunningSidecar {
        let group = MultiThreadedEventLoopGroup(numberOfThreads: threads)
        let upstream = try await TestUpstream.start(group: group)
        let port = try await freeLoopbackPort()
        let adminPort = try await freeLoopbackPort()
        var environment = [
            "SIDECAR_LISTEN": "127.0.0.1:\(port)",
            "SIDECAR_ADMIN_LISTEN": "127.0.0.1:\(adminPort)",
            "SIDECAR_UPSTREAM": "http://127.0.0.1:\(upstream.port)",
        ]
        environment.merge(extra) { $1 }
        let sidecar = try SidecarProcess(environment: environment)
        try await SidecarProcess.waitForPort(port)
        try await SidecarProcess.waitForPort(adminPort)
        return RunningSidecar(
            group: group,
            upstream: upstream,
            sidecar: sidecar,
            client: HTTPClient(eventLoopGroupProvider: .shared(group)),
            port: port,
            adminPort: adminPort
        )
    }

    func get(_ path: String, admin: Bool = false) async throws -> (status: Int, headers: HTTPHeaders, body: String) {
        let url = "http://127.0.0.1:\(admin ? adminPort : port)\(path)"
        let response = try await client.execute(HTTPClientRequest(url: url), timeout: .seconds(10))
        let body = try await response.body.collect(upTo: 16 << 20)
        return (Int(response.status.code), response.headers, String(buffer: body))
    }

    /// The value of one series in `/metrics`, 0 when absent.
    func value(_ series: String) async throws -> Double {
        let text = try await get("/metrics", admin: true).body
        for line in text.split(separator: "\n") where line.hasPrefix(series + " ") {
            return Double(line.dropFirst(series.count + 1)) ?? .nan
        }
        return 0
    }

    func stop() async throws {
        sidecar.signal(SIGTERM)
        _ = await sidecar.finish()
        try await client.shutdown()
        try await upstream.stop()
        try await group.shutdownGracefully()
    }
}
