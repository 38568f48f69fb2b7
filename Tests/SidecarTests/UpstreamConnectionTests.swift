import NIOCore
import NIOEmbedded
import NIOHTTP1
import Testing

@testable import Sidecar

/// The upstream connection on an `EmbeddedChannel`: request bytes out, response bytes in.
@Suite("Upstream connection")
struct UpstreamConnectionTests {
    final class Recorder: UpstreamConnectionDelegate {
        var heads: [Int] = []
        var body = ""
        var ends: [Bool] = []
        var failures = 0
        func upstreamResponseHead(_ head: UpstreamResponseHead) { heads.append(head.status) }
        func upstreamResponseBody(_ body: ByteBuffer) { self.body += String(buffer: body) }
        func upstreamResponseEnd(reusable: Bool) { ends.append(reusable) }
        func upstreamReadComplete() {}
        func upstreamFailed() { failures += 1 }
        func upstreamWritabilityChanged(isWritable: Bool) {}
    }

    private func connected() throws -> (EmbeddedChannel, UpstreamConnection, Recorder) {
        let channel = EmbeddedChannel()
        try channel.connect(to: SocketAddress(ipAddress: "127.0.0.1", port: 80)).wait()
        let connection = UpstreamConnection()
        try channel.pipeline.syncOperations.addHandler(connection)
        let recorder = Recorder()
        connection.delegate = recorder
        return (channel, connection, recorder)
    }

    private func written(_ channel: EmbeddedChannel) throws -> String {
        var text = ""
        while let buffer = try channel.readOutbound(as: ByteBuffer.self) { text += String(buffer: buffer) }
        return text
    }

    @Test func aChunkedRequestBodyIsFramedAndTheResponseDecodedInPieces() throws {
        let (channel, connection, recorder) = try connected()
        connection.writeHead(ByteBuffer(string: "POST / HTTP/1.1\r\n\r\n"), isHeadRequest: false, chunkedBody: true)
        connection.writeBody(ByteBuffer(string: "hello world, 26 bytes long"))
        connection.writeBody(ByteBuffer())
        connection.writeEnd()
        connection.flush()
        #expect(try written(channel) == "POST / HTTP/1.1\r\n\r\n1a\r\nhello world, 26 bytes long\r\n0\r\n\r\n")

        let response = "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n3\r\nabc\r\n2\r\nde\r\n0\r\nx-t: 1\r\n\r\n"
        for byte in response.utf8 { try channel.writeInbound(ByteBuffer(bytes: [byte])) }
        #expect(recorder.heads == [200])
        #expect(recorder.body == "abcde")
        #expect(recorder.ends == [true])
        #expect(connection.delegate == nil)
        #expect(try channel.readInbound(as: ByteBuffer.self) == nil)
    }

    @Test func aLengthDelimitedBodyNeedsNoFraming() throws {
        let (channel, connection, recorder) = try connected()
        connection.writeHead(
            ByteBuffer(string: "PUT / HTTP/1.1\r\nContent-Length: 2\r\n\r\n"),
            isHeadRequest: false,
            chunkedBody: false
        )
        connection.writeBody(ByteBuffer(string: "ab"))
        connection.writeEnd()
        connection.flush()
        #expect(try written(channel) == "PUT / HTTP/1.1\r\nContent-Length: 2\r\n\r\nab")
        try channel.writeInbound(ByteBuffer(string: "HTTP/1.1 204 No Content\r\nConnection: close\r\n\r\n"))
        #expect(recorder.heads == [204])
        #expect(recorder.ends == [false])
    }

    @Test func interimResponsesComeBeforeTheFinalOneAndHEADHasNoBody() throws {
        let (channel, connection, recorder) = try connected()
        connection.writeHead(ByteBuffer(string: "HEAD / HTTP/1.1\r\n\r\n"), isHeadRequest: true, chunkedBody: false)
        try channel.writeInbound(
            ByteBuffer(
                string: "HTTP/1.1 103 Early Hints\r\nLink: </a>\r\n\r\nHTTP/1.1 200 OK\r\nContent-Length: 9\r\n\r\n"
            )
        )
        #expect(recorder.heads == [103, 200])
        #expect(recorder.body == "")
        #expect(recorder.ends == [true])
    }

