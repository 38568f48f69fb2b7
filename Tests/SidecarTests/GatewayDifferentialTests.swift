import Foundation
import Limiter
import NIOCore
import Testing

@testable import Sidecar

/// Whenever the real gateway stack (Starlette under uvicorn) runs a route, the sidecar limited the
/// request under that route's rule: "the path" means what the gateway means.
@Suite("Request targets against the real gateway stack", .serialized)
struct GatewayDifferentialTests {
    /// The routes of `gateway_app.py` and a request that runs each.
    static let routes: [(method: String, path: String, rule: String)] = [
        ("POST", "/jobs", "1/h on POST /jobs"),
        ("POST", "/jobs/7", "1/h on POST /jobs/*"),
        ("GET", "/admin", "1/h on GET /admin"),
    ]

    @Test(.enabled(if: GatewayApp.python != nil, "uvicorn is not installed: make tools (a Python venv in .venv-tools)"))
    func everySpellingThatRunsARouteWasLimited() async throws {
        let gateway = try GatewayApp.start()
        defer { gateway.stop() }
        try await SidecarHarness.with(
            configure: { configuration in
                configuration.rules = Self.routes.enumerated().map { index, route in
                    try! RuleParser.parse(name: "route\(index)", route.rule)
                }
            },
            upstreamAddress: { _ in .tcp(host: "127.0.0.1", port: gateway.port) }
        ) { harness in
            let host = "127.0.0.1:\(harness.port)"
            // The one token of each rule, spent by the plain spelling: the gateway runs each route once.
            for (index, route) in Self.routes.enumerated() {
                let response = try await Self.send(
                    route.method,
                    route.path,
                    probe: "plain\(index)",
                    host: host,
                    harness
                )
                #expect(response.hasPrefix("HTTP/1.1 200"), "\(route.method) \(route.path): \(response.prefix(60))")
            }
            var corpus: [(method: String, target: String)] = []
            for route in Self.routes {
                corpus += Self.spellings(of: route.path, host: host).map { (route.method, $0) }
                corpus += Self.methodSpellings(of: route.method).map { ($0, route.path) }
            }
            var statuses: [String: Int] = [:]
            for (index, request) in corpus.enumerated() {
                let response = try await Self.send(
                    request.method,
                    request.target,
                    probe: "\(index)",
                    host: host,
                    harness
                )
                // Every request gets an answer, never silence.
                #expect(response.hasPrefix("HTTP/1.1 "), "\(request.method) \(request.target): no answer")
                statuses[String(response.dropFirst(9).prefix(3)), default: 0] += 1
            }
            let runs = try gateway.runs()
            let escaped = runs.filter { !$0.probe.hasPrefix("plain") }.map { run in
                let request = Int(run.probe).map { corpus[$0] }
                return "\(request?.method ?? "?") \(request?.target ?? run.probe) ran \(run.route) as \(run.path)"
            }
            #expect(escaped.isEmpty, "spellings the gateway ran without a limit: \(escaped)")
            #expect(runs.count == Self.routes.count)
            // The corpus holds both refused spellings and limited ones.
            #expect(statuses["429", default: 0] > 50)
            #expect(statuses["400", default: 0] > 10)
        }
    }

    /// Sends one request on its own connection and returns the whole answer.
    static func send(
        _ method: String,
        _ target: String,
        probe: String,
        host: String,
        _ harness: SidecarHarness
    ) async throws -> String {
        let request =
            "\(method) \(target) HTTP/1.1\r\nHost: \(host)\r\nX-Probe: \(probe)\r\nContent-Length: 0\r\n"
            + "Connection: close\r\n\r\n"
        return try await harness.raw(request)
    }

