import HTTP1Wire
import Limiter
import NIOCore
import NIOHTTP1

/// Writes responses to the client in the form its connection takes: bytes framed by the proxy on
/// HTTP/1.1 (``HTTP1ResponseBytes``), `HTTPServerResponsePart`s on an HTTP/2 stream.
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
            let head = HTTPResponseHead(version: .http1_1, status: .continue)
            context.writeAndFlush(NIOAny(HTTPServerResponsePart.head(head)), promise: nil)
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
            let head = response.head(bodyLength: body.readableBytes, requestID: requestID, close: false)
            context.write(NIOAny(HTTPServerResponsePart.head(head)), promise: nil)
            context.write(NIOAny(HTTPServerResponsePart.body(.byteBuffer(body))), promise: nil)
            return flushEnd(NIOAny(HTTPServerResponsePart.end(nil)), close: close, context: context)
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
            var head = policy.clientResponseHead(
                response,
                requestID: requestID,
                keepClientAlive: true,
                framing: framing
            )
            if let rateLimit { rateLimit.headers.add(rateLimit.policy, to: &head.headers) }
            context.write(NIOAny(HTTPServerResponsePart.head(head)), promise: nil)
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
            context.write(NIOAny(HTTPServerResponsePart.body(.byteBuffer(body))), promise: nil)
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
        if isHTTP2Stream { return flushEnd(NIOAny(HTTPServerResponsePart.end(nil)), close: close, context: context) }
        if isChunked { return flushEnd(NIOAny(ChunkedBodyEncoder.lastChunk), close: close, context: context) }
        // A length-delimited body needs no end marker: flush, or, to close after it, write nothing
        // (a shared empty buffer) just to learn when everything before it was written.
        if !close {
            context.flush()
            return nil
        }
        return context.writeAndFlush(NIOAny(ByteBuffer.noBytes))
    }

    private func flushEnd(_ end: NIOAny, close: Bool, context: ChannelHandlerContext) -> EventLoopFuture<Void>? {
        if close { return context.writeAndFlush(end) }
        context.writeAndFlush(end, promise: nil)
        return nil
    }
}
