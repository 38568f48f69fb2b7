import NIOCore

/// Tells the ``ProxyHandler`` when raw bytes arrive, before the HTTP decoder sees them, so the
/// header deadline starts with the first byte of a request.
///
/// It also writes responses that no request head precedes (408), below the HTTP codec.
final class ClientBytesTap: ChannelDuplexHandler, RemovableChannelHandler {
    typealias InboundIn = ByteBuffer
    typealias InboundOut = ByteBuffer
    typealias OutboundIn = ByteBuffer
    typealias OutboundOut = ByteBuffer

    private let proxy: ProxyHandler
    private var context: ChannelHandlerContext?

    init(proxy: ProxyHandler) {
        self.proxy = proxy
    }

    func handlerAdded(context: ChannelHandlerContext) {
        self.context = context
    }

    func handlerRemoved(context: ChannelHandlerContext) {
        self.context = nil
    }

    /// Writes and flushes `bytes` straight to the socket; completes when written.
    func writeRaw(_ bytes: ByteBuffer) -> EventLoopFuture<Void>? {
        guard let context else { return nil }
        return context.writeAndFlush(wrapOutboundOut(bytes))
    }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        proxy.clientBytesArrived()
        context.fireChannelRead(data)
    }
}
