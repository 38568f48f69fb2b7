import AsyncHTTPClient
import NIOCore
import NIOHTTP1
import NIOPosix
import Testing

@testable import Sidecar

@Suite("Proxy against a real upstream")
struct ProxyIntegrationTests {
    @Test func forwardsGetAndGeneratesRequestID() async throws {
        try await SidecarHarness.with { harness in
            let response = try await harness.send("/hello")
            #expect(response.status == 200)
            #expect(String(buffer: response.body) == "hello from upstream\n")
            let id = try #require(response.headers.first(name: "x-request-id"))
            #expect(id.count == 32 && id.allSatisfy(\.isHexDigit))
        }
    }

    @Test func keepsClientRequestIDBothWays() async throws {
        try await SidecarHarness.with { harness in
            let response = try await harness.send("/headers", headers: [("X-Request-ID", "abc-123")])
            #expect(response.headers.first(name: "x-request-id") == "abc-123")
            #expect(String(buffer: response.body).contains("x-request-id: abc-123\n"))
        }
    }

    @Test func rewritesForwardingHeaders() async throws {
        try await SidecarHarness.with { harness in
            let response = try await harness.send(
                "/headers",
                headers: [
                    ("Connection", "keep-alive, X-Secret-Hop"), ("X-Secret-Hop", "1"), ("Keep-Alive", "timeout=5"),
                    ("TE", "trailers"), ("Proxy-Connection", "keep-alive"), ("X-Forwarded-For", "6.6.6.6"),
                    ("X-Forwarded-Proto", "https"), ("X-Kept", "yes"),
                ]
            )
            let seen = String(buffer: response.body)
            #expect(seen.contains("x-kept: yes\n"))
            #expect(!seen.contains("x-secret-hop"))
            #expect(!seen.contains("keep-alive: "))
            #expect(!seen.contains("te: "))
            #expect(!seen.contains("proxy-connection"))
            // The peer is not a trusted proxy: its forwarding headers are replaced, not believed.
            #expect(seen.contains("x-forwarded-for: 127.0.0.1\n"))
            #expect(!seen.contains("6.6.6.6"))
            #expect(seen.contains("x-forwarded-proto: http\n"))
            #expect(seen.contains("x-forwarded-host: 127.0.0.1:\(harness.port)\n"))
        }
    }

    @Test func streamsLargeBodiesBothWays() async throws {
        try await SidecarHarness.with { harness in
            let size = 3 * 1024 * 1024 + 17
            var payload = ByteBuffer()
            for index in 0..<size { payload.writeInteger(UInt8(truncatingIfNeeded: index &* 31)) }
            let echoed = try await harness.send("/echo", method: .POST, body: .bytes(payload))
            #expect(echoed.status == 200)
            #expect(echoed.body == payload)

            let download = try await harness.send("/bytes/\(size)")
            #expect(download.status == 200)
            #expect(download.body.readableBytes == size)
        }
    }

    @Test func streamsChunkedRequestAndResponse() async throws {
        try await SidecarHarness.with { harness in
            let pieces = (0..<64).map { _ in ByteBuffer(repeating: UInt8(ascii: "a"), count: 32 * 1024) }
            let body = HTTPClientRequest.Body.stream(AsyncStreamOfBuffers(pieces), length: .unknown)
            let sunk = try await harness.send("/sink", method: .POST, body: body)
            #expect(String(buffer: sunk.body) == "received \(64 * 32 * 1024)\n")

            let chunked = try await harness.send("/chunked")
            #expect(String(buffer: chunked.body) == "one,two,three")
        }
    }

