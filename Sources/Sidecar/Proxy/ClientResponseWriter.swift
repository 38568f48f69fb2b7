import HTTP1Wire
import Limiter
import NIOCore
import NIOHPACK
import NIOHTTP1
import NIOHTTP2

/// Writes responses to the client in the form its connection takes: bytes framed by the proxy on
/// HTTP/1.1 (``HTTP1ResponseBytes``), frame payloads on an HTTP/2 stream (HPACK fields built
/// straight from the upstream's field lines; ``HTTP2EndStreamMerger`` puts END_STREAM on the last
/// frame).
struct ClientResponseWriter {
    /// Whether the client is one HTTP/2 stream.
    let isHTTP2Stream: Bool
    /// Whether the response under way is chunked (HTTP/1.1 only).
    private(set) var isChunked = false

    init(isHTTP2Stream: Bool) {
        self.isHTTP2Stream = isHTTP2Stream
    }

    /// `100 Continue`, flushed.
    func writeContinue(context: ChannelHandlerContext) {
        if isHTTP2Stream {
            let headers = HPACKHeaders([(":status", "100")])
            context.writeAndFlush(NIOAny(HTTP2Frame.FramePayload.headers(.init(headers: headers))), promise: nil)
        } else {
            context.writeAndFlush(NIOAny(HTTP1ResponseBytes.continue100), promise: nil)
        }
    }

    /// A whole local answer, flushed; returns when it was written if `close` asks to know.
    func writeLocal(
        _ response: LocalResponse,
        requestID: String,
        close: Bool,
        isHeadRequest: Bool,
        context: ChannelHandlerContext
    ) -> EventLoopFuture<Void>? {
        let allocator = context.channel.allocator
        if isHTTP2Stream {
            // HTTP/2 has no `Connection` header: a stream simply ends.
            let body = response.body(allocator: allocator)
            var headers = HPACKHeaders()
            headers.reserveCapacity(response.headers.count + 4)
            headers.add(name: ":status", value: String(response.status.code))
            response.forEachHeadField(bodyLength: body.readableBytes, requestID: requestID, close: false) {
                headers.add(name: $0.lowercased(), value: $1)
            }
            if isHeadRequest {
                let head = HTTP2Frame.FramePayload.headers(.init(headers: headers, endStream: true))
                return flushEnd(NIOAny(head), close: close, context: context)
            }
            context.write(NIOAny(HTTP2Frame.FramePayload.headers(.init(headers: headers))), promise: nil)
            let data = HTTP2Frame.FramePayload.data(.init(data: .byteBuffer(body), endStream: true))
            return flushEnd(NIOAny(data), close: close, context: context)
        }
        let bytes = HTTP1ResponseBytes.local(
            response,
            requestID: requestID,
            close: close,
            omitBody: isHeadRequest,
            allocator: allocator
        )
        return flushEnd(NIOAny(bytes), close: close, context: context)
    }

    /// The upstream's response head, rewritten for the client (not flushed).
    mutating func writeProxiedHead(
        _ response: UpstreamResponseHead,
        policy: ForwardingPolicy,
        requestID: String,
        keepClientAlive: Bool,
        framing: ForwardingPolicy.ResponseFraming,
        rateLimit: (headers: RateLimitResponseHeaders, policy: RateLimitPolicyState)?,
        context: ChannelHandlerContext
    ) {
        if isHTTP2Stream {
            let headers = Self.http2Fields(response, requestID: requestID, framing: framing, rateLimit: rateLimit)
            context.write(NIOAny(HTTP2Frame.FramePayload.headers(.init(headers: headers))), promise: nil)
            return
        }
        let bytes = HTTP1ResponseBytes.proxied(
            response,
            requestID: requestID,
            keepClientAlive: keepClientAlive,
            framing: framing,
            rateLimit: rateLimit,
            allocator: context.channel.allocator
        )
        context.write(NIOAny(bytes), promise: nil)
        isChunked = framing == .chunked
    }

    /// Response body bytes (not flushed).
    func writeBody(_ body: ByteBuffer, context: ChannelHandlerContext) {
        if isHTTP2Stream {
            context.write(NIOAny(HTTP2Frame.FramePayload.data(.init(data: .byteBuffer(body)))), promise: nil)
        } else if isChunked {
            ChunkedBodyEncoder.writeChunk(body, allocator: context.channel.allocator) {
                context.write(NIOAny($0), promise: nil)
            }
        } else {
            context.write(NIOAny(body), promise: nil)
        }
    }

    /// Ends the proxied response and flushes; returns when it was written if `close` asks to know.
    mutating func writeEnd(close: Bool, context: ChannelHandlerContext) -> EventLoopFuture<Void>? {
        defer { isChunked = false }
        if isHTTP2Stream { return flushEnd(NIOAny(Self.http2End), close: close, context: context) }
        if isChunked { return flushEnd(NIOAny(ChunkedBodyEncoder.lastChunk), close: close, context: context) }
        // A length-delimited body needs no end marker: flush, or, to close after it, write nothing
        // (a shared empty buffer) just to learn when everything before it was written.
        if !close {
            context.flush()
            return nil
        }
        return context.writeAndFlush(NIOAny(ByteBuffer.noBytes))
    }

    /// An empty DATA frame ending the stream, folded into the frame before it by ``HTTP2EndStreamMerger``.
    private static let http2End = HTTP2Frame.FramePayload.data(.init(data: .byteBuffer(.noBytes), endStream: true))

    /// The HTTP/2 fields for the upstream's `response`: `:status`, the upstream's fields that pass
    /// to the client (see ``ForwardingPolicy/passesToClient(_:of:listed:framing:)``) with lower-case
    /// names, `x-request-id` and the rate-limit fields.
    static func http2Fields(
        _ response: UpstreamResponseHead,
        requestID: String,
        framing: ForwardingPolicy.ResponseFraming,
        rateLimit: (headers: RateLimitResponseHeaders, policy: RateLimitPolicyState)?
    ) -> HPACKHeaders {
        let listed = ForwardingPolicy.namesListedInConnection(response)
        var headers = HPACKHeaders()
        headers.reserveCapacity(response.head.fields.count + 6)
        headers.add(name: ":status", value: String(response.status))
        for field in response.head.fields
        where ForwardingPolicy.passesToClient(field, of: response, listed: listed, framing: framing) {
            headers.add(name: response.lowercasedText(field.name), value: response.text(field.value))
        }
        headers.add(name: "x-request-id", value: requestID)
        if let rateLimit {
            rateLimit.headers.forEachField(of: rateLimit.policy) { headers.add(name: $0.lowercased(), value: $1) }
        }
        return headers
    }

    private func flushEnd(_ end: NIOAny, close: Bool, context: ChannelHandlerContext) -> EventLoopFuture<Void>? {
        if close { return context.writeAndFlush(end) }
        context.writeAndFlush(end, promise: nil)
        return nil
    }
}
