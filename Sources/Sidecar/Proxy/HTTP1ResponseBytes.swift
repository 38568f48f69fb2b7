import HTTP1Wire
import Limiter
import NIOCore
import NIOHTTP1

/// Responses to an HTTP/1.1 client written as bytes: the proxy frames them itself, so the client
/// leg has no response encoder and no `HTTPHeaders` are built for a proxied response.
enum HTTP1ResponseBytes {
    static let continue100 = ByteBuffer(staticString: "HTTP/1.1 100 Continue\r\n\r\n")

    /// A local answer: head and body in one buffer; the body is left out for a HEAD request.
    static func local(
        _ response: LocalResponse,
        requestID: String,
        close: Bool,
        omitBody: Bool,
        allocator: ByteBufferAllocator
    ) -> ByteBuffer {
        let body = response.body(allocator: allocator)
        var bytes = allocator.buffer(capacity: body.readableBytes + 256)
        writeStatusLine(code: Int(response.status.code), reason: response.status.reasonPhrase, into: &bytes)
        response.forEachHeadField(bodyLength: body.readableBytes, requestID: requestID, close: close) {
            writeField($0, $1, into: &bytes)
        }
        bytes.writeStaticString("\r\n")
        if !omitBody { bytes.writeImmutableBuffer(body) }
        return bytes
    }

    /// The upstream's response head for the client: the upstream's field lines copied as bytes,
    /// less those `ForwardingPolicy.passesToClient` drops, then the sidecar's own fields.
    static func proxied(
        _ response: UpstreamResponseHead,
        requestID: String,
        keepClientAlive: Bool,
        framing: ForwardingPolicy.ResponseFraming,
        rateLimit: (headers: RateLimitResponseHeaders, policy: RateLimitPolicyState)?,
        allocator: ByteBufferAllocator
    ) -> ByteBuffer {
        let head = response.head
        let listed = ForwardingPolicy.namesListedInConnection(response)
        var bytes = allocator.buffer(capacity: response.bytes.readableBytes + 160)
        let reason =
            head.reason.isEmpty
            ? HTTPResponseStatus(statusCode: head.status).reasonPhrase : response.text(head.reason)
        writeStatusLine(code: head.status, reason: reason, into: &bytes)
        let base = response.bytes.readerIndex
        for field in head.fields
        where ForwardingPolicy.passesToClient(field, of: response, listed: listed, framing: framing) {
            var line = response.bytes.getSlice(at: base + field.line.lowerBound, length: field.line.count)!
            bytes.writeBuffer(&line)
            bytes.writeStaticString("\r\n")
        }
        writeField("X-Request-ID", requestID, into: &bytes)
        if let rateLimit {
            rateLimit.headers.write(rateLimit.policy, into: &bytes)
        }
        if framing == .chunked { bytes.writeStaticString("Transfer-Encoding: chunked\r\n") }
        if !keepClientAlive || framing == .untilClose { bytes.writeStaticString("Connection: close\r\n") }
        bytes.writeStaticString("\r\n")
        return bytes
    }

    /// Any head, field by field (the rare responses built as `HTTPResponseHead`, such as a `101`).
    static func head(_ head: HTTPResponseHead, allocator: ByteBufferAllocator) -> ByteBuffer {
        var bytes = allocator.buffer(capacity: 256)
        writeStatusLine(code: Int(head.status.code), reason: head.status.reasonPhrase, into: &bytes)
        for (name, value) in head.headers { writeField(name, value, into: &bytes) }
        bytes.writeStaticString("\r\n")
        return bytes
    }

    private static func writeStatusLine(code: Int, reason: String, into bytes: inout ByteBuffer) {
        bytes.writeStaticString("HTTP/1.1 ")
        bytes.writeString(String(code))
        bytes.writeStaticString(" ")
        bytes.writeString(reason)
        bytes.writeStaticString("\r\n")
    }

    private static func writeField(_ name: String, _ value: String, into bytes: inout ByteBuffer) {
        bytes.writeString(name)
        bytes.writeStaticString(": ")
        bytes.writeString(value)
        bytes.writeStaticString("\r\n")
    }
}
