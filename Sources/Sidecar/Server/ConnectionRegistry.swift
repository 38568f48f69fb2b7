import NIOCore
import NIOHTTP2
import Synchronization

/// The first phase of a `/drain` (a pod's `preStop`): every connection closes after its current
/// exchange (HTTP/1.1 answers with `Connection: close`; HTTP/2 sends GOAWAY), while the listener
/// still accepts, so that a client told to go away and reconnecting before the load balancers
/// have dropped this pod is still served. The second phase is the usual drain.
struct CloseAfterExchangeEvent: Sendable {}

/// A listener's open connections: at most `limit` (`SIDECAR_MAX_CONNECTIONS`), and whether the
/// first phase of a `/drain` began; connections set up after it began close after their first
/// exchange too.
final class ConnectionRegistry: Sendable {
    private let limit: Int
    private let started = Atomic(false)
    private let channels = Mutex<[ObjectIdentifier: any Channel]>([:])

    init(limit: Int = .max) {
        self.limit = limit
    }

    /// The connections open now.
    var count: Int { channels.withLock { $0.count } }

    /// Tracks `channel` until it closes, calling `changed` with the count after it opens and after
    /// it closes; `false` (not tracked) when `limit` connections are open.
    func open(_ channel: any Channel, changed: @escaping @Sendable (Int) -> Void) -> Bool {
        let id = ObjectIdentifier(channel)
        let opened: Int? = channels.withLock { channels in
            guard channels.count < limit else { return nil }
            channels[id] = channel
            return channels.count
        }
        guard let opened else { return false }
        changed(opened)
        channel.closeFuture.whenComplete { _ in
            changed(
                self.channels.withLock { channels in
                    channels[id] = nil
                    return channels.count
                }
            )
        }
        return true
    }

    /// Whether connections close after their current exchange.
    var closesAfterExchange: Bool { started.load(ordering: .acquiring) }

    /// Begins the first phase of a `/drain`: tells every open connection.
    func closeAfterExchange() {
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

    private let connections: ConnectionRegistry
    private var told = false

    init(connections: ConnectionRegistry) {
        self.connections = connections
    }

    func userInboundEventTriggered(context: ChannelHandlerContext, event: Any) {
        if event is CloseAfterExchangeEvent {
            tell(context)
            return
        }
        context.fireUserInboundEventTriggered(event)
        if event is NIOHTTP2StreamCreatedEvent, connections.closesAfterExchange { tell(context) }
    }

    private func tell(_ context: ChannelHandlerContext) {
        guard !told else { return }
        told = true
        context.fireUserInboundEventTriggered(ChannelShouldQuiesceEvent())
    }
}

@available(*, unavailable)
extension HTTP2CloseAfterExchangeHandler: Sendable {}
