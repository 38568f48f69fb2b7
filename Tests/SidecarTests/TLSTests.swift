import AsyncHTTPClient
import Foundation
import Limiter
import Logging
import NIOCore
import NIOPosix
import NIOSSL
import Synchronization
import TestSupport
import Testing

@testable import Sidecar
@testable import SidecarMetrics

/// TLS and HTTP/2 against real peers: openssl s_client, curl, h2load and async-http-client.
@Suite("TLS and HTTP/2", .serialized, .enabled(if: Tool.openssl != nil, "openssl is not installed"))
struct TLSTests {
    /// A TLS sidecar on an ephemeral port with its reloader running.
    struct Running {
        let group: MultiThreadedEventLoopGroup
        let upstream: TestUpstream
        let server: ProxyServer
        let reloader: Task<Void, Never>
        let handles: SidecarMetricsSystem.Handles
        let directory: URL
        var port: Int { server.localAddress.port! }

        static func start(
            directory: URL,
            clientCA: String? = nil,
            configure: (inout SidecarConfiguration) -> Void = { _ in }
        ) async throws -> Running {
            let group = MultiThreadedEventLoopGroup(numberOfThreads: 2)
            let upstream = try await TestUpstream.start(group: group)
            var configuration = try await SidecarConfiguration.load(environment: [:])
            configuration.listen = ListenAddress(host: "127.0.0.1", port: 0)
            configuration.upstream = .tcp(host: "127.0.0.1", port: upstream.port)
            configuration.tls = TLSFiles(
                certificateFile: directory.appendingPathComponent("cert.pem").path,
                keyFile: directory.appendingPathComponent("key.pem").path,
                clientCAFile: clientCA
            )
            configure(&configuration)
            var logger = Logger(label: "tls-test")
            logger.logLevel = .critical
            let handles = SidecarMetricsSystem.makeHandles(version: "test")
            let tls = try TLSSetup.make(files: configuration.tls!, metrics: handles, logger: logger)
            let limiters = RateLimiters.make(configuration: configuration, group: group, logger: logger)
            let server = try await ProxyServer.start(
                configuration: configuration,
                group: group,
                limiter: limiters.limiter,
                metrics: ProxyMetrics(
                    http: HTTPMetrics(routes: RouteClassifier(routes: []), group: group),
                    handles: handles
                ),
                tls: tls.context,
                logger: logger
            )
            let reloader = Task { _ = try? await tls.reloader.run() }
            return Running(
                group: group,
                upstream: upstream,
                server: server,
                reloader: reloader,
                handles: handles,
                directory: directory
            )
        }

        /// An async-http-client that trusts `certificate` (a PEM file), or any certificate when `nil`.
        func client(trusting certificate: String?) -> HTTPClient {
            var tls = TLSConfiguration.makeClientConfiguration()
            if let certificate {
                tls.trustRoots = .file(certificate)
            } else {
                tls.certificateVerification = .none
            }
            return HTTPClient(eventLoopGroupProvider: .shared(group), configuration: .init(tlsConfiguration: tls))
        }

        /// A sample's value in the registry's output, 0 when absent.
        func metric(_ name: String) -> Double {
            for line in handles.registry.emitToString().split(separator: "\n") where line.hasPrefix(name + " ") {
                return Double(line.dropFirst(name.count + 1)) ?? .nan
            }
            return 0
        }

        func stop() async throws {
            reloader.cancel()
            await server.drain(grace: .milliseconds(200))
            try await upstream.stop()
            try await group.shutdownGracefully()
        }
    }

    static func temporaryDirectory() throws -> URL {
        let directory = FileManager.default.temporaryDirectory.appendingPathComponent(
            "sidecar-tls-\(UUID().uuidString)"
        )
        try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
        return directory
    }

    /// A self-signed EC P-256 certificate for localhost and its key, written as `<name>.pem` files.
    @discardableResult
    static func makeCertificate(
        in directory: URL,
        certificate: String = "cert.pem",
        key: String = "key.pem",
        serial: Int
    )
        throws -> String
    {
        let result = try Tool.run(
            Tool.openssl!,
            [
                "req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256", "-nodes",
                "-keyout", directory.appendingPathComponent(key).path,
                "-out", directory.appendingPathComponent(certificate).path,
                "-days", "30", "-subj", "/CN=localhost", "-set_serial", String(serial),
                "-addext", "subjectAltName=DNS:localhost,IP:127.0.0.1",
            ]
        )
        #expect(result.status == 0, "openssl req: \(result.output)")
        return directory.appendingPathComponent(certificate).path
    }

