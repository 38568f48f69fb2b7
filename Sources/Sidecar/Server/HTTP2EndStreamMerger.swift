import NIOCore
import NIOHTTP2

/// Ends an HTTP/2 response with END_STREAM on its last HEADERS or DATA frame, instead of the
/// empty DATA frame swift-nio-http2's HTTP/1 translation writes for the end of a message.
///
/// It holds back the last frame written since the flush; an empty END_STREAM DATA frame that
/// follows is folded into it. Everything held goes out at the flush, in order.
final class HTTP2EndStreamMerger: ChannelOutboundHandler, RemovableChannelHandler {
    typealias OutboundIn = HTTP2Frame.FramePayload
    typealias OutboundOut = HTTP2Frame.FramePayload

    private var held = HeldWrite<HTTP2Frame.FramePayload>()

    init() {}

    func write(context: ChannelHandlerContext, data: NIOAny, promise: EventLoopPromise<Void>?) {
        let payload = unwrapOutboundIn(data)
        if Self.isBareEndOfStream(payload), var last = held.value, Self.setEndStream(on: &last) {
            held.value = last
            held.addPromise(promise)
            writeHeld(context: context)
            return
        }
        writeHeld(context: context)
        switch payload {
        case .headers(let headers) where !headers.endStream:
            held.value = payload
            held.addPromise(promise)
        case .data(let data) where !data.endStream:
            held.value = payload
            held.addPromise(promise)
        default:
            context.write(data, promise: promise)
        }
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
        guard let (payload, promise) = held.take() else { return }
        context.write(wrapOutboundOut(payload), promise: promise)
    }

    /// An empty DATA frame that only ends the stream.
    static func isBareEndOfStream(_ payload: HTTP2Frame.FramePayload) -> Bool {
        guard case .data(let data) = payload, data.endStream, data.paddingBytes == nil else { return false }
        return data.data.readableBytes == 0
    }

    /// Sets END_STREAM on a HEADERS of a final response or a DATA frame; `false` for others.
    static func setEndStream(on payload: inout HTTP2Frame.FramePayload) -> Bool {
        switch payload {
        case .headers(var headers):
            // An informational response cannot end the stream: a final one follows.
            if let status = headers.headers.first(name: ":status"), status.utf8.first == UInt8(ascii: "1") {
                return false
            }
            headers.endStream = true
            payload = .headers(headers)
            return true
        case .data(var data):
            data.endStream = true
            payload = .data(data)
            return true
        default:
            return false
        }
    }

}
