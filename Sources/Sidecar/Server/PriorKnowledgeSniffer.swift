import NIOCore

/// On a plain listener with `SIDECAR_H2C=on`: reads until the first bytes tell HTTP/2 with prior
/// knowledge (the client preface) from HTTP/1.1, has the matching pipeline built behind it, then
/// hands over what it read and leaves.
final class PriorKnowledgeSniffer: ChannelInboundHandler, RemovableChannelHandler {
    typealias InboundIn = ByteBuffer
    typealias InboundOut = ByteBuffer

    /// The HTTP/2 client connection preface (RFC 9113 §3.4).
    static let preface = Array("PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n".utf8)

    private let configure: (_ http2: Bool, _ channel: any Channel) throws -> Void
    private var buffered: ByteBuffer?

    init(configure: @escaping (_ http2: Bool, _ channel: any Channel) throws -> Void) {
        self.configure = configure
    }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        var bytes = unwrapInboundIn(data)
        if var buffered {
            buffered.writeBuffer(&bytes)
            self.buffered = buffered
        } else {
            buffered = bytes
        }
        guard let buffered else { return }
        let seen = buffered.readableBytesView.prefix(Self.preface.count)
        let isPreface = seen.elementsEqual(Self.preface.prefix(seen.count))
        // Undecided while what arrived is a proper prefix of the preface.
        if isPreface && seen.count < Self.preface.count { return }
        do {
            try configure(isPreface, context.channel)
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
}