    /// Renames `source` over `destination` in one step, as `rename(2)` does.
    static func move(_ source: URL, over destination: URL) throws {
        guard rename(source.path, destination.path) == 0 else {
            throw CocoaError(.fileWriteUnknown, userInfo: [NSFilePathErrorKey: destination.path])
        }
    }

    /// What `openssl s_client` reports for a handshake with `arguments`.
    static func handshake(port: Int, _ arguments: [String]) throws -> String {
        try Tool.run(
            Tool.openssl!,
            ["s_client", "-connect", "127.0.0.1:\(port)", "-servername", "localhost"] + arguments,
            input: ""
        ).output
    }

    @Test func protocolVersionsCiphersAndALPN() async throws {
        let directory = try Self.temporaryDirectory()
        defer { try? FileManager.default.removeItem(at: directory) }
        try Self.makeCertificate(in: directory, serial: 1)
        let running = try await Running.start(directory: directory)
        for old in ["-tls1", "-tls1_1"] {
            let output = try Self.handshake(port: running.port, [old])
            #expect(output.contains("Cipher is (NONE)"), "\(old) must be refused: \(output)")
        }
        let tls12 = try Self.handshake(port: running.port, ["-tls1_2", "-alpn", "h2,http/1.1"])
        #expect(tls12.contains("New, TLSv1.2, Cipher is ECDHE-ECDSA-AES"))
        #expect(tls12.contains("ALPN protocol: h2"))
        let tls13 = try Self.handshake(port: running.port, ["-tls1_3", "-alpn", "http/1.1"])
        #expect(tls13.contains("New, TLSv1.3"))
        #expect(tls13.contains("ALPN protocol: http/1.1"))
        for weak in ["AES128-SHA", "ECDHE-ECDSA-AES128-SHA", "AES256-GCM-SHA384"] {
            let output = try Self.handshake(port: running.port, ["-tls1_2", "-cipher", weak])
            #expect(output.contains("Cipher is (NONE)"), "\(weak) must be refused")
        }
        #expect(running.metric("sidecar_tls_handshake_errors_total") >= 5)
        #expect(running.metric("sidecar_tls_certificate_expiry_timestamp_seconds") > Date().timeIntervalSince1970)
        try await running.stop()
    }

    /// A client that connects and never starts its handshake is closed at the handshake deadline
    /// (the header timeout) and counted as a failed handshake.
    @Test func aSilentClientIsClosedAtTheHandshakeDeadline() async throws {
        let directory = try Self.temporaryDirectory()
        defer { try? FileManager.default.removeItem(at: directory) }
        try Self.makeCertificate(in: directory, serial: 1)
        let running = try await Running.start(directory: directory) { $0.headerTimeout = .seconds(3) }
        let started = ContinuousClock.now
        let received = try await RawConnection.exchange(
            port: running.port,
            group: running.group,
            send: [],
            timeout: .seconds(15)
        )
        #expect(received.isEmpty)
        #expect(ContinuousClock.now - started >= .milliseconds(2_900))
        #expect(running.metric("sidecar_tls_handshake_errors_total") == 1)
        try await running.stop()
    }

