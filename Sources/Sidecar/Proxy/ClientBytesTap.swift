import NIOCore

/// Tells the ``ProxyHandler`` when raw bytes arrive, before the HTTP decoder sees them, so the
/// header deadline starts with the first byte of a request.
final class ClientBytesTap: ChannelInboundHandler, RemovableChannelHandler {
    typealias InboundIn = ByteBuffer
    typealias InboundOut = ByteBuffer

    private let proxy: ProxyHandler

    init(proxy: ProxyHandler) {
        self.proxy = proxy
    }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        proxy.clientBytesArrived()
        context.fireChannelRead(data)
    }
}
