import AsyncHTTPClient
import Foundation
import NIOCore
import NIOHTTP1
import NIOHTTP2
import NIOPosix
import NIOSSL
import Synchronization
import TestSupport
import Testing

/// A pod's termination as kubelet runs it, on loopback: the gateway's `preStop` asks the sidecar
/// to drain (`/drain?after=`), then the gateway gets SIGTERM and exits, then the sidecar gets
/// SIGTERM. Clients hold keep-alive HTTP/1.1 and HTTP/2 connections and send all the while.
@Suite("pod termination", .serialized)
struct TerminationTests {
    /// The Service's endpoints as the clients' load balancer sees them: the port new connections go to.
    final class Endpoints: Sendable {
        private let port: Atomic<Int>
        init(_ port: Int) { self.port = Atomic(port) }
        var current: Int { port.load(ordering: .acquiring) }
        func route(to port: Int) { self.port.store(port, ordering: .releasing) }
    }

    /// What the clients saw.
    final class Tally: Sendable {
        private let state = Mutex(
            (sent: [String: Int](), failed: [String: [String]](), servedBy: [String: Int](), retried: [String: Int]())
        )

        func retried(_ kind: String) { state.withLock { $0.retried[kind, default: 0] += 1 } }
        var retriedCounts: [String: Int] { state.withLock { $0.retried } }

        func record(_ kind: String, port: Int, error: String?) {
            state.withLock { state in
                state.sent[kind, default: 0] += 1
                if let error { state.failed[kind, default: []].append(error) }
                state.servedBy["\(kind)@\(port)", default: 0] += 1
            }
        }

        var sent: [String: Int] { state.withLock { $0.sent } }
        var failed: [String: [String]] { state.withLock { $0.failed } }
        func served(_ kind: String, by port: Int) -> Int { state.withLock { $0.servedBy["\(kind)@\(port)"] ?? 0 } }
    }

    final class Flag: Sendable {
        private let value = Atomic(false)
        func set() { value.store(true, ordering: .releasing) }
        var isSet: Bool { value.load(ordering: .acquiring) }
    }

    /// `relay`'s counts once no connection is open any more (the clients have shut down), or after 5 s.
    static func settled(_ relay: CountingRelay) async throws -> CountingRelay.Counts {
        for _ in 0..<100 where relay.counts.open > 0 { try await Task.sleep(for: .milliseconds(50)) }
        return relay.counts
    }

    /// The 200s `sidecar` counted (`sidecar_http_requests_total`).
    static func answered(by sidecar: RunningSidecar) async throws -> Int {
        let text = try await sidecar.get("/metrics", admin: true).body
        return text.split(separator: "\n").filter {
            $0.hasPrefix("sidecar_http_requests_total{") && $0.contains("code=\"200\"")
        }
        .reduce(0) { $0 + Int(Double($1.split(separator: " ").last ?? "0") ?? 0) }
    }

