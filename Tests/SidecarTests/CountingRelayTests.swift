import NIOCore
import NIOPosix
import Testing

/// The termination test's relay tells a clean close from a reset.
@Suite struct CountingRelayTests {
    /// A server that answers each connection's first bytes with `reply`, then closes: with a FIN,
    /// or with a reset (`SO_LINGER` 0) when `reset`.
    final class Closer: ChannelInboundHandler, Sendable {
        typealias InboundIn = ByteBuffer
        typealias OutboundOut = ByteBuffer
        let reset: Bool
        init(reset: Bool) { self.reset = reset }

        func channelRead(context: ChannelHandlerContext, data: NIOAny) {
            let channel = context.channel
            let reset = self.reset
            context.writeAndFlush(data).whenComplete { _ in
                if reset {
                    (channel as! any SocketOptionProvider).setSoLinger(linger(l_onoff: 1, l_linger: 0))
                        .whenComplete { _ in channel.close(promise: nil) }
                } else {
                    channel.close(promise: nil)
                }
            }
        }
    }

    func relayed(reset: Bool) async throws -> CountingRelay.Counts {
        let group = MultiThreadedEventLoopGroup(numberOfThreads: 1)
        let server = try await ServerBootstrap(group: group)
            .childChannelInitializer { $0.pipeline.addHandler(Closer(reset: reset)) }
            .bind(host: "127.0.0.1", port: 0).get()
        let relay = try await CountingRelay.start(group: group, to: server.localAddress!.port!)
        let client = try await ClientBootstrap(group: group).connect(host: "127.0.0.1", port: relay.port).get()
        try await client.writeAndFlush(ByteBuffer(string: "hello"))
        try await client.closeFuture.get()
        for _ in 0..<100 where relay.counts.open > 0 { try await Task.sleep(for: .milliseconds(20)) }
        let counts = relay.counts
        try await relay.stop()
        try await server.close()
        try await group.shutdownGracefully()
        return counts
    }

    @Test func aCloseOnBothSidesCountsAsClean() async throws {
        let counts = try await relayed(reset: false)
        #expect(counts.opened == 1 && counts.closedCleanly == 1 && counts.failed.isEmpty)
    }

    @Test func aResetCountsAsFailed() async throws {
        let counts = try await relayed(reset: true)
        #expect(counts.opened == 1 && counts.closedCleanly == 0 && counts.failed.count == 1, "\(counts)")
    }
}
