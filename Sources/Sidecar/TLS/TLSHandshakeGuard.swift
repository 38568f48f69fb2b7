import NIOCore
import NIOSSL
import NIOTLS
import Prometheus

/// Closes a connection whose TLS handshake does not complete in time, and counts failed handshakes.
final class TLSHandshakeGuard: ChannelInboundHandler, RemovableChannelHandler {
    typealias InboundIn = NIOAny

    private let timeout: TimeAmount
    private let failures: Prometheus.Counter?
    private var deadline: Scheduled<Void>?
    private var completed = false

    init(timeout: TimeAmount, failures: Prometheus.Counter?) {
        self.timeout = timeout
        self.failures = failures
    }

    func handlerAdded(context: ChannelHandlerContext) {
        if context.channel.isActive { arm(context) }
    }

    func channelActive(context: ChannelHandlerContext) {
        arm(context)
        context.fireChannelActive()
    }

    func handlerRemoved(context: ChannelHandlerContext) {
        deadline?.cancel()
        deadline = nil
    }

    func userInboundEventTriggered(context: ChannelHandlerContext, event: Any) {
        if case TLSUserEvent.handshakeCompleted = event {
            completed = true
            deadline?.cancel()
            deadline = nil
        }
        context.fireUserInboundEventTriggered(event)
    }

    func errorCaught(context: ChannelHandlerContext, error: any Error) {
        if !completed && (error is NIOSSLError || error is BoringSSLError) {
            completed = true
            failures?.increment()
            deadline?.cancel()
            context.close(promise: nil)
            return
        }
        context.fireErrorCaught(error)
    }

    private func arm(_ context: ChannelHandlerContext) {
        guard deadline == nil, !completed else { return }
        deadline = context.eventLoop.assumeIsolated().scheduleTask(in: timeout) {
            guard !self.completed else { return }
            self.failures?.increment()
            context.close(promise: nil)
        }
    }
}
