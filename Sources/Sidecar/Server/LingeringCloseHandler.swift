import NIOCore

/// Closes a connection so that the client can read all of it: the write side first (a FIN once
/// what is queued is written), then what the client still sends is read and dropped until it
/// closes too, or ``lingerTime`` passes.
///
/// Closing outright while the client's bytes are unread (a pipelined request after an error
/// response, an HTTP/2 client's `WINDOW_UPDATE` or `SETTINGS` ack after our GOAWAY) makes the
/// kernel send a reset, which can destroy what the client has not read yet. Every client
/// connection has one, next to the socket, below TLS, so TLS's `close_notify` goes out before
/// the FIN; whichever handler closes the connection, the close lingers.
final class LingeringCloseHandler: ChannelDuplexHandler {
    typealias InboundIn = ByteBuffer
    typealias InboundOut = ByteBuffer
    typealias OutboundIn = ByteBuffer
    typealias OutboundOut = ByteBuffer

    private enum State {
        case open
        /// The write side is closed; reading until the client's FIN or the linger's end.
        case lingering
        case closing
    }

    private var state = State.open
    let lingerTime: TimeAmount

    /// How long a closing connection keeps reading (and dropping) what the client still sends.
    static let defaultLingerTime = TimeAmount.seconds(2)

    init(lingerTime: TimeAmount = defaultLingerTime) {
        self.lingerTime = lingerTime
    }

    func close(context: ChannelHandlerContext, mode: CloseMode, promise: EventLoopPromise<Void>?) {
        guard mode == .all else { return context.close(mode: mode, promise: promise) }
        switch state {
        case .open:
            state = .lingering
            if let promise { context.channel.closeFuture.cascade(to: promise) }
            context.close(mode: .output).assumeIsolated().whenComplete { result in
                guard case .success = result else { return self.closeNow(context) }
                context.read()
                context.eventLoop.assumeIsolated().scheduleTask(in: self.lingerTime) { self.closeNow(context) }
            }
        case .lingering:
            if let promise { context.channel.closeFuture.cascade(to: promise) }
        case .closing:
            context.close(mode: .all, promise: promise)
        }
    }

    private func closeNow(_ context: ChannelHandlerContext) {
        guard case .lingering = state else { return }
        state = .closing
        context.close(promise: nil)
    }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        guard case .open = state else { return }
        context.fireChannelRead(data)
    }

    func channelReadComplete(context: ChannelHandlerContext) {
        guard case .open = state else {
            // Reading goes on whatever the handlers above asked, until the client's FIN.
            return context.read()
        }
        context.fireChannelReadComplete()
    }

    func userInboundEventTriggered(context: ChannelHandlerContext, event: Any) {
        if case .lingering = state, case ChannelEvent.inputClosed = event { return closeNow(context) }
        context.fireUserInboundEventTriggered(event)
    }
}
