import NIOCore
import NIOEmbedded
import NIOHTTP1
import Testing

@testable import Sidecar

@Suite("Upstream connection")
struct UpstreamConnectionTests {
    final class Recorder: UpstreamConnectionDelegate {
        var failures = 0
        func upstreamResponseHead(_ head: HTTPResponseHead) {}
        func upstreamResponseBody(_ body: ByteBuffer) {}
        func upstreamResponseEnd(reusable: Bool) {}
        func upstreamReadComplete() {}
        func upstreamFailed() { failures += 1 }
        func upstreamWritabilityChanged(isWritable: Bool) {}
    }

    @Test("a head NIO's validator refuses fails the exchange at once, without waiting for channelInactive")
    func refusedHeadFailsExchange() throws {
        let channel = EmbeddedChannel()
        try channel.connect(to: SocketAddress(ipAddress: "127.0.0.1", port: 80)).wait()
        try channel.pipeline.syncOperations.addHTTPClientHandlers()
        // What the sidecar met on a real socket: the close after the refused head delivered no
        // channelInactive. The exchange must fail without it.
        try channel.pipeline.syncOperations.addHandler(InactiveSwallower())
        let connection = UpstreamConnection()
        try channel.pipeline.syncOperations.addHandler(connection)
        let recorder = Recorder()
        connection.delegate = recorder

        var head = HTTPRequestHead(version: .http1_1, method: .GET, uri: "/")
        head.headers.add(name: "x-a", value: "a\u{1}b")
        connection.write(.head(head))
        connection.flush()

        #expect(recorder.failures == 1)
        #expect(!connection.isActive)
        #expect(connection.delegate == nil)
        #expect(try channel.readOutbound(as: ByteBuffer.self) == nil)
    }
}

/// Drops `channelInactive`.
private final class InactiveSwallower: ChannelInboundHandler {
    typealias InboundIn = Any

    func channelInactive(context: ChannelHandlerContext) {}
}
