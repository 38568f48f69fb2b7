import NIOCore
import NIOEmbedded
import NIOHTTP1
import Testing

@testable import Sidecar

@Suite("UpstreamConnection")
struct UpstreamConnectionTests {
    final class Delegate: UpstreamConnectionDelegate {
        var failed = 0
        func upstreamResponseHead(_ head: HTTPResponseHead) {}
        func upstreamResponseBody(_ body: ByteBuffer) {}
        func upstreamResponseEnd(reusable: Bool) {}
        func upstreamReadComplete() {}
        func upstreamFailed() { failed += 1 }
        func upstreamWritabilityChanged(isWritable: Bool) {}
    }

    @Test("a head the outbound validator refuses fails the exchange at once instead of hanging")
    func refusedHeadClosesTheConnection() throws {
        let channel = EmbeddedChannel()
        try channel.pipeline.syncOperations.addHTTPClientHandlers()
        let connection = UpstreamConnection()
        try channel.pipeline.syncOperations.addHandler(connection)
        try channel.connect(to: SocketAddress(ipAddress: "127.0.0.1", port: 80)).wait()
        let delegate = Delegate()
        connection.delegate = delegate
        // A raw "|" in the target: NIO's request validator refuses to send it.
        connection.write(.head(HTTPRequestHead(version: .http1_1, method: .GET, uri: "/a|b")))
        connection.flush()
        channel.embeddedEventLoop.run()
        #expect(!channel.isActive)
        #expect(delegate.failed == 1)
    }
}