    /// Other spellings of `path`: percent-encodings of every character, dot segments, repeated
    /// slashes, absolute form, queries and fragments, case variants and separators.
    static func spellings(of path: String, host: String) -> [String] {
        let characters = Array(path)
        var result: [String] = []
        func encoded(_ character: Character, upper: Bool) -> String {
            character.utf8.map { String(format: upper ? "%%%02X" : "%%%02x", $0) }.joined()
        }
        for index in characters.indices {
            for upper in [true, false] {
                var spelled = characters.map(String.init)
                spelled[index] = encoded(characters[index], upper: upper)
                result.append(spelled.joined())
            }
            // Encoded twice: the gateway decodes once, so it sees a percent sign.
            var twice = characters.map(String.init)
            twice[index] = encoded(characters[index], upper: true).replacingOccurrences(of: "%", with: "%25")
            result.append(twice.joined())
        }
        result.append(characters.map { encoded($0, upper: true) }.joined())
        let slashes = characters.indices.filter { characters[$0] == "/" }
        for index in slashes {
            for replacement in ["//", "/./", "/x/../", "/%2e/", "/%2E%2E/", "%2F", "%2f", "%5C", "\\", "/;/"] {
                var spelled = characters.map(String.init)
                spelled[index] = replacement
                result.append(spelled.joined())
            }
        }
        result += [
            "/." + path, "/.." + path, "/x/.." + path, "//" + path, path + "/.", path + "/x/..", path + "/",
            path + ".", path + "%20", path + "%09", path + ";x", path + "%3F", path + "%23", path + "?", path + "?a=1",
            path + "?a=%00", path + "#", path + "#f", path + "?#", path + "?a=|{}", path + "|", path + "%00",
            path.uppercased(), path.prefix(2).uppercased() + path.dropFirst(2),
            "http://\(host)\(path)", "HTTP://\(host)\(path)", "http://\(host)\(path)?a", "http://other.example\(path)",
            "https://\(host)\(path)", "http://\(host)/.\(path)", "http://user@\(host)\(path)",
            String(path.dropFirst()), "*", path.replacingOccurrences(of: "o", with: "\u{FF4F}"),
        ]
        return result
    }

    /// Other spellings of a method: case variants, and HEAD for GET (which Starlette runs as GET).
    static func methodSpellings(of method: String) -> [String] {
        var result = [method.lowercased(), method.prefix(1) + method.dropFirst().lowercased()]
        if method == "GET" { result.append("HEAD") }
        return result
    }
}

/// `gateway_app.py` under uvicorn, on an ephemeral loopback port.
struct GatewayApp {
    let process: Process
    let port: Int

    struct Run: Decodable {
        var route: String
        var probe: String
        var path: String
    }

    /// The tools venv's Python, when it has uvicorn and Starlette.
    static let python: String? = {
        let venv = FileManager.default.currentDirectoryPath + "/.venv-tools/bin/"
        guard FileManager.default.isExecutableFile(atPath: venv + "uvicorn") else { return nil }
        return venv + "python"
    }()

    static func start() throws -> GatewayApp {
        let script = URL(fileURLWithPath: #filePath).deletingLastPathComponent()
            .appendingPathComponent("Gateway/gateway_app.py").path
        let portFile = FileManager.default.temporaryDirectory.appendingPathComponent("gateway-\(UUID().uuidString)")
        let process = Process()
        process.executableURL = URL(fileURLWithPath: python!)
        process.arguments = [script, portFile.path]
        try process.run()
        defer { try? FileManager.default.removeItem(at: portFile) }
        for _ in 0..<200 {
            if let text = try? String(contentsOf: portFile, encoding: .utf8), let port = Int(text) {
                let app = GatewayApp(process: process, port: port)
                if (try? app.runs()) != nil { return app }
            }
            Thread.sleep(forTimeInterval: 0.05)
        }
        process.terminate()
        throw GatewayDidNotStart()
    }

    /// The route runs the gateway recorded, asked on its own port.
    func runs() throws -> [Run] {
        let fetched = try Tool.run(Tool.curl!, ["-sf", "http://127.0.0.1:\(port)/__runs"])
        guard fetched.status == 0 else { throw GatewayDidNotStart() }
        return try JSONDecoder().decode([Run].self, from: Data(fetched.output.utf8))
    }

    /// Kills it: uvicorn's graceful SIGTERM may wait on keep-alive connections.
    func stop() {
        kill(process.processIdentifier, SIGKILL)
        process.waitUntilExit()
    }

    struct GatewayDidNotStart: Error {}
}
