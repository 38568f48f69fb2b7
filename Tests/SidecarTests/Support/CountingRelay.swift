import NIOCore
import NIOPosix
import Synchronization

/// A TCP relay on loopback in front of one port, as a node's kube-proxy is in front of a pod:
/// bytes pass both ways unchanged (TLS included), half-closes are passed on, and each connection
/// is counted with how it ended.
final class CountingRelay: Sendable {
    /// The connections relayed so far.
    struct Counts: Sendable, Equatable {
        /// Connections accepted from clients.
        var opened = 0
        /// Connections that ended with both sides closing (FIN), no error on either.
        var closedCleanly = 0
        /// Connections that ended with an error (a reset, a refused connect), described.
        var failed: [String] = []

        /// Connections still open.
        var open: Int { opened - closedCleanly - failed.count }
    }

    let port: Int
    private let listener: any Channel
    private let tally: Tally

    var counts: Counts { tally.counts.withLock { $0 } }

    private init(listener: any Channel, tally: Tally) {
        self.listener = listener
        self.port = listener.localAddress!.port!
        self.tally = tally
    }

    /// A relay listening on an ephemeral loopback port, to `127.0.0.1:targetPort`.
    static func start(group: any EventLoopGroup, to targetPort: Int) async throws -> CountingRelay {
        let tally = Tally()
        let listener = try await ServerBootstrap(group: group)
            .childChannelOption(.allowRemoteHalfClosure, value: true)
            .childChannelOption(.autoRead, value: false)
            .childChannelInitializer { inbound in
                inbound.eventLoop.makeCompletedFuture {
                    tally.record { $0.opened += 1 }
                    try inbound.pipeline.syncOperations.addHandler(RelayStarter(targetPort: targetPort, tally: tally))
                }
            }
            .bind(host: "127.0.0.1", port: 0)
            .get()
        return CountingRelay(listener: listener, tally: tally)
    }

    func stop() async throws {
        try await listener.close()
    }
}

/// The counts of one relay, shared by its connections.
private final class Tally: Sendable {
    let counts = Mutex(CountingRelay.Counts())

    func record(_ change: (inout CountingRelay.Counts) -> Void) {
        counts.withLock { change(&$0) }
    }
}

/// How one relayed connection ended, reported once both of its channels closed; event-loop bound.
private final class RelayOutcome {
    private let tally: Tally
    private var error: String?
    private var channelsOpen = 2

    init(tally: Tally) { self.tally = tally }

    func failed(_ description: String) {
        if error == nil { error = description }
    }

    func channelClosed() {
        channelsOpen -= 1
        guard channelsOpen == 0 else { return }
        if let error {
            tally.record { $0.failed.append(error) }
        } else {
            tally.record { $0.closedCleanly += 1 }
        }
    }
}

/// On a client's connection: connects to the target on the same event loop, then relays.
private final class RelayStarter: ChannelInboundHandler, RemovableChannelHandler {
    typealias InboundIn = ByteBuffer
    let targetPort: Int
    let tally: Tally

    init(targetPort: Int, tally: Tally) {
        self.targetPort = targetPort
        self.tally = tally
    }

    func channelActive(context: ChannelHandlerContext) {
        let inbound = context.channel
        let outcome = RelayOutcome(tally: tally)
        let loop = context.eventLoop
        ClientBootstrap(group: loop)
            .channelOption(.allowRemoteHalfClosure, value: true)
            .connect(host: "127.0.0.1", port: targetPort)
            .assumeIsolated()
            .whenComplete { result in
                switch result {
                case .failure(let error):
                    outcome.failed("connect: \(error)")
                    outcome.channelClosed()
                    inbound.closeFuture.assumeIsolated().whenComplete { _ in outcome.channelClosed() }
                    inbound.close(promise: nil)
                case .success(let outbound):
                    let client = RelayHandler(outcome: outcome, side: "the client")
                    let server = RelayHandler(outcome: outcome, side: "the target")
                    client.partner = server
                    server.partner = client
                    do {
                        try inbound.pipeline.syncOperations.addHandler(client)
                        try outbound.pipeline.syncOperations.addHandler(server)
                        inbound.pipeline.syncOperations.removeHandler(self, promise: nil)
                    } catch {
                        inbound.close(promise: nil)
                        outbound.close(promise: nil)
                        return
                    }
                    _ = inbound.setOption(.autoRead, value: true)
                }
            }
    }
}

/// One side of a relayed connection: what it reads is written to its partner; its end of input
/// becomes the partner's end of output; both close once neither has input left.
private final class RelayHandler: ChannelDuplexHandler {
    typealias InboundIn = ByteBuffer
    typealias OutboundIn = ByteBuffer
    typealias OutboundOut = ByteBuffer

    let outcome: RelayOutcome
    /// Which peer this side faces, for the failure's description.
    let side: String
    var partner: RelayHandler?
    private var context: ChannelHandlerContext?
    private var inputClosed = false

    init(outcome: RelayOutcome, side: String) {
        self.outcome = outcome
        self.side = side
    }

    func handlerAdded(context: ChannelHandlerContext) {
        self.context = context
        context.channel.closeFuture.assumeIsolated().whenComplete { [outcome] _ in outcome.channelClosed() }
    }

    func handlerRemoved(context: ChannelHandlerContext) {
        self.context = nil
        partner = nil
    }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        partner?.context?.write(data, promise: nil)
    }

    func channelReadComplete(context: ChannelHandlerContext) {
        partner?.context?.flush()
    }

    func userInboundEventTriggered(context: ChannelHandlerContext, event: Any) {
        guard case ChannelEvent.inputClosed = event else { return context.fireUserInboundEventTriggered(event) }
        inputClosed = true
        if let partner, let partnerContext = partner.context {
            partnerContext.flush()
            partnerContext.close(mode: .output, promise: nil)
            if partner.inputClosed {
                context.close(promise: nil)
                partnerContext.close(promise: nil)
            }
        } else {
            context.close(promise: nil)
        }
    }

    func errorCaught(context: ChannelHandlerContext, error: any Error) {
        outcome.failed("\(side): \(error)")
        context.close(promise: nil)
        partner?.context?.close(promise: nil)
    }

    func channelInactive(context: ChannelHandlerContext) {
        // A full close without a half-close first (the peer's close(), or ours above) ends both.
        partner?.context?.close(promise: nil)
        context.fireChannelInactive()
    }
}
