import HTTP1Wire
import NIOCore
import NIOHPACK
import NIOHTTP1

/// A client's request head as the proxy reads it: method, target and version, and the fields either
/// as offsets into the bytes of an HTTP/1.1 head (no object per field), as an HTTP/2 stream's HPACK
/// header block, or as `HTTPHeaders` (tests).
struct ClientRequestHead {
    /// One field line of the head.
    enum Field {
        /// At these offsets of the head's bytes.
        case wire(HTTP1HeaderField)
        case pair(name: String, value: String)
    }

    private enum Fields {
        case wire([HTTP1HeaderField], bytes: ByteBuffer)
        case http2(HPACKHeaders, added: HTTP2AddedFields)
        case headers(HTTPHeaders)
    }

    /// What an HTTP/2 head yields before its own regular fields, as HTTP/1.1 needs them.
    private struct HTTP2AddedFields {
        /// `:authority` as a `Host` field: when the block has no `host`, or one that disagrees
        /// (then the request has two Hosts, which the forwarding policy refuses, RFC 9113 §8.3.1).
        var host: String?
        /// `Content-Length: 0` or `Transfer-Encoding: chunked` for a method with a body that sent no
        /// `content-length`, by whether HEADERS ended the stream.
        var framing: (name: String, value: String)?
        /// The `cookie` crumbs joined with "; " when there are several (RFC 9113 §8.2.3): HTTP/1.1
        /// allows one `Cookie` field, and servers read only one.
        var cookie: String?
    }

    /// The fields of an HTTP/2 request block that are not what HTTP/1.1 can carry.
    struct MalformedHTTP2Request: Error, CustomStringConvertible {
        var description: String { "an HTTP/2 request without :method, :scheme or :path" }
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

    /// A head from an HTTP/2 stream's first HEADERS frame, whose pseudo-fields swift-nio-http2 has
    /// checked; `endStream` when that frame ended the stream (no body).
    init(http2 block: HPACKHeaders, endStream: Bool) throws(MalformedHTTP2Request) {
        var method: String?
        var path: String?
        var hasScheme = false
        var authority: String?
        var hosts = 0
        var hostsAgree = true
        var hasContentLength = false
        var cookies = 0
        // One pass: pseudo-fields come first, so `:authority` is known before any `host`.
        for (name, value, _) in block {
            if name.utf8.first == UInt8(ascii: ":") {
                switch name {
                case ":method": method = value
                case ":path": path = value
                case ":scheme": hasScheme = true
                case ":authority": authority = value
                default: break
                }
            } else if name == "host" {
                hosts += 1
                if let authority, !Substring(value).caseInsensitiveEquals(authority.lowercased()) { hostsAgree = false }
            } else if name == "content-length" {
                hasContentLength = true
            } else if name == "cookie" {
                cookies += 1
            }
        }
        guard let method, let path, hasScheme else { throw MalformedHTTP2Request() }
        self.method = HTTPMethod(rawValue: method)
        uri = path
        version = HTTPVersion(major: 2, minor: 0)
        var added = HTTP2AddedFields()
        if let authority, hosts == 0 || !hostsAgree { added.host = authority }
        switch self.method {
        case .GET, .HEAD, .DELETE, .CONNECT, .TRACE:
            break
        default:
            if !hasContentLength {
                added.framing = endStream ? ("content-length", "0") : ("transfer-encoding", "chunked")
            }
        }
        if cookies > 1 { added.cookie = block["cookie"].joined(separator: "; ") }
        fields = .http2(block, added: added)
    }

    /// A head parsed from `bytes`.
    init(_ head: HTTP1RequestHead, bytes: ByteBuffer) {
        method = HTTPMethod(rawValue: bytes.string(at: head.method))
        uri = bytes.string(at: head.target)
        version = head.version == .http1_0 ? .http1_0 : .http1_1
        fields = .wire(head.fields, bytes: bytes)
    }

    /// Calls `body` with each field, in order.
    func forEachField(_ body: (Field) -> Void) {
        switch fields {
        case .wire(let list, _):
            for field in list { body(.wire(field)) }
        case .http2(let block, let added):
            if let host = added.host { body(.pair(name: "host", value: host)) }
            if let framing = added.framing { body(.pair(name: framing.name, value: framing.value)) }
            var cookieWritten = false
            for (name, value, _) in block where name.utf8.first != UInt8(ascii: ":") {
                if let cookie = added.cookie, name == "cookie" {
                    if !cookieWritten { body(.pair(name: name, value: cookie)) }
                    cookieWritten = true
                    continue
                }
                body(.pair(name: name, value: value))
            }
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
        case .http2(let block, _): block.reduce(0) { $0 + $1.name.utf8.count + $1.value.utf8.count + 4 } + 64
        case .headers(let headers): headers.reduce(0) { $0 + $1.name.utf8.count + $1.value.utf8.count + 4 }
        }
    }

    private func text(_ range: Range<Int>) -> String {
        guard case .wire(_, let bytes) = fields else { return "" }
        return bytes.string(at: range)
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
