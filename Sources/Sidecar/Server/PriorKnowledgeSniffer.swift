import NIOCore

/// On a plain listener with `SIDECAR_H2C=on`: reads until the first bytes tell HTTP/2 with prior
/// knowledge (the client preface) from HTTP/1.1, has the matching pipeline built behind it, then
/// hands over what it read and leaves.
///
/// A connection still undecided when the header timeout passes, or when the server drains, is
/// closed (see ``ConnectionSetupState``); the deadline is kept by the loop's ``DeadlineSweeper``.
final class PriorKnowledgeSniffer: ChannelInboundHandler, RemovableChannelHandler, DeadlineSweeper.Owner {
    typealias InboundIn = ByteBuffer
    typealias InboundOut = ByteBuffer

    /// The HTTP/2 client connection preface (RFC 9113 §3.4).
    static let preface = Array("PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n".utf8)

    /// What the first bytes of a connection say.
    enum Verdict: Equatable {
        /// A proper prefix of the preface so far.
        case undecided
        case http1
        case http2
    }

    private let timeout: TimeAmount
    private let deadlines: DeadlineSweeper
    private let configure: (_ http2: Bool, _ channel: any Channel) throws -> Void
    private var buffered: ByteBuffer?
    private var state = ConnectionSetupState()
    private var deadline: DeadlineSweeper.Entry?
    private var context: ChannelHandlerContext?

    /// - Parameter timeout: how long a connection may take to send enough to decide.
    init(
        timeout: TimeAmount,
        deadlines: DeadlineSweeper,
        configure: @escaping (_ http2: Bool, _ channel: any Channel) throws -> Void
    ) {
        self.timeout = timeout
        self.deadlines = deadlines
        self.configure = configure
    }

    /// Classifies the first bytes of a connection.
    static func verdict(of bytes: ByteBuffer) -> Verdict {
        let seen = bytes.readableBytesView.prefix(preface.count)
        guard seen.elementsEqual(preface.prefix(seen.count)) else { return .http1 }
        return seen.count < preface.count ? .undecided : .http2
    }

    func handlerAdded(context: ChannelHandlerContext) {
        self.context = context
        if context.channel.isActive { arm() }
    }

    func channelActive(context: ChannelHandlerContext) {
        arm()
        context.fireChannelActive()
    }

    func handlerRemoved(context: ChannelHandlerContext) {
        deadlines.cancel(&deadline)
        self.context = nil
    }

    func channelInactive(context: ChannelHandlerContext) {
        deadlines.cancel(&deadline)
        context.fireChannelInactive()
    }

    func userInboundEventTriggered(context: ChannelHandlerContext, event: Any) {
        if event is ChannelShouldQuiesceEvent {
            run(state.quiesce())
            return
        }
        context.fireUserInboundEventTriggered(event)
    }

    func deadlinePassed() {
        deadline = nil
        run(state.deadlinePassed())
    }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        var bytes = unwrapInboundIn(data)
        guard state.phase == .settingUp else { return }
        if var buffered {
            buffered.writeBuffer(&bytes)
            self.buffered = buffered
        } else {
            buffered = bytes
        }
        guard let buffered else { return }
        let verdict = Self.verdict(of: buffered)
        if verdict == .undecided { return }
        run(state.finished())
        do {
            try configure(verdict == .http2, context.channel)
        } catch {
            context.fireErrorCaught(error)
            context.close(promise: nil)
            return
        }
        self.buffered = nil
        context.fireChannelRead(wrapInboundOut(buffered))
        context.fireChannelReadComplete()
        context.pipeline.syncOperations.removeHandler(context: context, promise: nil)
    }

    private func arm() {
        guard deadline == nil, state.phase == .settingUp else { return }
        deadlines.set(.now() + timeout, for: self, entry: &deadline)
    }

    private func run(_ action: ConnectionSetupState.Action) {
        switch action {
        case .none:
            break
        case .cancelDeadline:
            deadlines.cancel(&deadline)
        case .close:
            deadlines.cancel(&deadline)
            buffered = nil
            context?.close(promise: nil)
        }
    }
}