    @Test(.enabled(if: Tool.curl != nil, "curl is not installed"))
    func http2AndHTTP1GiveTheSameAnswers() async throws {
        let directory = try Self.temporaryDirectory()
        defer { try? FileManager.default.removeItem(at: directory) }
        let certificate = try Self.makeCertificate(in: directory, serial: 2)
        let running = try await Running.start(directory: directory) {
            $0.maxBodyBytes = 1000
            $0.rules = [try! RuleParser.parse(name: "once", "1/m on GET /status/*")]
        }
        func curl(_ version: String, _ path: String, _ extra: [String] = []) throws -> String {
            try Tool.run(
                Tool.curl!,
                [
                    "-sS", "--cacert", certificate, version, "-o", "/dev/null",
                    "-w", "%{http_version} %{http_code} %{size_download}", "https://localhost:\(running.port)\(path)",
                ] + extra
            ).output
        }
        #expect(try curl("--http2", "/hello") == "2 200 20")
        #expect(try curl("--http1.1", "/hello") == "1.1 200 20")
        #expect(try curl("--http2", "/bytes/3000000") == "2 200 3000000")
        #expect(try curl("--http2", "/status/200") == "2 200 0")
        let denied = try curl("--http2", "/status/200")
        #expect(denied.hasPrefix("2 429 "))
        #expect(try curl("--http1.1", "/status/200").hasPrefix("1.1 429 "))
        #expect(try curl("--http2", "/close").hasPrefix("2 502 "))
        #expect(try curl("--http1.1", "/close").hasPrefix("1.1 502 "))
        let big = directory.appendingPathComponent("big")
        try Data(repeating: 0x61, count: 5000).write(to: big)
        #expect(try curl("--http2", "/sink", ["--data-binary", "@\(big.path)"]).hasPrefix("2 413 "))
        #expect(try curl("--http1.1", "/sink", ["--data-binary", "@\(big.path)"]).hasPrefix("1.1 413 "))

        // async-http-client over TLS, HTTP/2 negotiated, streaming a body both ways.
        let client = running.client(trusting: certificate)
        var request = HTTPClientRequest(url: "https://localhost:\(running.port)/echo")
        request.method = .POST
        let payload = ByteBuffer(repeating: 0x7A, count: 900)
        request.body = .bytes(payload)
        let response = try await client.execute(request, timeout: .seconds(10))
        #expect(response.version == .http2)
        #expect(response.status == .ok)
        #expect(try await response.body.collect(upTo: 1 << 20) == payload)
        try await client.shutdown()
        try await running.stop()
    }