    @Test(.enabled(if: Tool.openssl != nil, "openssl is needed"))
    func kubeletsSequenceFailsNoRequestOverHTTP1OrHTTP2() async throws {
        let directory = try TLSTests.temporaryDirectory()
        defer { try? FileManager.default.removeItem(at: directory) }
        let certificate = try TLSTests.makeCertificate(in: directory, serial: 1)
        let tls = [
            "SIDECAR_TLS_CERT_FILE": certificate,
            "SIDECAR_TLS_KEY_FILE": directory.appendingPathComponent("key.pem").path,
            "SIDECAR_SHUTDOWN_GRACE": "10s",
        ]
        // The pod that terminates, and another replica that stays.
        let leaving = try await RunningSidecar.start(extra: tls, threads: 2)
        let staying = try await RunningSidecar.start(extra: tls, threads: 1)
        let group = MultiThreadedEventLoopGroup(numberOfThreads: 2)
        // Clients reach each pod through a relay per protocol that counts the connections and
        // how each ended, as the node's kube-proxy would carry them.
        var relays: [String: [Int: CountingRelay]] = [:]
        for kind in ["http/1.1", "h2"] {
            for pod in [leaving.port, staying.port] {
                relays[kind, default: [:]][pod] = try await CountingRelay.start(group: group, to: pod)
            }
        }
        let relayPorts = relays.mapValues { $0.mapValues(\.port) }
        let endpoints = Endpoints(leaving.port)
        let tally = Tally()
        let stop = Flag()

        func client(http1: Bool) -> HTTPClient {
            var tlsConfiguration = TLSConfiguration.makeClientConfiguration()
            tlsConfiguration.certificateVerification = .none
            var configuration = HTTPClient.Configuration(tlsConfiguration: tlsConfiguration)
            configuration.httpVersion = http1 ? .http1Only : .automatic
            return HTTPClient(eventLoopGroupProvider: .shared(group), configuration: configuration)
        }
        let clients = (0..<8).map { client(http1: $0 < 4) }
        let started = ContinuousClock.now
        let load = Task {
            await withTaskGroup(of: Void.self) { tasks in
                for (index, http) in clients.enumerated() {
                    let kind = index < 4 ? "http/1.1" : "h2"
                    tasks.addTask {
                        // A client keeps its connection (the port it connected to) until the
                        // sidecar says it closes (`Connection: close`; for HTTP/2, GOAWAY, which
                        // async-http-client follows with a new connection); then the load balancer
                        // picks the endpoint of the new one.
                        var port = endpoints.current
                        while !stop.isSet {
                            if kind == "h2" { port = endpoints.current }
                            do {
                                let response = try await http.execute(
                                    HTTPClientRequest(url: "https://127.0.0.1:\(relayPorts[kind]![port]!)/hello"),
                                    timeout: .seconds(10)
                                )
                                let body = try await response.body.collect(upTo: 1 << 16)
                                let expected = kind == "h2" ? HTTPVersion.http2 : .http1_1
                                let problem =
                                    response.status != .ok || body.readableBytes == 0
                                    ? "status \(response.status.code)"
                                    : response.version != expected ? "version \(response.version)" : nil
                                tally.record(kind, port: port, error: problem)
                                if response.headers[canonicalForm: "connection"].contains("close") {
                                    port = endpoints.current
                                }
                            } catch let error as NIOHTTP2Errors.StreamClosed where error.errorCode == .refusedStream {
                                // Not processed (RFC 9113, 8.7): sent again, as HTTP/2 clients do.
                                tally.retried(kind)
                                port = endpoints.current
                            } catch let error as HTTPClientError where kind == "h2" && error == .cancelled {
                                // async-http-client's own race with a GOAWAY it received: the
                                // request was given to the closing connection and never written
                                // (the sidecars' request counts below show nothing went missing).
                                tally.retried(kind)
                                port = endpoints.current
                            } catch {
                                tally.record(
                                    kind,
                                    port: port,
                                    error:
                                        "\(error) at \(ContinuousClock.now - started) to \(port == endpoints.current ? "the current" : "an old") endpoint"
                                )
                                port = endpoints.current
                            }
                        }
                    }
                }
            }
        }
        do {
            try await Task.sleep(for: .seconds(1))
            let before = tally.sent
            let servedBefore = (tally.served("http/1.1", by: leaving.port), tally.served("h2", by: leaving.port))

            // The pod is deleted. The gateway's preStop (an httpGet) asks the sidecar to drain,
            // keeping its listener open 2 s while the endpoints change (here after 0.5 s).
            let preStop = Task {
                let response = try await leaving.client.execute(
                    HTTPClientRequest(url: "http://127.0.0.1:\(leaving.adminPort)/drain?after=2s"),
                    timeout: .seconds(30)
                )
                return (response.status.code, String(buffer: try await response.body.collect(upTo: 1024)))
            }
            try await Task.sleep(for: .milliseconds(200))
            #expect(try await leaving.get("/readyz", admin: true).status == 503)
            try await Task.sleep(for: .milliseconds(300))
            endpoints.route(to: staying.port)
            let servedDuringPreStop = (
                tally.served("http/1.1", by: leaving.port) - servedBefore.0,
                tally.served("h2", by: leaving.port) - servedBefore.1
            )
            // While the load balancers caught up, the leaving pod still served both protocols
            // (connections told to close, and new ones made to it meanwhile).
            #expect(servedDuringPreStop.0 > 0 && servedDuringPreStop.1 > 0)
            let drained = try await preStop.value
            #expect(drained.0 == 200 && drained.1 == "drained\n")
            let answeredByLeaving = try await Self.answered(by: leaving)

            // The gateway gets SIGTERM and exits; then the sidecar gets SIGTERM.
            try await leaving.upstream.stop()
            leaving.sidecar.signal(SIGTERM)
            let result = await leaving.sidecar.finish()
            #expect(result.status == 0)
            // Every connection closed on its own within the drain: none was cut at the grace's end.
            #expect(!result.errors.contains("grace period over"), "\(result.errors)")
            try await Task.sleep(for: .milliseconds(500))
            stop.set()
            await load.value

            let sent = tally.sent
            let failed = tally.failed
            // Every request the clients saw answered was answered by a sidecar, and the other way
            // round: none was taken and lost.
            let answered = answeredByLeaving + (try await Self.answered(by: staying))
            let succeeded = sent.values.reduce(0, +) - failed.values.reduce(0) { $0 + $1.count }
            #expect(answered == succeeded, "the sidecars answered \(answered), the clients got \(succeeded)")
            print(
                "pod termination: sent \(sent) (before the preStop \(before)), failed \(failed.mapValues(\.count)), refused streams sent again \(tally.retriedCounts), served by the leaving pod while draining: HTTP/1.1 \(servedDuringPreStop.0), h2 \(servedDuringPreStop.1)"
            )
            for http in clients { try await http.shutdown() }
            // Every connection to either pod ended with a close on both sides, none with a reset.
            var connections: [String: [Int: CountingRelay.Counts]] = [:]
            for (kind, pods) in relays {
                for (pod, relay) in pods { connections[kind, default: [:]][pod] = try await Self.settled(relay) }
            }
            for kind in ["http/1.1", "h2"] {
                let (gone, kept) = (connections[kind]![leaving.port]!, connections[kind]![staying.port]!)
                print(
                    "pod termination connections, \(kind): to the leaving pod \(gone.opened) opened, \(gone.closedCleanly) closed cleanly, \(gone.failed.count) not; to the staying pod \(kept.opened) opened, \(kept.closedCleanly) closed cleanly, \(kept.failed.count) not"
                )
                for counts in [gone, kept] {
                    #expect(counts.opened > 0 && counts.failed.isEmpty && counts.open == 0, "\(kind): \(counts)")
                }
            }
            for kind in ["http/1.1", "h2"] {
                #expect((sent[kind] ?? 0) > (before[kind] ?? 0) + 10, "\(kind) kept sending")
                #expect(failed[kind] == nil, "\(kind): \(failed[kind]?.prefix(3) ?? [])")
                #expect(tally.served(kind, by: staying.port) > 0, "\(kind) moved to the staying pod")
            }
        } catch {
            Issue.record(error)
            stop.set()
            await load.value
        }
        for http in clients { try? await http.shutdown() }
        for relay in relays.values.flatMap(\.values) { try await relay.stop() }
        try await group.shutdownGracefully()
        try await staying.stop()
        try await leaving.client.shutdown()
        try await leaving.group.shutdownGracefully()
    }
}
