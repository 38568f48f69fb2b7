import NIOCore
import NIOEmbedded
import Synchronization
import Testing

@testable import Sidecar

/// The listener's connection registry: the SIDECAR_MAX_CONNECTIONS limit, the count reported, and
/// /drain's first phase reaching every open connection.
@Suite struct ConnectionRegistryTests {
    final class Counts: Sendable {
        let values = Mutex<[Int]>([])
    }

    /// Records the user events it sees.
    final class EventRecorder: ChannelInboundHandler {
        typealias InboundIn = NIOAny
        var closeAfterExchange = 0

        func userInboundEventTriggered(context: ChannelHandlerContext, event: Any) {
            if event is CloseAfterExchangeEvent { closeAfterExchange += 1 }
        }
    }

    @Test func theLimitRefusesAndAClosedConnectionFreesItsPlace() throws {
        let registry = ConnectionRegistry(limit: 2)
        let counts = Counts()
        let channels = (0..<3).map { _ in EmbeddedChannel() }
        let opened = channels.map { channel in
            registry.open(channel) { count in counts.values.withLock { $0.append(count) } }
        }
        #expect(opened == [true, true, false])
        #expect(registry.count == 2)
        _ = try channels[0].finish()
        #expect(registry.count == 1)
        #expect(registry.open(channels[2]) { count in counts.values.withLock { $0.append(count) } })
        #expect(counts.values.withLock { $0 } == [1, 2, 1, 2])
    }

    @Test func closeAfterExchangeReachesEveryOpenConnectionOnce() throws {
        let registry = ConnectionRegistry()
        let recorders = [EventRecorder(), EventRecorder()]
        let channels = recorders.map { EmbeddedChannel(handler: $0) }
        for channel in channels { #expect(registry.open(channel) { _ in }) }
        #expect(!registry.closesAfterExchange)
        registry.closeAfterExchange()
        registry.closeAfterExchange()
        for channel in channels { channel.embeddedEventLoop.run() }
        #expect(registry.closesAfterExchange)
        #expect(recorders.map(\.closeAfterExchange) == [1, 1])
        for channel in channels { _ = try channel.finish() }
    }
}
