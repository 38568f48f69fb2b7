import HTTP1Wire
import NIOCore

/// Reads HTTP/1.1 requests from a client connection with ``HTTP1RequestDecoder``: heads as offsets
/// into the bytes read, bodies as slices of them. It tells the ``ProxyHandler`` first when bytes
/// arrive, so the header deadline starts with a request's first byte. A request it refuses is
/// passed on as an error (``ClientRequestRefusal``), and nothing more is decoded on the connection.
final class HTTP1RequestDecoderHandler: ChannelInboundHandler, RemovableChannelHandler {
    typealias InboundIn = ByteBuffer
    typealias InboundOut = ProxyRequestPart

    private let proxy: ProxyHandler
    private var decoder: HTTP1RequestDecoder
    private var context: ChannelHandlerContext?

    /// `maxHeaderBytes` as `SIDECAR_MAX_HEADER_BYTES` defines it: names and values summed, and each field.
    init(proxy: ProxyHandler, maxHeaderBytes: Int) {
        self.proxy = proxy
        // The head as a whole (request line, separators and line ends included) may take a little more.
        decoder = HTTP1RequestDecoder(
            maxHeadBytes: maxHeaderBytes + 16 * 1024,
            maxFieldCount: max(512, maxHeaderBytes / 8),
            maxFieldBytes: maxHeaderBytes
        )
    }

    func handlerAdded(context: ChannelHandlerContext) {
        self.context = context
    }

    func handlerRemoved(context: ChannelHandlerContext) {
        self.context = nil
    }

    /// The connection becomes a tunnel: what the client sent past its upgrade request goes on, as
    /// bytes, to the handlers after this one; nothing more is decoded.
    func handOverUnreadBytes() {
        guard let context, decoder.isPaused else { return }
        if let unread = decoder.takeUnreadBytes() { context.fireChannelRead(NIOAny(unread)) }
    }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        // After a refusal what follows is dropped.
        if decoder.hasFailed { return }
        proxy.clientBytesArrived()
        decoder.read(unwrapInboundIn(data))
        decode(context: context)
    }

    /// The upstream did not switch protocols for the request the decoder paused after (see
    /// ``HTTP1RequestDecoder``): decode what the client sent since, once the current event is over.
    func resumeIfPaused() {
        guard decoder.isPaused, let context else { return }
        decoder.resume()
        context.eventLoop.assumeIsolated().execute {
            guard let context = self.context, !self.decoder.hasFailed else { return }
            self.decode(context: context)
        }
    }

    private func decode(context: ChannelHandlerContext) {
        while true {
            let event: HTTP1RequestDecoder.Event?
            do {
                event = try decoder.next()
            } catch {
                let refusal = ClientRequestRefusal(reason: error, requestLine: decoder.refusedRequestLine)
                context.fireErrorCaught(refusal)
                return
            }
            switch event {
            case nil:
                return
            case .head(let head, let bytes)?:
                context.fireChannelRead(wrapInboundOut(.head(ClientRequestHead(head, bytes: bytes))))
            case .body(let body)?:
                context.fireChannelRead(wrapInboundOut(.body(body)))
            case .end?:
                context.fireChannelRead(wrapInboundOut(.end))
            }
        }
    }
}
