import NIOCore
import NIOHTTP1

/// Receives what an ``UpstreamConnection`` reads while it serves one exchange.
protocol UpstreamConnectionDelegate: AnyObject {
    func upstreamResponseHead(_ head: HTTPResponseHead)
    func upstreamResponseBody(_ body: ByteBuffer)
    func upstreamResponseEnd(reusable: Bool)
    func upstreamReadComplete()
    func upstreamFailed()
    func upstreamWritabilityChanged(isWritable: Bool)
}

/// One keep-alive HTTP/1.1 connection to the upstream, the last handler of its channel.
///
/// It reads only while its delegate can take more (``holdReads`` is off), so a slow client slows
/// the upstream instead of filling the sidecar's memory.
final class UpstreamConnection: ChannelDuplexHandler, RemovableChannelHandler {
    typealias InboundIn = HTTPClientResponsePart
    typealias OutboundIn = HTTPClientRequestPart
    typealias OutboundOut = HTTPClientRequestPart

    /// The exchange this connection serves; `nil` while idle in the pool.
    weak var delegate: (any UpstreamConnectionDelegate)?
    /// Whether the current response said the connection may be reused.
    var responseAllowsReuse = true
    /// The connection's number in its pool; `nil` once it closed or left the pool.
    var poolID: Int?
    /// The pool it counts against, told when the handler leaves an open channel (a tunnel).
    weak var pool: UpstreamPool?

    private var context: ChannelHandlerContext?
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
        self.context = nil
        // Removed from a channel still open: the connection became a tunnel and no longer
        // counts against the pool (a closing channel is inactive by now).
        if isActive { pool?.connectionLeft(self) }
    }

    func channelActive(context: ChannelHandlerContext) {
        isActive = true
        context.fireChannelActive()
    }

    func channelInactive(context: ChannelHandlerContext) {
        isActive = false
        let delegate = self.delegate
        self.delegate = nil
        delegate?.upstreamFailed()
        context.fireChannelInactive()
    }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        switch unwrapInboundIn(data) {
        case .head(let head):
            if head.status.code >= 200 {
                responseAllowsReuse = head.isKeepAlive
            }
            delegate?.upstreamResponseHead(head)
        case .body(let body):
            delegate?.upstreamResponseBody(body)
        case .end:
            let delegate = self.delegate
            self.delegate = nil
            delegate?.upstreamResponseEnd(reusable: responseAllowsReuse && isActive)
        }
    }

    func channelReadComplete(context: ChannelHandlerContext) {
        delegate?.upstreamReadComplete()
    }

    func channelWritabilityChanged(context: ChannelHandlerContext) {
        delegate?.upstreamWritabilityChanged(isWritable: context.channel.isWritable)
    }

    func errorCaught(context: ChannelHandlerContext, error: any Error) {
        // Parse errors, resets and heads the encoder refuses: the connection is unusable. The
        // delegate is told here, not left to channelInactive: closing from inside the write of a head
        // NIO's validator refused was seen to deliver no channelInactive, and the exchange hung.
        isActive = false
        let delegate = self.delegate
        self.delegate = nil
        context.close(promise: nil)
        delegate?.upstreamFailed()
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

    /// Writes a request part without flushing.
    func write(_ part: HTTPClientRequestPart) {
        context?.write(wrapOutboundOut(part), promise: nil)
    }

    func flush() {
        context?.flush()
    }

    /// Closes the connection; a delegate still attached is not told.
    func abort() {
        delegate = nil
        context?.close(promise: nil)
    }
}