    /// The sidecar sets the response framing itself: chunked only to an HTTP/1.1 client, a body of
    /// unknown length to an HTTP/1.0 client ends with the connection, and a known length passes on.
    @Test func responseFramingFollowsTheClientsVersion() async throws {
        try await SidecarHarness.with { harness in
            let http11 = try await harness.raw("GET /chunked HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
            #expect(http11.lowercased().contains("transfer-encoding: chunked\r\n"))
            #expect(http11.hasSuffix("\r\n0\r\n\r\n"))

            // Keep-alive asked for, but without a length the end of the body is the end of the connection.
            let http10 = try await harness.raw(
                "GET /chunked HTTP/1.0\r\nHost: x\r\nConnection: keep-alive\r\n\r\n",
                timeout: .seconds(3)
            )
            #expect(http10.hasPrefix("HTTP/1.1 200 OK\r\n"))
            #expect(!http10.lowercased().contains("transfer-encoding"))
            #expect(!http10.lowercased().contains("content-length"))
            #expect(http10.lowercased().contains("connection: close\r\n"))
            #expect(http10.hasSuffix("\r\n\r\none,two,three"))

            let known = try await harness.raw("GET /hello HTTP/1.0\r\nHost: x\r\n\r\n")
            #expect(known.lowercased().contains("content-length: 20\r\n"))
            #expect(known.hasSuffix("hello from upstream\n"))

            let head = try await harness.raw("HEAD /chunked HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
            #expect(head.hasPrefix("HTTP/1.1 200 OK\r\n"))
            #expect(head.hasSuffix("\r\n\r\n"))

            let noContent = try await harness.raw("GET /status/204 HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
            #expect(noContent.hasPrefix("HTTP/1.1 204 No Content\r\n"))
            #expect(!noContent.lowercased().contains("content-length"))
            #expect(!noContent.lowercased().contains("transfer-encoding"))
        }
    }

    /// A WebSocket upgrade request for `path`, as a browser sends it.
    static func webSocketUpgrade(path: String) -> String {
        "GET \(path) HTTP/1.1\r\nHost: x\r\nConnection: Upgrade\r\nUpgrade: websocket\r\n"
            + "Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\r\n"
    }

    /// A final WebSocket frame of `opcode` with `payload` masked by `mask`, as a client sends it.
    static func maskedFrame(_ opcode: UInt8, _ payload: [UInt8], mask: [UInt8]) -> [UInt8] {
        let masked = payload.enumerated().map { $0.element ^ mask[$0.offset % 4] }
        return [0x80 | opcode, 0x80 | UInt8(payload.count)] + mask + masked
    }

    @Test func webSocketFramesPassBothWaysAfterTheUpgrade() async throws {
        try await SidecarHarness.with { harness in
            let upgrade = Self.webSocketUpgrade(path: "/ws")
            // A masked text frame "hello", then a masked close frame.
            let frame = { (opcode: UInt8, payload: [UInt8]) in Self.maskedFrame(opcode, payload, mask: [1, 2, 3, 4]) }
            let received = try await RawConnection.exchange(
                port: harness.port,
                group: harness.group,
                sendBytes: [Array(upgrade.utf8), frame(0x1, Array("hello".utf8)), frame(0x8, [0x03, 0xE8])],
                pause: .milliseconds(200)
            )
            let text = String(decoding: received, as: UTF8.self)
            #expect(text.hasPrefix("HTTP/1.1 101 Switching Protocols\r\n"))
            #expect(text.lowercased().contains("upgrade: websocket"))
            #expect(text.lowercased().contains("sec-websocket-accept: s3pplmbitxaq9kygzzhzrbk+xoo="))
            // The echo comes back unmasked through the tunnel: FIN+text, length 5, "hello"; then the close.
            let body = Array(received.split(separator: UInt8(ascii: "\n"), omittingEmptySubsequences: false).last ?? [])
            #expect(body.starts(with: [0x81, 0x05] + Array("hello".utf8)))
            #expect(Array(body.dropFirst(7)).starts(with: [0x88, 0x02, 0x03, 0xE8]))
        }
    }

    @Test func webSocketFramesSentWithTheUpgradeRequestAreNotLost() async throws {
        try await SidecarHarness.with { harness in
            let upgrade = Self.webSocketUpgrade(path: "/ws")
            // A masked text frame "early" in the same write as the head, before the 101 came back.
            let mask: [UInt8] = [9, 8, 7, 6]
            let payload = Array("early".utf8)
            let frame = Self.maskedFrame(0x1, payload, mask: mask)
            let close = Self.maskedFrame(0x8, [0x03, 0xE8], mask: mask)
            let received = try await RawConnection.exchange(
                port: harness.port,
                group: harness.group,
                sendBytes: [Array(upgrade.utf8) + frame, close],
                pause: .milliseconds(300)
            )
            let text = String(decoding: received, as: UTF8.self)
            #expect(text.hasPrefix("HTTP/1.1 101 Switching Protocols\r\n"), "\(text.prefix(60))")
            let body = Array(received.split(separator: UInt8(ascii: "\n"), omittingEmptySubsequences: false).last ?? [])
            #expect(body.starts(with: [0x81, 0x05] + payload), "\(body)")
        }
    }

    @Test func anUpgradeTheUpstreamDeclinesLeavesTheConnectionServingHTTP() async throws {
        try await SidecarHarness.with { harness in
            let declined = Self.webSocketUpgrade(path: "/hello")
            let next = "GET /hello HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n"
            // Sent together (pipelined behind the upgrade request) and apart.
            for sends in [[declined + next], [declined, next]] {
                let text = try await RawConnection.exchange(
                    port: harness.port,
                    group: harness.group,
                    send: sends,
                    pause: .milliseconds(200),
                    timeout: .seconds(3)
                )
                #expect(text.components(separatedBy: "HTTP/1.1 200 OK\r\n").count == 3, "\(sends.count): \(text)")
            }
        }
    }

    @Test func serverSentEventsArriveAsTheyAreSent() async throws {
        try await SidecarHarness.with { harness in
            let response = try await harness.client.execute(
                HTTPClientRequest(url: harness.baseURL + "/sse"),
                timeout: .seconds(10)
            )
            // The upstream sends each next event only when asked: a proxy that held events back
            // until the end would never deliver the first one, and the test would time out.
            var received = ""
            var events = 0
            for try await chunk in response.body {
                received += String(buffer: chunk)
                let complete = received.components(separatedBy: "\n\n").count - 1
                while events < complete && events < 5 {
                    events += 1
                    if events < 5 {
                        let next = HTTPClientRequest(url: "http://127.0.0.1:\(harness.upstream.port)/sse-next")
                        _ = try await harness.client.execute(next, timeout: .seconds(5)).body.collect(upTo: 1024)
                    }
                }
            }
            #expect(received == (1...5).map { "data: \($0)\n\n" }.joined())
        }
    }

    @Test func headAndNoContentHaveNoBody() async throws {
        try await SidecarHarness.with { harness in
            let head = try await harness.send("/hello", method: .HEAD)
            #expect(head.status == 200)
            #expect(head.headers.first(name: "content-length") == "20")
            #expect(head.body.readableBytes == 0)
            let noContent = try await harness.send("/status/204")
            #expect(noContent.status == 204)
            #expect(noContent.body.readableBytes == 0)
            let notModified = try await harness.send("/status/304")
            #expect(notModified.status == 304)
        }
    }

    @Test func reusesUpstreamConnections() async throws {
        try await SidecarHarness.with { harness in
            for _ in 0..<25 {
                let response = try await harness.send("/hello")
                #expect(response.status == 200)
            }
            #expect(harness.upstream.connections == 1)
        }
    }

    @Test func answers502WhenUpstreamRefuses() async throws {
        let closedPort = try await freePort()
        try await SidecarHarness.with(upstreamAddress: { _ in .tcp(host: "127.0.0.1", port: closedPort) }) { harness in
            let response = try await harness.send("/hello")
            #expect(response.status == 502)
            #expect(response.headers.first(name: "content-type") == "application/problem+json")
            #expect(String(buffer: response.body).contains("\"status\":502"))
        }
    }

    @Test func answers502WhenUpstreamClosesBeforeAnswering() async throws {
        try await SidecarHarness.with { harness in
            let response = try await harness.send("/close")
            #expect(response.status == 502)
            // The sidecar still serves the next request.
            #expect(try await harness.send("/hello").status == 200)
        }
    }

    @Test func answers504AfterUpstreamTimeout() async throws {
        try await SidecarHarness.with(configure: { $0.upstreamTimeout = .milliseconds(200) }) { harness in
            let response = try await harness.send("/slow/3000")
            #expect(response.status == 504)
            #expect(try await harness.send("/slow/10").status == 200)
        }
    }

    @Test func closesClientWhenUpstreamResetsMidResponse() async throws {
        try await SidecarHarness.with { harness in
            let received = try await harness.raw("GET /reset-mid HTTP/1.1\r\nHost: x\r\n\r\n")
            #expect(received.hasPrefix("HTTP/1.1 200 OK"))
            let body = received.components(separatedBy: "\r\n\r\n").dropFirst().joined()
            // Content-Length promised 100 bytes; the client sees 50 and a closed connection.
            #expect(body.count == 50)
        }
    }

    @Test func answers408WhenHeadersDoNotArrive() async throws {
        try await SidecarHarness.with(configure: { $0.headerTimeout = .seconds(2) }) { harness in
            let received = try await harness.raw("GET /hello HTTP/1.1\r\nHost: x\r\n")
            #expect(received.hasPrefix("HTTP/1.1 408 Request Timeout"))
        }
    }

    @Test func closesIdleKeepAliveConnectionQuietly() async throws {
        try await SidecarHarness.with(configure: { $0.idleTimeout = .milliseconds(200) }) { harness in
            let received = try await harness.raw("GET /hello HTTP/1.1\r\nHost: x\r\n\r\n")
            #expect(received.hasPrefix("HTTP/1.1 200 OK"))
            #expect(received.hasSuffix("hello from upstream\n"))
        }
    }

    @Test func answers431ForOversizedHeaders() async throws {
        try await SidecarHarness.with(configure: { $0.maxHeaderBytes = 1024 }) { harness in
            let big = String(repeating: "a", count: 2048)
            let received = try await harness.raw("GET /hello HTTP/1.1\r\nHost: x\r\nX-Big: \(big)\r\n\r\n")
            #expect(received.hasPrefix("HTTP/1.1 431 Request Header Fields Too Large"))
        }
    }

    @Test func answers413ForOversizedBodies() async throws {
        try await SidecarHarness.with(configure: { $0.maxBodyBytes = 1000 }) { harness in
            let declared = try await harness.raw("POST /sink HTTP/1.1\r\nHost: x\r\nContent-Length: 5000\r\n\r\n")
            #expect(declared.hasPrefix("HTTP/1.1 413 Payload Too Large"))

            let chunk = String(repeating: "b", count: 600)
            let chunked = try await harness.raw(
                "POST /sink HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n"
                    + "258\r\n\(chunk)\r\n258\r\n\(chunk)\r\n0\r\n\r\n"
            )
            #expect(chunked.hasPrefix("HTTP/1.1 413 Payload Too Large"))

            let fits = try await harness.send("/sink", method: .POST, body: .bytes(ByteBuffer(string: "small")))
            #expect(fits.status == 200)
        }
    }

    @Test(
        arguments: [
            "POST /sink HTTP/1.1\r\nHost: x\r\nContent-Length: 3\r\nTransfer-Encoding: chunked\r\n\r\n3\r\nabc\r\n0\r\n\r\n",
            "POST /sink HTTP/1.1\r\nHost: x\r\nContent-Length: 3\r\nContent-Length: 4\r\n\r\nabcd",
            "POST /sink HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\nabc\r\n0\r\n\r\n",
            "GET /hello HTTP/1.1\r\nHost: x\r\nX-Folded: a\r\n  b\r\n\r\n",
        ]
    )
    func answers400AndClosesForAmbiguousFraming(request: String) async throws {
        try await SidecarHarness.with { harness in
            let received = try await harness.raw(request)
            #expect(received.hasPrefix("HTTP/1.1 400 Bad Request"))
            #expect(received.lowercased().contains("connection: close"))
        }
    }

    @Test func answersPipelinedRequestsInOrder() async throws {
        try await SidecarHarness.with { harness in
            let received = try await harness.raw(
                "GET /slow/100 HTTP/1.1\r\nHost: x\r\n\r\nGET /hello HTTP/1.1\r\nHost: x\r\n\r\n"
                    + "GET /status/204 HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n"
            )
            let slow = try #require(received.range(of: "slow 100"))
            let hello = try #require(received.range(of: "hello from upstream"))
            let noContent = try #require(received.range(of: "HTTP/1.1 204"))
            #expect(slow.lowerBound < hello.lowerBound && hello.lowerBound < noContent.lowerBound)
        }
    }

    @Test func answersManyPipelinedRequestsWithBodies() async throws {
        try await SidecarHarness.with { harness in
            var requests = ""
            for index in 0..<40 {
                requests += "POST /sink HTTP/1.1\r\nHost: x\r\nContent-Length: \(index)\r\n\r\n"
                requests += String(repeating: "z", count: index)
            }
            requests += "GET /hello HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n"
            let received = try await harness.raw(requests)
            var position = received.startIndex
            for index in 0..<40 {
                let found = try #require(received.range(of: "received \(index)\n", range: position..<received.endIndex))
                position = found.upperBound
            }
            #expect(received.hasSuffix("hello from upstream\n"))
        }
    }

    @Test func sendsContinueBeforeTheBody() async throws {
        try await SidecarHarness.with { harness in
            let received = try await RawConnection.exchange(
                port: harness.port,
                group: harness.group,
                send: [
                    "POST /sink HTTP/1.1\r\nHost: x\r\nContent-Length: 5\r\nExpect: 100-continue\r\nConnection: close\r\n\r\n",
                    "hello",
                ],
                pause: .milliseconds(100)
            )
            #expect(received.hasPrefix("HTTP/1.1 100 Continue\r\n\r\nHTTP/1.1 200 OK"))
            #expect(received.hasSuffix("received 5\n"))
        }
    }

    @Test func forwardsOverUnixSocket() async throws {
        let path = "/tmp/sidecar-test-\(UInt32.random(in: 0...UInt32.max)).sock"
        let group = MultiThreadedEventLoopGroup(numberOfThreads: 1)
        let unixUpstream = try await TestUpstream.start(group: group, unixSocketPath: path)
        try await SidecarHarness.with(upstreamAddress: { _ in .unix(path: path) }) { harness in
            let response = try await harness.send("/hello")
            #expect(response.status == 200)
            #expect(String(buffer: response.body) == "hello from upstream\n")
        }
        try await unixUpstream.stop()
        try await group.shutdownGracefully()
    }

    @Test func drainLetsInFlightRequestsFinish() async throws {
        try await SidecarHarness.with { harness in
            async let slow = harness.send("/slow/500")
            try await Task.sleep(for: .milliseconds(100))
            await harness.server.drain(grace: .seconds(5))
            let response = try await slow
            #expect(response.status == 200)
            #expect(String(buffer: response.body) == "slow 500\n")
            await #expect(throws: (any Error).self) {
                _ = try await RawConnection.exchange(
                    port: harness.port,
                    group: harness.group,
                    send: ["GET / HTTP/1.1\r\n\r\n"]
                )
            }
        }
    }
}

/// A loopback port nothing listens on.
func freePort() async throws -> Int {
    let group = MultiThreadedEventLoopGroup.singleton
    let channel = try await ServerBootstrap(group: group).bind(host: "127.0.0.1", port: 0).get()
    let port = channel.localAddress!.port!
    try await channel.close()
    return port
}

/// An async sequence over fixed buffers, for streaming request bodies.
struct AsyncStreamOfBuffers: AsyncSequence, Sendable {
    typealias Element = ByteBuffer
    let buffers: [ByteBuffer]

    init(_ buffers: [ByteBuffer]) { self.buffers = buffers }

    struct AsyncIterator: AsyncIteratorProtocol {
        var remaining: ArraySlice<ByteBuffer>
        mutating func next() async -> ByteBuffer? { remaining.popFirst() }
    }

    func makeAsyncIterator() -> AsyncIterator { AsyncIterator(remaining: buffers[...]) }
}

/// Upstream responses a NIO server would not send, through the real proxy: the upstream leg's own
/// HTTP/1 decoding (`HTTP1ResponseDecoder`) must frame each one for the client exactly.
@Suite("Upstream responses as sent", .serialized)
struct UpstreamResponseFramingTests {
    private func through(
        _ script: @escaping ScriptedUpstream.Script,
        _ body: (SidecarHarness, ScriptedUpstream) async throws -> Void
    ) async throws {
        let group = MultiThreadedEventLoopGroup(numberOfThreads: 1)
        let upstream = try await ScriptedUpstream.start(group: group, script: script)
        do {
            try await SidecarHarness.with(upstreamAddress: { _ in .tcp(host: "127.0.0.1", port: upstream.port) }) {
                try await body($0, upstream)
            }
        } catch {
            try? await upstream.stop()
            try? await group.shutdownGracefully()
            throw error
        }
        try await upstream.stop()
        try await group.shutdownGracefully()
    }

    @Test func anHTTP10BodyEndingWithTheCloseIsChunkedToTheClientAndTheConnectionNotReused() async throws {
        try await through({ _ in ("HTTP/1.0 200 OK\r\nX-A: 1\r\n\r\nuntil the close", true) }) { harness, upstream in
            for _ in 0..<2 {
                let response = try await harness.raw("GET /a HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
                #expect(response.hasPrefix("HTTP/1.1 200 OK\r\n"))
                #expect(response.contains("X-A: 1\r\n"))
                #expect(response.contains("Transfer-Encoding: chunked\r\n"))
                #expect(response.hasSuffix("\r\nf\r\nuntil the close\r\n0\r\n\r\n"))
            }
            #expect(upstream.connections == 2)
        }
    }

    @Test func interimResponsesAreDroppedAndTrailersToo() async throws {
        let script: ScriptedUpstream.Script = { _ in
            (
                "HTTP/1.1 103 Early Hints\r\nLink: </a.css>\r\n\r\nHTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n"
                    + "Trailer: X-T\r\n\r\n3\r\nabc\r\n2;ext=1\r\nde\r\n0\r\nX-T: 1\r\n\r\n",
                false
            )
        }
        try await through(script) { harness, upstream in
            let first = try await harness.send("/a")
            #expect(first.status == 200)
            #expect(String(buffer: first.body) == "abcde")
            let second = try await harness.send("/b")
            #expect(String(buffer: second.body) == "abcde")
            // The chunked response ended cleanly, so its connection served the second request.
            #expect(upstream.connections == 1)
        }
    }

    @Test(
        "responses the proxy cannot frame faithfully are 502",
        arguments: [
            "HTTP/1.1 200 OK\r\nContent-Length: 3\r\nTransfer-Encoding: chunked\r\n\r\n3\r\nabc\r\n0\r\n\r\n",
            "HTTP/1.1 200 OK\r\nContent-Length: 3\r\nContent-Length: 4\r\n\r\nabcd",
            "HTTP/1.1 200 OK\r\nTransfer-Encoding: gzip\r\n\r\nabc",
            "HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: upgrade\r\n\r\n",
            "HTTP/1.1 200 OK\r\nBad Field: x\r\n\r\n",
            "HTTP/9 200 OK\r\n\r\n",
            "garbage\r\n\r\n",
        ]
    )
    func unframeable(response: String) async throws {
        try await through({ _ in (response, false) }) { harness, _ in
            let answer = try await harness.raw("GET /a HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
            #expect(answer.hasPrefix("HTTP/1.1 502 Bad Gateway\r\n"))
        }
    }

    @Test func aResponseToHEADKeepsItsLengthAndTheConnectionGoesOn() async throws {
        try await through({ _ in ("HTTP/1.1 200 OK\r\nContent-Length: 1234\r\n\r\n", false) }) { harness, upstream in
            let answer = try await harness.raw(
                "HEAD /a HTTP/1.1\r\nHost: x\r\n\r\nHEAD /b HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n"
            )
            let heads = answer.components(separatedBy: "HTTP/1.1 200 OK\r\n")
            #expect(heads.count == 3)
            #expect(
                heads.dropFirst().allSatisfy { $0.contains("Content-Length: 1234\r\n") && $0.hasSuffix("\r\n\r\n") }
            )
            #expect(upstream.connections == 1)
        }
    }

    @Test func aBodyCutShortClosesTheClientConnection() async throws {
        try await through({ _ in ("HTTP/1.1 200 OK\r\nContent-Length: 100\r\n\r\nonly this", true) }) { harness, _ in
            let answer = try await harness.raw("GET /a HTTP/1.1\r\nHost: x\r\n\r\n")
            #expect(answer.hasPrefix("HTTP/1.1 200 OK\r\n"))
            #expect(answer.hasSuffix("only this"))
        }
    }
}
