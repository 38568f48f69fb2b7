import AsyncHTTPClient
import Foundation
import NIOCore
import NIOHTTP1
import NIOPosix
import TestSupport
import Testing

@testable import SidecarMetrics

/// `/metrics`, `/healthz` and `/readyz` of the real executable, checked with promtool and a real Prometheus.
@Suite("Metrics and health", .serialized)
struct MetricsTests {
    static let promtool = ["/usr/bin/promtool", "/usr/local/bin/promtool"].first {
        FileManager.default.isExecutableFile(atPath: $0)
    }
    static let prometheus = ["/usr/bin/prometheus", "/usr/local/bin/prometheus"].first {
        FileManager.default.isExecutableFile(atPath: $0)
    }

    /// The sidecar of these tests: one in-process rule and two metric routes.
    typealias Running = RunningSidecar

    static let environment = [
        "SIDECAR_LIMIT_ONCE": "1/m on GET /status/*",
        "SIDECAR_METRICS_ROUTES": "/hello,/status/*",
    ]

    @Test func countersMoveByExactlyTheRequestsOfEachOutcome() async throws {
        let running = try await Running.start(extra: Self.environment)
        // Two 200s, one 429 (the second /status/200 under a 1/m rule), one 502 (the upstream closes).
        #expect(try await running.get("/hello").status == 200)
        #expect(try await running.get("/status/200").status == 200)
        #expect(try await running.get("/status/200").status == 429)
        #expect(try await running.get("/close").status == 502)
        #expect(try await running.value(#"sidecar_http_requests_total{method="GET",code="200",route="/hello"}"#) == 1)
        #expect(
            try await running.value(#"sidecar_http_requests_total{method="GET",code="200",route="/status/*"}"#) == 1
        )
        #expect(
            try await running.value(#"sidecar_http_requests_total{method="GET",code="429",route="/status/*"}"#) == 1
        )
        #expect(try await running.value(#"sidecar_http_requests_total{method="GET",code="502",route="other"}"#) == 1)
        #expect(
            try await running.value(#"sidecar_http_request_duration_seconds_count{method="GET",route="/hello"}"#) == 1
        )
        #expect(try await running.value(#"sidecar_upstream_request_duration_seconds_count{route="/status/*"}"#) == 1)
        #expect(try await running.value(#"sidecar_upstream_errors_total{kind="reset"}"#) == 1)
        #expect(
            try await running.value(
                #"sidecar_ratelimit_decisions_total{rule="once",decision="allowed",source="local"}"#
            ) == 1
        )
        #expect(
            try await running.value(
                #"sidecar_ratelimit_decisions_total{rule="once",decision="limited",source="local"}"#
            ) == 1
        )
        #expect(try await running.value(#"sidecar_build_info{version="0.1.0"}"#) == 1)
        #expect(try await running.value("process_resident_memory_bytes") > 1_000_000)
        #expect(try await running.value("process_open_fds") > 3)
        let metrics = try await running.get("/metrics", admin: true)
        #expect(metrics.headers.first(name: "content-type") == "text/plain; version=0.0.4; charset=utf-8")
        // Paths outside SIDECAR_METRICS_ROUTES never become labels.
        #expect(!metrics.body.contains("route=\"/close\""))
        try await running.stop()
    }

    @Test(.enabled(if: MetricsTests.promtool != nil, "promtool is not installed: apt-get install -y prometheus"))
    func metricsPassPromtoolAfterEveryFamilyWasExercised() async throws {
        let redis = try await RedisServerProcess.start()
        defer { redis.stop() }
        let running = try await Running.start(
            extra: Self.environment.merging([
                "SIDECAR_REDIS_URL": "redis://127.0.0.1:\(redis.port)",
                "SIDECAR_LIMIT_ONCE": "1/m on GET /status/*",
                "SIDECAR_UPSTREAM_TIMEOUT": "200ms",
            ]) { $1 }
        )
        try await Task.sleep(for: .milliseconds(300))
        for path in ["/hello", "/status/200", "/status/200", "/close", "/slow/1000"] { _ = try await running.get(path) }
        let text = try await running.get("/metrics", admin: true).body
        for family in [
            "sidecar_http_requests_total", "sidecar_http_request_duration_seconds_bucket",
            "sidecar_upstream_request_duration_seconds_bucket", "sidecar_upstream_errors_total",
            "sidecar_ratelimit_decisions_total", "sidecar_redis_request_duration_seconds_bucket",
            "sidecar_redis_batch_size_bucket", "sidecar_redis_errors_total", "sidecar_redis_up",
            "sidecar_connections_active", "sidecar_tls_handshake_errors_total",
            "sidecar_tls_certificate_expiry_timestamp_seconds", "sidecar_build_info", "process_resident_memory_bytes",
            "process_cpu_seconds_total", "process_open_fds", "process_start_time_seconds",
        ] {
            #expect(text.contains("\n\(family)"), "\(family) missing from /metrics")
        }
        #expect(try await running.value(#"sidecar_upstream_errors_total{kind="timeout"}"#) == 1)
        #expect(try await running.value("sidecar_redis_up") == 1)

        let check = Process()
        check.executableURL = URL(fileURLWithPath: Self.promtool!)
        check.arguments = ["check", "metrics"]
        let input = Pipe()
        let output = Pipe()
        check.standardInput = input
        check.standardOutput = output
        check.standardError = output
        try check.run()
        input.fileHandleForWriting.write(Data(text.utf8))
        try input.fileHandleForWriting.close()
        let report = String(decoding: output.fileHandleForReading.readDataToEndOfFile(), as: UTF8.self)
        check.waitUntilExit()
        #expect(check.terminationStatus == 0, "promtool check metrics: \(report)")
        try await running.stop()
    }

    @Test func healthAndReadinessFollowTheUpstreamAndTheDrain() async throws {
        let running = try await Running.start(extra: ["SIDECAR_SHUTDOWN_GRACE": "10s"])
        #expect(try await running.get("/healthz", admin: true).status == 200)
        #expect(try await running.get("/readyz", admin: true).status == 200)
        #expect(try await running.get("/anything-else", admin: true).status == 404)
        // A slow request keeps the drain going while readiness is asked again.
        async let slow = running.get("/slow/1500")
        try await Task.sleep(for: .milliseconds(300))
        running.sidecar.signal(SIGTERM)
        try await Task.sleep(for: .milliseconds(1100))
        #expect(try await running.get("/readyz", admin: true).status == 503)
        #expect(try await running.get("/healthz", admin: true).status == 200)
        #expect(try await slow.status == 200)
        #expect(await running.sidecar.finish().status == 0)
        try await running.stop()
    }

    @Test func readinessFailsWhileTheUpstreamIsDown() async throws {
        let deadPort = try await freeLoopbackPort()
        let running = try await Running.start(extra: ["SIDECAR_UPSTREAM": "http://127.0.0.1:\(deadPort)"])
        #expect(try await running.get("/readyz", admin: true).status == 503)
        #expect(try await running.get("/healthz", admin: true).status == 200)
        try await running.stop()
    }

    @Test(.enabled(if: MetricsTests.prometheus != nil, "prometheus is not installed: apt-get install -y prometheus"))
    func aRealPrometheusScrapesTheSidecar() async throws {
        let running = try await Running.start(extra: Self.environment)
        _ = try await running.get("/hello")
        let prometheusPort = try await freeLoopbackPort()
        let directory = FileManager.default.temporaryDirectory.appendingPathComponent("prom-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: directory) }
        let config = """
            global:
              scrape_interval: 1s
            scrape_configs:
              - job_name: sidecar
                static_configs:
                  - targets: ["127.0.0.1:\(running.adminPort)"]
            """
        try config.write(to: directory.appendingPathComponent("prometheus.yml"), atomically: true, encoding: .utf8)
        let server = Process()
        server.executableURL = URL(fileURLWithPath: Self.prometheus!)
        server.arguments = [
            "--config.file=\(directory.path)/prometheus.yml", "--storage.tsdb.path=\(directory.path)/data",
            "--web.listen-address=127.0.0.1:\(prometheusPort)",
        ]
        server.standardOutput = FileHandle.nullDevice
        server.standardError = FileHandle.nullDevice
        try server.run()
        defer {
            server.terminate()
            server.waitUntilExit()
        }
        try await SidecarProcess.waitForPort(prometheusPort)
        func query(_ expression: String) async throws -> String {
            var components = URLComponents(string: "http://127.0.0.1:\(prometheusPort)/api/v1/query")!
            components.queryItems = [URLQueryItem(name: "query", value: expression)]
            let response = try await running.client.execute(
                HTTPClientRequest(url: components.url!.absoluteString),
                timeout: .seconds(5)
            )
            return String(buffer: try await response.body.collect(upTo: 1 << 20))
        }
        var up = ""
        var requests = ""
        for _ in 0..<60 {
            up = try await query(#"up{job="sidecar"}"#)
            requests = try await query(#"sum(sidecar_http_requests_total{job="sidecar"})"#)
            if up.contains(#""1"]"#) && requests.contains(#""1"]"#) { break }
            try await Task.sleep(for: .milliseconds(500))
        }
        #expect(up.contains(#""1"]"#), "up: \(up)")
        #expect(requests.contains(#""1"]"#), "sidecar_http_requests_total: \(requests)")
        try await running.stop()
    }
}

@Suite("Route labels")
struct RouteClassifierTests {
    @Test func boundedRouteLabels() {
        let routes = RouteClassifier(routes: ["/jobs/*", "/health"])
        #expect(routes.labels == ["/jobs/*", "/health", "other"])
        #expect(routes.route(of: "/jobs/42") == 0)
        #expect(routes.route(of: "/health") == 1)
        #expect(routes.route(of: "/healthz") == 2)
        #expect(routes.route(of: "/\(UUID().uuidString)") == 2)
    }
}

@Suite("healthcheck subcommand")
struct HealthCheckCommandTests {
    @Test func exitsZeroWhileTheSidecarServesAndOneOtherwise() async throws {
        let running = try await RunningSidecar.start()
        let healthy = try SidecarProcess(
            arguments: ["healthcheck"],
            environment: ["SIDECAR_ADMIN_LISTEN": "127.0.0.1:\(running.adminPort)"]
        )
        #expect(await healthy.finish().status == 0)
        try await running.stop()
        let unhealthy = try SidecarProcess(
            arguments: ["healthcheck"],
            environment: ["SIDECAR_ADMIN_LISTEN": "127.0.0.1:\(running.adminPort)"]
        )
        #expect(await unhealthy.finish().status == 1)
    }
}
