import NIOCore
import NIOHTTP2

/// Reads one HTTP/2 request stream's frames as ``ProxyRequestPart``s, straight from the HPACK
/// header block (no HTTP/1 objects in between): the first HEADERS is the head, DATA the body,
/// END_STREAM the end; trailers are dropped.
final class HTTP2RequestStreamDecoder: ChannelInboundHandler, RemovableChannelHandler {
    typealias InboundIn = HTTP2Frame.FramePayload
    typealias InboundOut = ProxyRequestPart

    /// Whether the head was read (a later HEADERS frame is trailers).
    private var headRead = false

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        switch unwrapInboundIn(data) {
        case .headers(let headers):
            if !headRead {
                headRead = true
                do {
                    let head = try ClientRequestHead(http2: headers.headers, endStream: headers.endStream)
                    context.fireChannelRead(wrapInboundOut(.head(head)))
                } catch {
                    context.fireErrorCaught(error)
                    return
                }
            }
            if headers.endStream { context.fireChannelRead(wrapInboundOut(.end)) }
        case .data(let data):
            if case .byteBuffer(let body) = data.data, body.readableBytes > 0 {
                context.fireChannelRead(wrapInboundOut(.body(body)))
            }
            if data.endStream { context.fireChannelRead(wrapInboundOut(.end)) }
        default:
            break
        }
    }
}
