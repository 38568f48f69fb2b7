import HTTP1Wire
import NIOCore
import NIOHTTP1

/// A client's request head as the proxy reads it: method, target and version, and the fields either
/// as offsets into the bytes of an HTTP/1.1 head (no object per field) or as an HTTP/2 stream's
/// `HTTPHeaders`.
struct ClientRequestHead {
    /// One field line of the head.
    enum Field {
        /// At these offsets of the head's bytes.
        case wire(HTTP1HeaderField)
        case pair(name: String, value: String)
    }

    private enum Fields {
        case wire([HTTP1HeaderField], bytes: ByteBuffer)
        case headers(HTTPHeaders)
    }

    var method: HTTPMethod
    /// The request target as sent (normalised by the forwarding policy before it goes upstream).
    var uri: String
    var version: HTTPVersion
    private var fields: Fields

    /// A head built as NIO objects (HTTP/2 streams, tests).
    init(_ head: HTTPRequestHead) {
        method = head.method
        uri = head.uri
        version = head.version
        fields = .headers(head.headers)
    }

    /// A head parsed from `bytes`.
    init(_ head: HTTP1RequestHead, bytes: ByteBuffer) {
        method = HTTPMethod(rawValue: Self.text(head.method, of: bytes))
        uri = Self.text(head.target, of: bytes)
        version = head.version == .http1_0 ? .http1_0 : .http1_1
        fields = .wire(head.fields, bytes: bytes)
    }

    /// Calls `body` with each field, in order.
    func forEachField(_ body: (Field) -> Void) {
        switch fields {
        case .wire(let list, _):
            for field in list { body(.wire(field)) }
        case .headers(let headers):
            for (name, value) in headers { body(.pair(name: name, value: value)) }
        }
    }

    /// What the proxy does with `field`, by its name.
    func kind(of field: Field) -> HeaderName {
        switch field {
        case .pair(let name, _):
            return HeaderName(name)
        case .wire(let field):
            switch field.kind {
            case .other: return .other
            case .host: return .host
            case .contentLength: return .contentLength
            case .transferEncoding: return .transferEncoding
            case .connection: return .connection
            case .keepAlive, .proxyConnection, .te, .trailer: return .hopByHop
            case .upgrade: return .upgrade
            case .expect: return .expect
            case .xForwardedFor: return .xForwardedFor
            case .xForwardedProto: return .xForwardedProto
            case .xForwardedHost: return .xForwardedHost
            case .xRequestID: return .xRequestID
            }
        }
    }

    func name(of field: Field) -> String {
        switch field {
        case .pair(let name, _): name
        case .wire(let field): text(field.name)
        }
    }

    func value(of field: Field) -> String {
        switch field {
        case .pair(_, let value): value
        case .wire(let field): text(field.value)
        }
    }

    /// Whether `field`'s name is `name`, ignoring ASCII case.
    func name(of field: Field, is name: String) -> Bool {
        switch field {
        case .pair(let own, _):
            return own.utf8.count == name.utf8.count
                && zip(own.utf8, name.utf8).allSatisfy { Self.folded($0) == Self.folded($1) }
        case .wire(let field):
            guard case .wire(_, let bytes) = fields, field.name.count == name.utf8.count else { return false }
            return bytes.withUnsafeReadableBytes { raw in
                var index = field.name.lowerBound
                for expected in name.utf8 {
                    if Self.folded(raw[index]) != Self.folded(expected) { return false }
                    index += 1
                }
                return true
            }
        }
    }

    @inline(__always)
    private static func folded(_ byte: UInt8) -> UInt8 {
        byte >= UInt8(ascii: "A") && byte <= UInt8(ascii: "Z") ? byte | 0x20 : byte
    }

    /// The value of the first field named `name` (any case), if any.
    func first(named name: String) -> String? {
        var found: String?
        forEachField { field in
            if found == nil, self.name(of: field, is: name) { found = value(of: field) }
        }
        return found
    }

    /// Writes `field` as a field line, `name: value` and CRLF; a parsed line is copied as it came.
    func write(_ field: Field, into buffer: inout ByteBuffer) {
        switch field {
        case .pair(let name, let value):
            buffer.writeString(name)
            buffer.writeStaticString(": ")
            buffer.writeString(value)
        case .wire(let field):
            guard case .wire(_, let bytes) = fields else { return }
            var line = bytes.getSlice(at: bytes.readerIndex + field.line.lowerBound, length: field.line.count)!
            buffer.writeBuffer(&line)
        }
        buffer.writeStaticString("\r\n")
    }

    /// The bytes the fields take, about (for sizing a buffer).
    var fieldBytes: Int {
        switch fields {
        case .wire(_, let bytes): bytes.readableBytes
        case .headers(let headers): headers.reduce(0) { $0 + $1.name.utf8.count + $1.value.utf8.count + 4 }
        }
    }

    /// The head as NIO objects (for the rare consumer that needs them, and tests).
    var nioHead: HTTPRequestHead {
        var headers = HTTPHeaders()
        forEachField { headers.add(name: name(of: $0), value: value(of: $0)) }
        return HTTPRequestHead(version: version, method: method, uri: uri, headers: headers)
    }

    private func text(_ range: Range<Int>) -> String {
        guard case .wire(_, let bytes) = fields else { return "" }
        return Self.text(range, of: bytes)
    }

    private static func text(_ range: Range<Int>, of bytes: ByteBuffer) -> String {
        bytes.getString(at: bytes.readerIndex + range.lowerBound, length: range.count) ?? ""
    }
}

/// A part of a client's request as the proxy handler receives it, from either HTTP version.
enum ProxyRequestPart {
    case head(ClientRequestHead)
    case body(ByteBuffer)
    case end

    var isHead: Bool {
        if case .head = self { return true }
        return false
    }
}

extension ProxyRequestPart: Equatable {
    static func == (lhs: ProxyRequestPart, rhs: ProxyRequestPart) -> Bool {
        switch (lhs, rhs) {
        case (.head(let a), .head(let b)): a.nioHead == b.nioHead
        case (.body(let a), .body(let b)): a == b
        case (.end, .end): true
        default: false
        }
    }
}

/// Hands an HTTP/2 stream's parts (from NIO's HTTP/1 translation) to the proxy handler as
/// ``ProxyRequestPart``s.
final class HTTP2RequestPartAdapter: ChannelInboundHandler, RemovableChannelHandler {
    typealias InboundIn = HTTPServerRequestPart
    typealias InboundOut = ProxyRequestPart

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        let part: ProxyRequestPart
        switch unwrapInboundIn(data) {
        case .head(let head): part = .head(ClientRequestHead(head))
        case .body(let body): part = .body(body)
        case .end: part = .end
        }
        context.fireChannelRead(wrapInboundOut(part))
    }
}