    @Test func aStreamTheClientResetsCancelsItsUpstreamRequest() async throws {
        let directory = try Self.temporaryDirectory()
        defer { try? FileManager.default.removeItem(at: directory) }
        let certificate = try Self.makeCertificate(in: directory, serial: 6)
        let running = try await Running.start(directory: directory)
        let client = running.client(trusting: certificate)
        // Keep the HTTP/2 connection open with a first request, then give up on a slow one: the
        // client resets that stream, and the sidecar must close the upstream request it started.
        #expect(
            try await client.execute(
                HTTPClientRequest(url: "https://localhost:\(running.port)/hello"),
                timeout: .seconds(5)
            ).status == .ok
        )
        let slow = Task {
            try await client.execute(
                HTTPClientRequest(url: "https://localhost:\(running.port)/slow/5000"),
                timeout: .seconds(10)
            )
        }
        try await Task.sleep(for: .milliseconds(300))
        slow.cancel()
        _ = await slow.result
        var abandoned = 0
        for _ in 0..<40 where abandoned == 0 {
            try await Task.sleep(for: .milliseconds(50))
            abandoned = running.upstream.abandonedSlowRequests
        }
        #expect(abandoned == 1, "the upstream request outlived the client's reset")
        try await client.shutdown()
        try await running.stop()
    }

    @Test func drainingFinishesHTTP2StreamsInFlight() async throws {
        let directory = try Self.temporaryDirectory()
        defer { try? FileManager.default.removeItem(at: directory) }
        let certificate = try Self.makeCertificate(in: directory, serial: 5)
        let running = try await Running.start(directory: directory)
        let client = running.client(trusting: certificate)
        async let slow = client.execute(
            HTTPClientRequest(url: "https://localhost:\(running.port)/slow/800"),
            timeout: .seconds(10)
        )
        try await Task.sleep(for: .milliseconds(300))
        await running.server.drain(grace: .seconds(5))
        let response = try await slow
        #expect(response.version == .http2)
        #expect(response.status == .ok)
        #expect(String(buffer: try await response.body.collect(upTo: 1024)) == "slow 800\n")
        try await client.shutdown()
        running.reloader.cancel()
        try await running.upstream.stop()
        try await running.group.shutdownGracefully()
    }

    @Test(.enabled(if: Tool.sslyze != nil, "sslyze is not installed: make tools (a Python venv in .venv-tools)"))
    func sslyzeFindsTheMozillaIntermediateConfiguration() async throws {
        let directory = try Self.temporaryDirectory()
        defer { try? FileManager.default.removeItem(at: directory) }
        // A CA and a leaf it signed, so that sslyze can validate the path with the CA alone.
        func path(_ name: String) -> String { directory.appendingPathComponent(name).path }
        let steps: [[String]] = [
            [
                "req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256", "-nodes", "-keyout",
                path("ca-key.pem"), "-out", path("ca.pem"), "-days", "30", "-subj", "/CN=sidecar test CA",
                "-addext", "basicConstraints=critical,CA:TRUE", "-addext", "keyUsage=critical,keyCertSign,cRLSign",
            ],
            [
                "req", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256", "-nodes", "-keyout", path("key.pem"),
                "-out", path("leaf.csr"), "-subj", "/CN=localhost",
            ],
        ]
        for step in steps { #expect(try Tool.run(Tool.openssl!, step).status == 0) }
        try """
        subjectAltName=DNS:localhost,IP:127.0.0.1
        extendedKeyUsage=serverAuth
        keyUsage=critical,digitalSignature
        basicConstraints=critical,CA:FALSE

        """.write(toFile: path("ext.cnf"), atomically: true, encoding: .utf8)
        #expect(
            try Tool.run(
                Tool.openssl!,
                [
                    "x509", "-req", "-in", path("leaf.csr"), "-CA", path("ca.pem"), "-CAkey", path("ca-key.pem"),
                    "-CAcreateserial", "-out", path("leaf.pem"), "-days", "30", "-extfile", path("ext.cnf"),
                ]
            ).status == 0
        )
        let chain =
            try String(contentsOfFile: path("leaf.pem"), encoding: .utf8)
            + String(contentsOfFile: path("ca.pem"), encoding: .utf8)
        try chain.write(toFile: path("cert.pem"), atomically: true, encoding: .utf8)
        let running = try await Running.start(directory: directory)
        let scan = try Tool.run(
            Tool.sslyze!,
            [
                "--mozilla_config=intermediate", "--certinfo_ca_file", path("ca.pem"), "localhost:\(running.port)",
            ]
        )
        #expect(scan.status == 0, "\(scan.output.suffix(1500))")
        #expect(scan.output.contains("OK - Compliant"))
        try await running.stop()
    }

    @Test(.enabled(if: Tool.h2load != nil, "h2load is not installed: apt-get install -y nghttp2-client"))
    func h2loadRunsAThousandMultiplexedRequestsWithoutFailure() async throws {
        let directory = try Self.temporaryDirectory()
        defer { try? FileManager.default.removeItem(at: directory) }
        try Self.makeCertificate(in: directory, serial: 3)
        let running = try await Running.start(directory: directory)
        let result = try Tool.run(
            Tool.h2load!,
            ["-n", "1000", "-c", "4", "-m", "16", "https://127.0.0.1:\(running.port)/hello"]
        )
        #expect(
            result.output.contains(
                "requests: 1000 total, 1000 started, 1000 done, 1000 succeeded, 0 failed, 0 errored"
            ),
            "\(result.output)"
        )
        #expect(result.output.contains("status codes: 1000 2xx"))
        try await running.stop()
    }

    @Test func reloadsANewPairWithoutFailingRequestsAndKeepsTheOldOneWhenBroken() async throws {
        let directory = try Self.temporaryDirectory()
        defer { try? FileManager.default.removeItem(at: directory) }
        try Self.makeCertificate(in: directory, serial: 1001)
        let running = try await Running.start(directory: directory)
        func servedSerial() throws -> String {
            let output = try Self.handshake(port: running.port, ["-showcerts"])
            let certificate = directory.appendingPathComponent("served.pem")
            let pem =
                output.components(separatedBy: "-----BEGIN CERTIFICATE-----").dropFirst().first?
                .components(separatedBy: "-----END CERTIFICATE-----").first ?? ""
            try ("-----BEGIN CERTIFICATE-----" + pem + "-----END CERTIFICATE-----\n").write(
                to: certificate,
                atomically: true,
                encoding: .utf8
            )
            return try Tool.run(Tool.openssl!, ["x509", "-in", certificate.path, "-noout", "-serial"]).output
        }
        #expect(try servedSerial().contains("serial=03E9"))

        // Requests keep flowing while the files are replaced.
        let failures = Atomic<Int>(0)
        let stop = Atomic<Bool>(false)
        // The served certificate changes during this test: the client trusts whatever it is shown.
        let client = running.client(trusting: nil)
        let load = Task {
            while !stop.load(ordering: .relaxed) {
                do {
                    let response = try await client.execute(
                        HTTPClientRequest(url: "https://127.0.0.1:\(running.port)/hello"),
                        timeout: .seconds(5)
                    )
                    _ = try await response.body.collect(upTo: 1024)
                    if response.status != .ok { failures.add(1, ordering: .relaxed) }
                } catch {
                    failures.add(1, ordering: .relaxed)
                }
            }
        }
        // Replace both files as a Kubernetes Secret update would: new files, then a rename.
        let staging = try Self.temporaryDirectory()
        try Self.makeCertificate(in: staging, serial: 2002)
        try Self.move(staging.appendingPathComponent("key.pem"), over: directory.appendingPathComponent("key.pem"))
        try Self.move(staging.appendingPathComponent("cert.pem"), over: directory.appendingPathComponent("cert.pem"))
        var serial = ""
        for _ in 0..<30 {
            serial = try servedSerial()
            if serial.contains("serial=07D2") { break }
            try await Task.sleep(for: .milliseconds(100))
        }
        #expect(serial.contains("serial=07D2"), "the new pair is served within 3 s: \(serial)")

        // A key that does not match the certificate is refused and the last good pair kept.
        try Self.makeCertificate(in: staging, certificate: "other.pem", key: "otherkey.pem", serial: 3003)
        try Self.move(staging.appendingPathComponent("otherkey.pem"), over: directory.appendingPathComponent("key.pem"))
        try await Task.sleep(for: .milliseconds(2500))
        #expect(try servedSerial().contains("serial=07D2"))
        #expect(running.metric("sidecar_tls_certificate_reload_errors_total") >= 1)

        stop.store(true, ordering: .relaxed)
        await load.value
        #expect(failures.load(ordering: .relaxed) == 0)
        try await client.shutdown()
        try? FileManager.default.removeItem(at: staging)
        try await running.stop()
    }

    @Test(.enabled(if: Tool.curl != nil, "curl is not installed"))
    func mutualTLSRequiresACertificateSignedByTheClientCA() async throws {
        let directory = try Self.temporaryDirectory()
        defer { try? FileManager.default.removeItem(at: directory) }
        let certificate = try Self.makeCertificate(in: directory, serial: 4)
        // A client CA and a client certificate it signed.
        let ca = directory.appendingPathComponent("ca.pem").path
        let caKey = directory.appendingPathComponent("ca-key.pem").path
        #expect(
            try Tool.run(
                Tool.openssl!,
                [
                    "req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256", "-nodes", "-keyout", caKey,
                    "-out", ca, "-days", "30", "-subj", "/CN=client CA",
                ]
            ).status == 0
        )
        /// A key and a certificate for `name`, signed by the client CA.
        func makeClientCertificate(_ name: String) throws -> (certificate: String, key: String) {
            let key = directory.appendingPathComponent("\(name)-key.pem").path
            let request = directory.appendingPathComponent("\(name).csr").path
            let certificate = directory.appendingPathComponent("\(name).pem").path
            let steps = [
                [
                    "req", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256", "-nodes", "-keyout", key, "-out",
                    request, "-subj", "/CN=\(name)",
                ],
                [
                    "x509", "-req", "-in", request, "-CA", ca, "-CAkey", caKey, "-CAcreateserial", "-out", certificate,
                    "-days", "30",
                ],
            ]
            for step in steps { #expect(try Tool.run(Tool.openssl!, step).status == 0) }
            return (certificate, key)
        }
        let (clientCertificate, clientKey) = try makeClientCertificate("gateway-client")
        // A second client, with its own subject.
        let (otherCertificate, otherKey) = try makeClientCertificate("other-client")
        let running = try await Running.start(directory: directory, clientCA: ca) {
            $0.rules = [try! RuleParser.parse(name: "per_client", "2/m by tls:subject")]
        }
        func curl(_ extra: [String]) throws -> String {
            try Tool.run(
                Tool.curl!,
                [
                    "-sS", "--cacert", certificate, "-o", "/dev/null", "-w", "%{http_code}",
                    "https://localhost:\(running.port)/hello",
                ] + extra
            ).output
        }
        #expect(try curl(["--cert", clientCertificate, "--key", clientKey]) == "200")
        #expect(try curl(["--cert", clientCertificate, "--key", clientKey]) == "200")
        // `tls:subject` keys each verified client on its own: the first is limited, the second is not.
        #expect(try curl(["--cert", clientCertificate, "--key", clientKey]) == "429")
        #expect(try curl(["--cert", otherCertificate, "--key", otherKey]) == "200")
        #expect(try curl([]) != "200")
        // A certificate from another issuer is refused too.
        #expect(try curl(["--cert", certificate, "--key", directory.appendingPathComponent("key.pem").path]) != "200")
        try await running.stop()
    }
}

