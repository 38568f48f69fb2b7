import HTTP1Wire
import NIOCore
import NIOHTTP1

/// Receives what an ``UpstreamConnection`` reads while it serves one exchange.
protocol UpstreamConnectionDelegate: AnyObject {
    func upstreamResponseHead(_ head: UpstreamResponseHead)
    func upstreamResponseBody(_ body: ByteBuffer)
    func upstreamResponseEnd(reusable: Bool)
    func upstreamReadComplete()
    func upstreamFailed()
    func upstreamWritabilityChanged(isWritable: Bool)
}

/// One keep-alive HTTP/1.1 connection to the upstream, the only handler of its channel: it writes
/// request heads it is given as bytes, frames bodies itself, and decodes responses with
/// ``HTTP1ResponseDecoder`` (no HTTP objects on this leg).
///
/// It reads only while its delegate can take more (``holdReads`` is off), so a slow client slows
/// the upstream instead of filling the sidecar's memory.
final class UpstreamConnection: ChannelDuplexHandler, RemovableChannelHandler {
    typealias InboundIn = ByteBuffer
    typealias InboundOut = ByteBuffer
    typealias OutboundIn = ByteBuffer
    typealias OutboundOut = ByteBuffer

    /// The exchange this connection serves; `nil` while idle in the pool.
    weak var delegate: (any UpstreamConnectionDelegate)?
    /// The connection's number in its pool; `nil` once it closed or left the pool.
    var poolID: Int?
    /// The pool it counts against, told when the handler leaves an open channel (a tunnel).
    weak var pool: UpstreamPool?

    private var context: ChannelHandlerContext?
    private var decoder = HTTP1ResponseDecoder()
    /// Whether the request body being written is chunked.
    private var chunkedBody = false
    private var readsHeld = false
    private var readPending = false
    private(set) var isActive = false

    init() {}

    var channel: (any Channel)? { context?.channel }

    var isWritable: Bool { context?.channel.isWritable ?? false }

    func handlerAdded(context: ChannelHandlerContext) {
        self.context = context
        isActive = context.channel.isActive
    }

    func handlerRemoved(context: ChannelHandlerContext) {
        // Removed from a channel still open: the connection became a tunnel. Bytes read past the
        // `101` belong to it, and the connection no longer counts against the pool.
        if let unread = decoder.takeUnreadBytes() { context.fireChannelRead(wrapInboundOut(unread)) }
        self.context = nil
        if isActive { pool?.connectionLeft(self) }
    }

    func channelActive(context: ChannelHandlerContext) {
        isActive = true
        context.fireChannelActive()
    }

    func channelInactive(context: ChannelHandlerContext) {
        isActive = false
        do {
            // A body delimited by the close ends here; a response cut short fails the exchange.
            if case .end? = try decoder.inputClosed() { finishExchange(reusable: false) }
        } catch {}
        let delegate = self.delegate
        self.delegate = nil
        delegate?.upstreamFailed()
        context.fireChannelInactive()
    }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        decoder.read(unwrapInboundIn(data))
        do {
            while let event = try decoder.next() {
                switch event {
                case .head(let head, let bytes):
                    delegate?.upstreamResponseHead(UpstreamResponseHead(head: head, bytes: bytes))
                case .body(let body):
                    delegate?.upstreamResponseBody(body)
                case .end(let reusable):
                    finishExchange(reusable: reusable)
                }
            }
        } catch {
            fail(context: context)
        }
    }

    func channelReadComplete(context: ChannelHandlerContext) {
        delegate?.upstreamReadComplete()
    }

    func channelWritabilityChanged(context: ChannelHandlerContext) {
        delegate?.upstreamWritabilityChanged(isWritable: context.channel.isWritable)
    }

    func errorCaught(context: ChannelHandlerContext, error: any Error) {
        // Resets and write failures: the connection is unusable. The delegate is told here, not
        // left to channelInactive, which a close from inside a write was seen not to deliver.
        fail(context: context)
    }

    func read(context: ChannelHandlerContext) {
        if readsHeld {
            readPending = true
        } else {
            context.read()
        }
    }

    /// Stops reading until ``resumeReads()``.
    func holdReads() {
        readsHeld = true
    }

    /// Reads again, catching up on a read held back.
    func resumeReads() {
        readsHeld = false
        if readPending, let context {
            readPending = false
            context.read()
        }
    }

    /// Writes a request head, already serialized, without flushing; its response is read next.
    /// `chunkedBody`: the head says `Transfer-Encoding: chunked`, so body parts are framed as chunks.
    func writeHead(_ bytes: ByteBuffer, isHeadRequest: Bool, chunkedBody: Bool) {
        guard let context else { return }
        decoder.expectResponse(to: .init(isHead: isHeadRequest))
        self.chunkedBody = chunkedBody
        context.write(wrapOutboundOut(bytes), promise: nil)
    }

    /// Writes request body bytes without flushing.
    func writeBody(_ bytes: ByteBuffer) {
        guard let context, bytes.readableBytes > 0 else { return }
        guard chunkedBody else {
            context.write(wrapOutboundOut(bytes), promise: nil)
            return
        }
        ChunkedBodyEncoder.writeChunk(bytes, allocator: context.channel.allocator) {
            context.write(wrapOutboundOut($0), promise: nil)
        }
    }

    /// Ends the request body without flushing.
    func writeEnd() {
        guard let context, chunkedBody else { return }
        chunkedBody = false
        context.write(wrapOutboundOut(ChunkedBodyEncoder.lastChunk), promise: nil)
    }

    func flush() {
        context?.flush()
    }

    /// Closes the connection; a delegate still attached is not told.
    func abort() {
        delegate = nil
        context?.close(promise: nil)
    }

    private func finishExchange(reusable: Bool) {
        let delegate = self.delegate
        self.delegate = nil
        delegate?.upstreamResponseEnd(reusable: reusable && isActive)
    }

    private func fail(context: ChannelHandlerContext) {
        isActive = false
        let delegate = self.delegate
        self.delegate = nil
        context.close(promise: nil)
        delegate?.upstreamFailed()
    }
}

/// A response head read from the upstream: the parsed offsets and the bytes they point into.
struct UpstreamResponseHead {
    var head: HTTP1ResponseHead
    var bytes: ByteBuffer

    var status: Int { head.status }

    /// The bytes of `range`, as text.
    func text(_ range: Range<Int>) -> String {
        bytes.string(at: range)
    }

    /// The bytes of `range` with ASCII letters lower-cased (a field name for HTTP/2), as text.
    func lowercasedText(_ range: Range<Int>) -> String {
        bytes.withUnsafeReadableBytes { raw in
            String(unsafeUninitializedCapacity: range.count) { out in
                for (index, byte) in raw[range].enumerated() {
                    out[index] = byte >= UInt8(ascii: "A") && byte <= UInt8(ascii: "Z") ? byte | 0x20 : byte
                }
                return range.count
            }
        }
    }
}
