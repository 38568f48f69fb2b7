import NIOCore
import NIOPosix
import Testing

@testable import Sidecar

/// A connection closed while the client's bytes are unread ends with a reset; with
/// ``LingeringCloseHandler`` it ends with a close on both sides, and the client reads it all.
@Suite struct LingeringCloseHandlerTests {
    /// Answers the first bytes it reads with `reply`, then closes the connection.
    final class AnswerThenClose: ChannelInboundHandler, Sendable {
        typealias InboundIn = ByteBuffer
        typealias OutboundOut = ByteBuffer

        func channelRead(context: ChannelHandlerContext, data: NIOAny) {
            context.writeAndFlush(wrapOutboundOut(ByteBuffer(string: "reply")), promise: nil)
            context.close(promise: nil)
        }
    }

    /// Collects what the client reads until the connection ends, and the error that ended it.
    final class Collector: ChannelInboundHandler, @unchecked Sendable {
        typealias InboundIn = ByteBuffer
        var text = ""
        var error: String?

        func channelRead(context: ChannelHandlerContext, data: NIOAny) {
            text += String(buffer: unwrapInboundIn(data))
        }

        func errorCaught(context: ChannelHandlerContext, error: any Error) {
            self.error = self.error ?? "\(error)"
            context.close(promise: nil)
        }
    }

    /// What the client read and the error its connection ended with, if any.
    func close(lingering: Bool) async throws -> (text: String, error: String?) {
        let group = MultiThreadedEventLoopGroup(numberOfThreads: 1)
        let server = try await ServerBootstrap(group: group)
            .childChannelInitializer { channel in
                channel.eventLoop.makeCompletedFuture {
                    if lingering { try channel.pipeline.syncOperations.addHandler(LingeringCloseHandler()) }
                    try channel.pipeline.syncOperations.addHandler(AnswerThenClose())
                }
            }
            .bind(host: "127.0.0.1", port: 0).get()
        let collector = Collector()
        let client = try await ClientBootstrap(group: group)
            .channelInitializer { $0.pipeline.addHandler(collector) }
            .connect(host: "127.0.0.1", port: server.localAddress!.port!).get()
        // A request with more behind it than the server reads before it closes.
        var bytes = ByteBuffer(string: "request")
        bytes.writeRepeatingByte(UInt8(ascii: "x"), count: 256 * 1024)
        try await client.writeAndFlush(bytes)
        try await client.closeFuture.get()
        let result = try await client.eventLoop.submit { (collector.text, collector.error) }.get()
        try await server.close()
        try await group.shutdownGracefully()
        return result
    }

    @Test func aLingeringCloseEndsWithAFinAndEverythingRead() async throws {
        let (text, error) = try await close(lingering: true)
        #expect(error == nil)
        #expect(text == "reply")
    }

    @Test func withoutItTheSameCloseIsAReset() async throws {
        let (_, error) = try await close(lingering: false)
        #expect(error?.contains("reset") == true, "\(error ?? "no error")")
    }
}