@Suite("h2c with prior knowledge")
struct H2CTests {
    @Test(.enabled(if: Tool.curl != nil && Tool.h2load != nil, "curl and h2load are needed"))
    func plainListenerSpeaksBothWhenEnabled() async throws {
        try await SidecarHarness.with(configure: { $0.h2c = true }) { harness in
            let url = "http://127.0.0.1:\(harness.port)/hello"
            let h2 = try Tool.run(
                Tool.curl!,
                ["-sS", "--http2-prior-knowledge", "-o", "/dev/null", "-w", "%{http_version} %{http_code}", url]
            )
            #expect(h2.output == "2 200")
            let h1 = try Tool.run(
                Tool.curl!,
                ["-sS", "--http1.1", "-o", "/dev/null", "-w", "%{http_version} %{http_code}", url]
            )
            #expect(h1.output == "1.1 200")
            #expect(try await harness.send("/hello").status == 200)
            let load = try Tool.run(Tool.h2load!, ["-n", "200", "-c", "2", "-m", "8", url])
            #expect(load.output.contains("200 succeeded, 0 failed"), "\(load.output)")
        }
    }

    @Test(.enabled(if: Tool.curl != nil, "curl is needed"))
    func priorKnowledgeIsRefusedWhenDisabled() async throws {
        try await SidecarHarness.with { harness in
            let url = "http://127.0.0.1:\(harness.port)/hello"
            let h2 = try Tool.run(
                Tool.curl!,
                ["-sS", "--http2-prior-knowledge", "-o", "/dev/null", "-w", "%{http_code}", url]
            )
            #expect(h2.output.hasSuffix("000") || h2.output.contains("400"))
        }
    }
}

