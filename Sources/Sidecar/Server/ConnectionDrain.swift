import NIOCore
import NIOHTTP2
import Synchronization

/// The first phase of a `/drain` (a pod's `preStop`): every connection closes after its current
/// exchange (HTTP/1.1 answers with `Connection: close`; HTTP/2 sends GOAWAY), while the listener
/// still accepts, so that a client told to go away and reconnecting before the load balancers
/// have dropped this pod is still served. The second phase is the usual drain.
struct CloseAfterExchangeEvent: Sendable {}

/// The connections of a listener and whether the first drain phase began; connections set up
/// after it began close after their first exchange too.
final class ConnectionDrain: Sendable {
    private let started = Atomic(false)
    private let channels = Mutex<[ObjectIdentifier: any Channel]>([:])

    /// Whether connections close after their current exchange.
    var hasStarted: Bool { started.load(ordering: .acquiring) }

    /// Tracks `channel` until it closes.
    func register(_ channel: any Channel) {
        let id = ObjectIdentifier(channel)
        channels.withLock { $0[id] = channel }
        channel.closeFuture.whenComplete { _ in _ = self.channels.withLock { $0.removeValue(forKey: id) } }
    }

    /// Begins the first phase: tells every open connection.
    func start() {
        guard !started.exchange(true, ordering: .acquiringAndReleasing) else { return }
        for channel in channels.withLock({ Array($0.values) }) {
            channel.pipeline.fireUserInboundEventTriggered(CloseAfterExchangeEvent())
        }
    }
}

/// Turns ``CloseAfterExchangeEvent`` into a quiesce for swift-nio-http2's connection manager
/// (two-phase GOAWAY: the client finishes its streams and opens new ones elsewhere). A connection
/// made after the phase began is told once its first stream opens, so that the request it was
/// made for is served rather than refused.
final class HTTP2CloseAfterExchangeHandler: ChannelInboundHandler, RemovableChannelHandler {
    typealias InboundIn = NIOAny

    private let drain: ConnectionDrain
    private var told = false

    init(drain: ConnectionDrain) {
        self.drain = drain
    }

    func userInboundEventTriggered(context: ChannelHandlerContext, event: Any) {
        if event is CloseAfterExchangeEvent {
            tell(context)
            return
        }
        context.fireUserInboundEventTriggered(event)
        if event is NIOHTTP2StreamCreatedEvent, drain.hasStarted { tell(context) }
    }

    private func tell(_ context: ChannelHandlerContext) {
        guard !told else { return }
        told = true
        context.fireUserInboundEventTriggered(ChannelShouldQuiesceEvent())
    }
}

@available(*, unavailable)
extension HTTP2CloseAfterExchangeHandler: Sendable {}
