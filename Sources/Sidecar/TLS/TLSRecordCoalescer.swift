import NIOCore

/// Gathers the small writes between two flushes into one buffer above TLS, so that a response
/// becomes one TLS record rather than one per HTTP/2 frame header, payload or chunk.
///
/// NIOSSL turns every write into its own record (5 bytes of header, 16 of tag and a cipher call
/// each). Writes of a full record or more pass through uncopied; smaller ones are copied into
/// the pending buffer, which goes out when it would pass a record's size or at the flush.
final class TLSRecordCoalescer: ChannelOutboundHandler, RemovableChannelHandler {
    typealias OutboundIn = ByteBuffer
    typealias OutboundOut = ByteBuffer

    /// The largest plaintext of one TLS record (RFC 8446 §5.1).
    static let recordSize = 16 * 1024

    private var held = HeldWrite<ByteBuffer>()

    init() {}

    func write(context: ChannelHandlerContext, data: NIOAny, promise: EventLoopPromise<Void>?) {
        var buffer = unwrapOutboundIn(data)
        if buffer.readableBytes >= Self.recordSize {
            writeHeld(context: context)
            context.write(data, promise: promise)
            return
        }
        if var gathered = held.value {
            if gathered.readableBytes + buffer.readableBytes > Self.recordSize {
                writeHeld(context: context)
                held.value = buffer
            } else {
                held.value = nil  // Unique again, so the append below copies at most once.
                gathered.writeBuffer(&buffer)
                held.value = gathered
            }
        } else {
            held.value = buffer
        }
        held.addPromise(promise)
    }

    func flush(context: ChannelHandlerContext) {
        writeHeld(context: context)
        context.flush()
    }

    func close(context: ChannelHandlerContext, mode: CloseMode, promise: EventLoopPromise<Void>?) {
        writeHeld(context: context)
        context.close(mode: mode, promise: promise)
    }

    func handlerRemoved(context: ChannelHandlerContext) {
        writeHeld(context: context)
    }

    private func writeHeld(context: ChannelHandlerContext) {
        guard let (buffer, promise) = held.take() else { return }
        context.write(wrapOutboundOut(buffer), promise: promise)
    }
}
