import NIOCore

/// One side of a byte tunnel between a client and an upstream connection, after a `101 Switching
/// Protocols` (WebSocket): what one side reads, the other writes, with backpressure both ways.
///
/// Both channels are on one event loop, so the partners call each other directly.
final class TunnelHandler: ChannelDuplexHandler {
    typealias InboundIn = ByteBuffer
    typealias OutboundIn = ByteBuffer
    typealias OutboundOut = ByteBuffer

    /// The other side; cleared when either side closes.
    var partner: TunnelHandler?
    /// Whether the other side can take bytes yet; until then what arrives is kept and reading waits.
    private var partnerReady: Bool
    private var held: [ByteBuffer] = []
    private var context: ChannelHandlerContext?
    private var readPending = false

    init(partnerReady: Bool = true) {
        self.partnerReady = partnerReady
    }

    /// Joins two handlers into a tunnel.
    /// `first` holds what it reads until ``partnerIsReady()``.
    static func pair() -> (TunnelHandler, TunnelHandler) {
        let first = TunnelHandler(partnerReady: false)
        let second = TunnelHandler()
        first.partner = second
        second.partner = first
        return (first, second)
    }

    func handlerAdded(context: ChannelHandlerContext) {
        self.context = context
    }

    func handlerRemoved(context: ChannelHandlerContext) {
        self.context = nil
        partner = nil
    }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        guard partnerReady else {
            held.append(unwrapInboundIn(data))
            return
        }
        partner?.write(unwrapInboundIn(data))
    }

    /// The other side is joined: passes on what was held and reads again.
    func partnerIsReady() {
        partnerReady = true
        for buffer in held { partner?.write(buffer) }
        held.removeAll()
        partner?.flush()
        resumeReads()
    }

    func channelReadComplete(context: ChannelHandlerContext) {
        partner?.flush()
    }

    func channelInactive(context: ChannelHandlerContext) {
        let partner = self.partner
        self.partner = nil
        partner?.partnerClosed()
        context.fireChannelInactive()
    }

    func channelWritabilityChanged(context: ChannelHandlerContext) {
        if context.channel.isWritable { partner?.resumeReads() }
        context.fireChannelWritabilityChanged()
    }

    func errorCaught(context: ChannelHandlerContext, error: any Error) {
        context.close(promise: nil)
    }

    func read(context: ChannelHandlerContext) {
        // Read only while the other side can take more.
        if partnerReady && partner?.isWritable ?? true {
            context.read()
        } else {
            readPending = true
        }
    }

    private var isWritable: Bool { context?.channel.isWritable ?? false }

    private func write(_ buffer: ByteBuffer) {
        context?.write(wrapOutboundOut(buffer), promise: nil)
    }

    private func flush() {
        context?.flush()
    }

    private func resumeReads() {
        guard readPending, let context else { return }
        readPending = false
        context.read()
    }

    private func partnerClosed() {
        partner = nil
        guard let context else { return }
        // Flush what is written, then close.
        context.writeAndFlush(wrapOutboundOut(context.channel.allocator.buffer(capacity: 0))).assumeIsolated()
            .whenComplete { _ in context.close(promise: nil) }
    }
}
