import NIOCore
import NIOSSL
import NIOTLS
import Prometheus

/// Closes a connection whose TLS handshake does not complete in time or is still running when the
/// server drains, and counts failed handshakes. The deadline is kept by the loop's
/// ``DeadlineSweeper``; the decisions are ``ConnectionSetupState``'s.
final class TLSHandshakeGuard: ChannelInboundHandler, RemovableChannelHandler, DeadlineSweeper.Owner {
    typealias InboundIn = NIOAny

    private let timeout: TimeAmount
    private let failures: Prometheus.Counter?
    private let deadlines: DeadlineSweeper
    private var state = ConnectionSetupState()
    private var deadline: DeadlineSweeper.Entry?
    private var context: ChannelHandlerContext?

    init(timeout: TimeAmount, deadlines: DeadlineSweeper, failures: Prometheus.Counter?) {
        self.timeout = timeout
        self.deadlines = deadlines
        self.failures = failures
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
        if case TLSUserEvent.handshakeCompleted = event {
            run(state.finished(), countsFailure: false)
        } else if event is ChannelShouldQuiesceEvent {
            run(state.quiesce(), countsFailure: false)
        }
        context.fireUserInboundEventTriggered(event)
    }

    func errorCaught(context: ChannelHandlerContext, error: any Error) {
        if error is NIOSSLError || error is BoringSSLError {
            let action = state.failed()
            if action == .close {
                run(action, countsFailure: true)
                return
            }
        }
        context.fireErrorCaught(error)
    }

    func deadlinePassed() {
        deadline = nil
        run(state.deadlinePassed(), countsFailure: true)
    }

    private func arm() {
        guard deadline == nil, state.phase == .settingUp else { return }
        deadlines.set(.now() + timeout, for: self, entry: &deadline)
    }

    private func run(_ action: ConnectionSetupState.Action, countsFailure: Bool) {
        switch action {
        case .none:
            break
        case .cancelDeadline:
            deadlines.cancel(&deadline)
        case .close:
            deadlines.cancel(&deadline)
            if countsFailure { failures?.increment() }
            context?.close(promise: nil)
        }
    }
}