    @Test func aBodyDelimitedByTheCloseEndsWithIt() throws {
        let (channel, connection, recorder) = try connected()
        connection.writeHead(ByteBuffer(string: "GET / HTTP/1.1\r\n\r\n"), isHeadRequest: false, chunkedBody: false)
        try channel.writeInbound(ByteBuffer(string: "HTTP/1.0 200 OK\r\n\r\nall of it"))
        #expect(recorder.ends.isEmpty)
        try channel.close().wait()
        #expect(recorder.body == "all of it")
        #expect(recorder.ends == [false])
        #expect(recorder.failures == 0)
    }

    @Test func aResponseCutShortFailsTheExchange() throws {
        let (channel, connection, recorder) = try connected()
        connection.writeHead(ByteBuffer(string: "GET / HTTP/1.1\r\n\r\n"), isHeadRequest: false, chunkedBody: false)
        try channel.writeInbound(ByteBuffer(string: "HTTP/1.1 200 OK\r\nContent-Length: 10\r\n\r\nabc"))
        try channel.close().wait()
        #expect(recorder.ends.isEmpty)
        #expect(recorder.failures == 1)
    }

    @Test(
        "malformed or unsolicited responses fail the exchange and close",
        arguments: [
            "HTTP/1.1 200 OK\r\nContent-Length: x\r\n\r\n", "HTTP/2 200\r\n\r\n", "HTTP/1.1 200 OK\r\nA b: c\r\n\r\n",
        ]
    )
    func malformedResponse(_ response: String) throws {
        let (channel, connection, recorder) = try connected()
        connection.writeHead(ByteBuffer(string: "GET / HTTP/1.1\r\n\r\n"), isHeadRequest: false, chunkedBody: false)
        try channel.writeInbound(ByteBuffer(string: response))
        #expect(recorder.failures == 1)
        #expect(!connection.isActive)
        #expect(!channel.isActive)
    }

    @Test func bytesWithoutARequestFailTheConnection() throws {
        let (channel, connection, recorder) = try connected()
        try channel.writeInbound(ByteBuffer(string: "HTTP/1.1 200 OK\r\n\r\n"))
        #expect(recorder.failures == 1)
        #expect(!connection.isActive)
    }

    @Test func bytesAfterA101GoToTheHandlerThatReplacesTheConnection() throws {
        let (channel, connection, recorder) = try connected()
        connection.writeHead(ByteBuffer(string: "GET /ws HTTP/1.1\r\n\r\n"), isHeadRequest: false, chunkedBody: false)
        try channel.writeInbound(
            ByteBuffer(string: "HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\n\r\nframe")
        )
        try channel.writeInbound(ByteBuffer(string: "-more"))
        #expect(recorder.heads == [101])
        #expect(recorder.ends.isEmpty)
        connection.delegate = nil
        try channel.pipeline.syncOperations.removeHandler(connection).wait()
        #expect(try channel.readInbound(as: ByteBuffer.self).map { String(buffer: $0) } == "frame-more")
    }

    @Test("an error fails the exchange at once, without waiting for channelInactive")
    func errorFailsExchange() throws {
        let channel = EmbeddedChannel()
        try channel.connect(to: SocketAddress(ipAddress: "127.0.0.1", port: 80)).wait()
        // What the sidecar met on a real socket: a close from inside a write delivered no
        // channelInactive. The exchange must fail without it.
        try channel.pipeline.syncOperations.addHandler(InactiveSwallower())
        let connection = UpstreamConnection()
        try channel.pipeline.syncOperations.addHandler(connection)
        let recorder = Recorder()
        connection.delegate = recorder
        channel.pipeline.fireErrorCaught(ChannelError.ioOnClosedChannel)
        #expect(recorder.failures == 1)
        #expect(!connection.isActive)
        #expect(connection.delegate == nil)
    }
}

/// Drops `channelInactive`.
private final class InactiveSwallower: ChannelInboundHandler {
    typealias InboundIn = Any

    func channelInactive(context: ChannelHandlerContext) {}
}
