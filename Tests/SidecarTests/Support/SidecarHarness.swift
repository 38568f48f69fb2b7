import AsyncHTTPClient
import Limiter
import Logging
import NIOCore
import NIOHTTP1
import NIOPosix
import Testing

@testable import Sidecar

/// A real upstream and a real sidecar on ephemeral loopback ports, started and stopped by a test.
struct SidecarHarness {
    let group: MultiThreadedEventLoopGroup
    let upstream: TestUpstream
    let server: ProxyServer
    let client: HTTPClient
    let limiters: RateLimiters

    var port: Int { server.localAddress.port! }
    var baseURL: String { "http://127.0.0.1:\(port)" }

    /// Runs `body` against a fresh sidecar whose configuration `configure` may adjust.
    static func with(
        configure: (inout SidecarConfiguration) -> Void = { _ in },
        upstreamAddress: ((TestUpstream) -> UpstreamAddress)? = nil,
        _ body: (SidecarHarness) async throws -> Void
    ) async throws {
        let group = MultiThreadedEventLoopGroup(numberOfThreads: 2)
        let upstream = try await TestUpstream.start(group: group)
        var configuration = try await SidecarConfiguration.load(environment: [:])
        configuration.listen = ListenAddress(host: "127.0.0.1", port: 0)
        configuration.upstream = upstreamAddress?(upstream) ?? .tcp(host: "127.0.0.1", port: upstream.port)
        configure(&configuration)
        var logger = Logger(label: "sidecar-test")
        logger.logLevel = .critical
        let limiters = RateLimiters.make(configuration: configuration, group: group, logger: logger)
        let server = try await ProxyServer.start(
            configuration: configuration,
            group: group,
            limiter: limiters.limiter,
            jwt: try await JWTSetup.verifier(for: configuration),
            logger: logger
        )
        let client = HTTPClient(eventLoopGroupProvider: .shared(group))
        let harness = SidecarHarness(
            group: group,
            upstream: upstream,
            server: server,
            client: client,
            limiters: limiters
        )
        do {
            try await body(harness)
        } catch {
            try? await client.shutdown()
            await server.drain(grace: .milliseconds(100))
            await limiters.redis?.shutdown()
            try? await upstream.stop()
            try? await group.shutdownGracefully()
            throw error
        }
        try await client.shutdown()
        await server.drain(grace: .milliseconds(100))
        await limiters.redis?.shutdown()
        try await upstream.stop()
        try await group.shutdownGracefully()
    }

    /// Sends `request` through the sidecar and collects the whole response.
    func send(
        _ path: String,
        method: HTTPMethod = .GET,
        headers: [(String, String)] = [],
        body: HTTPClientRequest.Body? = nil
    ) async throws -> (status: Int, headers: HTTPHeaders, body: ByteBuffer) {
        var request = HTTPClientRequest(url: baseURL + path)
        request.method = method
        for (name, value) in headers { request.headers.add(name: name, value: value) }
        if let body { request.body = body }
        let response = try await client.execute(request, timeout: .seconds(30))
        let body = try await response.body.collect(upTo: 256 * 1024 * 1024)
        return (Int(response.status.code), response.headers, body)
    }

    /// Sends raw bytes and returns everything the sidecar writes until it closes or `timeout` passes.
    func raw(_ bytes: String, timeout: TimeAmount = .seconds(5)) async throws -> String {
        try await RawConnection.exchange(port: port, group: group, send: [bytes], timeout: timeout)
    }
}

/// A plain TCP client for requests an HTTP library would refuse to send.
enum RawConnection {
    /// Writes each string of `send` in turn (waiting `pause` between them) and reads until close or `timeout`.
    static func exchange(
        port: Int,
        group: any EventLoopGroup,
        send: [String],
        pause: Duration = .zero,
        timeout: TimeAmount = .seconds(5)
    ) async throws -> String {
        String(
            decoding: try await exchange(
                port: port,
                group: group,
                sendBytes: send.map { Array($0.utf8) },
                pause: pause,
                timeout: timeout
            ),
            as: UTF8.self
        )
    }

    /// Writes each byte array of `sendBytes` in turn and reads bytes until close or `timeout`.
    static func exchange(
        port: Int,
        group: any EventLoopGroup,
        sendBytes send: [[UInt8]],
        pause: Duration = .zero,
        timeout: TimeAmount = .seconds(5)
    ) async throws -> [UInt8] {
        let channel = try await ClientBootstrap(group: group).connect(host: "127.0.0.1", port: port) { channel in
            channel.eventLoop.makeCompletedFuture {
                try NIOAsyncChannel<ByteBuffer, ByteBuffer>(wrappingChannelSynchronously: channel)
            }
        }
        let deadline = NIODeadline.now() + timeout
        return try await channel.executeThenClose { inbound, outbound in
            try await withThrowingTaskGroup(of: [UInt8]?.self) { tasks in
                tasks.addTask {
                    var received: [UInt8] = []
                    do {
                        for try await chunk in inbound {
                            received += chunk.readableBytesView
                        }
                    } catch {
                        // A reset after the response: what arrived before it is the answer.
                    }
                    return received
                }
                tasks.addTask {
                    try await Task.sleep(nanoseconds: UInt64(max(0, (deadline - .now()).nanoseconds)))
                    return nil
                }
                for (index, piece) in send.enumerated() {
                    if index > 0 && pause > .zero { try await Task.sleep(for: pause) }
                    try await outbound.write(ByteBuffer(bytes: piece))
                }
                let first = try await tasks.next()!
                tasks.cancelAll()
                guard let first else { throw RawTimeout() }
                return first
            }
        }
    }

    struct RawTimeout: Error {}
}