/// Command-line peers used by the tests.
enum Tool {
    static func find(_ name: String) -> String? {
        ["/usr/bin/\(name)", "/usr/local/bin/\(name)"].first { FileManager.default.isExecutableFile(atPath: $0) }
    }

    static let openssl = find("openssl")
    static let curl = find("curl")
    static let h2load = find("h2load")
    /// sslyze from the tools venv that `make tools` creates.
    static let sslyze = [
        ProcessInfo.processInfo.environment["SSLYZE"],
        FileManager.default.currentDirectoryPath + "/.venv-tools/bin/sslyze",
    ].compactMap { $0 }.first { FileManager.default.isExecutableFile(atPath: $0) }

    /// Runs `executable` to completion; standard output and error together.
    static func run(
        _ executable: String,
        _ arguments: [String],
        input: String? = nil
    ) throws -> (status: Int32, output: String) {
        let process = Process()
        process.executableURL = URL(fileURLWithPath: executable)
        process.arguments = arguments
        let output = Pipe()
        process.standardOutput = output
        process.standardError = output
        let stdin = Pipe()
        process.standardInput = input == nil ? FileHandle.nullDevice : stdin
        try process.run()
        if let input {
            stdin.fileHandleForWriting.write(Data(input.utf8))
            try stdin.fileHandleForWriting.close()
        }
        let data = output.fileHandleForReading.readDataToEndOfFile()
        process.waitUntilExit()
        return (process.terminationStatus, String(decoding: data, as: UTF8.self))
    }
}
