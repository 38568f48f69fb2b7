import HTTP1Wire
import Limiter
import NIOCore
import NIOHTTP1

/// How a client's request head becomes the upstream's, and the upstream's response head the client's.
///
/// Hop-by-hop headers (RFC 9110 §7.6.1) and those named in `Connection` are removed both ways.
/// `X-Forwarded-For` gains the peer; existing entries are kept only when the peer is a trusted proxy.
struct ForwardingPolicy: Sendable {
    /// Networks whose forwarding headers are believed.
    var trustedProxies: TrustedProxies
    /// `http` or `https`, as the client reached the sidecar.
    var scheme: String
    /// Brings every request target to the form the gateway routes and the rules match.
    var targets = RequestTargetNormalizer()
    /// How `by ip` groups IPv6 clients (`SIDECAR_IPV6_PREFIX`).
    var ipv6PrefixLength = ClientAddress.defaultIPv6PrefixLength

    /// What the proxy learned while rewriting a request head.
    ///
    /// The upstream's head is not built as `HTTPHeaders`: ``forEachUpstreamField(_:)`` walks the
    /// client's fields, skipping those that do not go upstream, then yields the sidecar's own.
    struct ForwardedRequest {
        /// The client's head, with its target normalised.
        var head: ClientRequestHead
        /// Names the client's `Connection` lists besides its options, lower-cased: not forwarded.
        var listedInConnection: [String] = []
        /// The `X-Forwarded-For` sent upstream; `nil` without a peer address.
        var forwardedFor: String?
        var forwardedProto: String = "http"
        var forwardedHost: String?
        /// The `X-Request-ID` sent upstream and echoed to the client.
        var requestID: String
        /// The client's address after the trusted-proxy walk, parsed; `nil` without a peer address.
        var clientAddress: ClientAddress?
        /// The request's host without port, lower-cased.
        var host: String?
        /// Whether the client asked for `100 Continue` before sending its body.
        var expectsContinue: Bool
        /// Whether the client wants the connection kept open after the response.
        var keepAlive: Bool
        /// Whether a body follows the head.
        var hasBody: Bool
        /// The declared body length, if any.
        var contentLength: Int?
        /// Whether the client asks to switch to WebSocket (`Upgrade: websocket`, HTTP/1.1 only).
        var upgradesToWebSocket = false
        /// The normalised target; `nil` when the request is refused.
        var target: RequestTarget?
        /// Why the request must be answered 400 instead of forwarded, if it must.
        var refusal: LocalResponse?

        /// Whether the body goes upstream chunked.
        var isChunked: Bool { hasBody && contentLength == nil }

        /// Calls `client` with each of the client's fields that goes upstream, then `added` with each
        /// field the sidecar adds, in order.
        func forEachUpstreamField(
            client: (ClientRequestHead.Field) -> Void,
            added: (String, String) -> Void
        ) {
            head.forEachField { field in
                switch head.kind(of: field) {
                case .connection, .transferEncoding, .upgrade, .hopByHop, .xForwardedFor, .xForwardedProto,
                    .xForwardedHost, .xRequestID:
                    return
                case .expect:
                    let value = head.value(of: field)
                    if value.utf8.count == 12, Substring(value).caseInsensitiveEquals("100-continue") { return }
                case .contentLength:
                    if isChunked { return }
                case .host, .other:
                    break
                }
                if !listedInConnection.isEmpty, listedInConnection.contains(where: { head.name(of: field, is: $0) }) {
                    return
                }
                client(field)
            }
            if let forwardedFor { added("X-Forwarded-For", forwardedFor) }
            added("X-Forwarded-Proto", forwardedProto)
            if let forwardedHost { added("X-Forwarded-Host", forwardedHost) }
            added("X-Request-ID", requestID)
            // WebSocket is the one upgrade passed on: the upstream answers 101 and both sides are joined.
            if upgradesToWebSocket {
                added("Connection", "Upgrade")
                added("Upgrade", "websocket")
            }
            if isChunked { added("Transfer-Encoding", "chunked") }
        }

        /// The upstream's head fields, built as `HTTPHeaders` (for tests and diagnostics).
        var upstreamHeaders: HTTPHeaders {
            var headers = HTTPHeaders()
            forEachUpstreamField(
                client: { headers.add(name: head.name(of: $0), value: head.value(of: $0)) },
                added: { headers.add(name: $0, value: $1) }
            )
            return headers
        }
    }

    /// A connection's peer, parsed once per connection rather than once per request.
    struct Peer {
        /// The IP address as NIO writes it, for `X-Forwarded-For`.
        var text: String
        var address: IPAddress?
        /// Whether the peer is a trusted proxy, whose `X-Forwarded-*` headers are believed.
        var isTrusted: Bool
    }

    /// `text` (the connection's IP address as NIO writes it) parsed and checked against the trusted proxies.
    func peer(_ text: String) -> Peer {
        let address = IPAddress(parsing: text)
        return Peer(text: text, address: address, isTrusted: address.map { trustedProxies.isTrusted($0) } ?? false)
    }

    /// Rewrites `head` for the upstream. `peer` is the connection's IP address as text (`nil` for a Unix socket).
    func forwardRequest(_ head: HTTPRequestHead, peer: String?, requestIDGenerator: () -> String) -> ForwardedRequest {
        forwardRequest(ClientRequestHead(head), peer: peer.map(self.peer), requestIDGenerator: requestIDGenerator)
    }

    /// Rewrites `head` for the upstream. `peer` is `nil` for a Unix socket.
    func forwardRequest(_ head: ClientRequestHead, peer: Peer?, requestIDGenerator: () -> String) -> ForwardedRequest {
        var connection = ConnectionOptions()
        var forwardedFor: [String] = []
        var requestID: String?
        var hostHeader: String?
        var hostCount = 0
        var forwardedProto: String?
        var forwardedHost: String?
        var expectsContinue = false
        var isChunked = false
        var contentLength: Int?
        var upgradeValue: String?
        // HTTP/1's parser has refused every byte HTTP/1.1 cannot carry; HPACK carries any byte.
        let checksFieldBytes = head.version.major == 2
        var unsendableField: String?
        var transferCodings: [String] = []

        head.forEachField { field in
            if checksFieldBytes, unsendableField == nil {
                let name = head.name(of: field)
                if !Self.isSendableField(name: name, value: head.value(of: field)) { unsendableField = name }
            }
            let kind = head.kind(of: field)
            // Only the fields the proxy acts on are read as text.
            if kind == .other || kind == .hopByHop { return }
            let value = head.value(of: field)
            switch kind {
            case .connection:
                connection.add(value)
            case .transferEncoding:
                isChunked = true
                transferCodings.append(value)
            case .upgrade:
                upgradeValue = upgradeValue ?? value
            case .expect:
                if value.utf8.count == 12, Substring(value).caseInsensitiveEquals("100-continue") {
                    expectsContinue = true
                }
            case .xForwardedFor:
                forwardedFor.append(value)
            case .xForwardedProto:
                forwardedProto = forwardedProto ?? value
            case .xForwardedHost:
                forwardedHost = forwardedHost ?? value
            case .xRequestID:
                if requestID == nil, Self.isAcceptableRequestID(value) { requestID = value }
            case .host:
                hostCount += 1
                hostHeader = hostHeader ?? value
            case .contentLength:
                contentLength = Int(value)
            case .hopByHop, .other:
                break
            }
        }

        // Addresses are compared parsed, never as text: the peer as NIO writes it, each hop as sent.
        let peerAddress = peer?.address
        let peerTrusted = peer?.isTrusted ?? false
        var clientAddress = peerAddress.map { ClientAddress($0, ipv6PrefixLength: ipv6PrefixLength) }
        var upstreamForwardedFor: String?
        if let peer {
            if peerTrusted, let peerAddress, !forwardedFor.isEmpty {
                let client = trustedProxies.clientAddress(peer: peerAddress, forwardedFor: forwardedFor)
                clientAddress = ClientAddress(client, ipv6PrefixLength: ipv6PrefixLength)
                upstreamForwardedFor = forwardedFor.joined(separator: ", ") + ", " + peer.text
            } else {
                upstreamForwardedFor = peer.text
            }
        }
        let id = requestID ?? requestIDGenerator()
        let upgradesToWebSocket =
            connection.upgrade && head.version == .http1_1 && !isChunked && (contentLength ?? 0) == 0
            && upgradeValue.map { Substring($0).trimmingSpaces().caseInsensitiveEquals("websocket") } == true
        if isChunked { contentLength = nil }

        var forwarded = head
        let keepAlive = head.version.major == 1 && head.version.minor == 0 ? connection.keepAlive : !connection.close
        var target: RequestTarget?
        var refusal: LocalResponse?
        do throws(RequestTargetError) {
            let normalized = try targets.normalize(
                head.uri,
                method: head.method.rawValue,
                allowsAbsoluteForm: head.version.major == 1
            )
            if !transferCodings.isEmpty,
                let problem = Self.transferCodingProblem(transferCodings, version: head.version)
            {
                refusal = problem
            } else if let unsendableField {
                refusal = LocalResponse(
                    status: .badRequest,
                    detail: "The header field \"\(Self.printable(unsendableField))\" has a name or value "
                        + "HTTP/1.1 cannot carry (a control character, or a name that is not a token)."
                )
            } else if let problem = Self.hostProblem(
                count: hostCount,
                value: hostHeader,
                target: normalized,
                version: head.version
            ) {
                refusal = LocalResponse(status: .badRequest, detail: problem)
            } else {
                target = normalized
                if normalized.target != head.uri { forwarded.uri = normalized.target }
            }
        } catch {
            refusal = LocalResponse(status: .badRequest, detail: error.description)
        }
        return ForwardedRequest(
            head: forwarded,
            listedInConnection: connection.otherTokens.map { $0.lowercased() },
            forwardedFor: upstreamForwardedFor,
            forwardedProto: peerTrusted ? (forwardedProto ?? scheme) : scheme,
            forwardedHost: peerTrusted ? (forwardedHost ?? hostHeader) : hostHeader,
            requestID: id,
            clientAddress: clientAddress,
            host: hostHeader.map(Self.hostWithoutPort),
            expectsContinue: expectsContinue,
            keepAlive: keepAlive,
            hasBody: isChunked || (contentLength ?? 0) > 0,
            contentLength: contentLength,
            upgradesToWebSocket: upgradesToWebSocket,
            target: target,
            refusal: refusal
        )
    }

    /// Why a request's `Transfer-Encoding` cannot be forwarded faithfully, if it cannot (RFC 9112
    /// §6.1): in HTTP/1.0 it makes the framing faulty (400); the only coding accepted is one
    /// `chunked`, alone (others are 501, as the sidecar re-frames bodies as chunked); an empty
    /// value or list element, or `chunked` twice, is malformed (400).
    static func transferCodingProblem(_ values: [String], version: HTTPVersion) -> LocalResponse? {
        if version.major == 1 && version.minor == 0 {
            return LocalResponse(
                status: .badRequest,
                detail: "An HTTP/1.0 request cannot use Transfer-Encoding (RFC 9112 §6.1)."
            )
        }
        var chunked = 0
        for value in values {
            for element in value.split(separator: ",", omittingEmptySubsequences: false) {
                let coding = element.trimmingSpaces()
                if coding.isEmpty || coding.caseInsensitiveEquals("chunked") {
                    chunked += 1
                    if coding.isEmpty || chunked > 1 {
                        return LocalResponse(
                            status: .badRequest,
                            detail: "The request's Transfer-Encoding is malformed: empty, or chunked more than once."
                        )
                    }
                } else {
                    return LocalResponse(
                        status: .notImplemented,
                        detail: "The request's transfer coding \"\(printable(String(coding)))\" is not "
                            + "supported; only chunked is."
                    )
                }
            }
        }
        return nil
    }

    /// Whether HTTP/1.1 can carry a field (RFC 9110 §5.1, §5.5): a token name, and a value without
    /// control characters other than horizontal tab.
    static func isSendableField(name: String, value: String) -> Bool {
        !name.utf8.isEmpty && name.utf8.allSatisfy(isTokenCharacter)
            && value.utf8.allSatisfy { $0 == UInt8(ascii: "\t") || ($0 >= 0x20 && $0 != 0x7F) }
    }

    /// `tchar` of RFC 9110 §5.6.2.
    static func isTokenCharacter(_ byte: UInt8) -> Bool {
        switch byte {
        case UInt8(ascii: "a")...UInt8(ascii: "z"), UInt8(ascii: "A")...UInt8(ascii: "Z"),
            UInt8(ascii: "0")...UInt8(ascii: "9"):
            true
        default:
            "!#$%&'*+-.^_`|~".utf8.contains(byte)
        }
    }

    /// `text` with control characters and non-ASCII bytes escaped, for an error message.
    static func printable(_ text: String) -> String {
        var result = ""
        for byte in text.utf8.prefix(64) {
            if byte >= 0x20 && byte < 0x7F && byte != UInt8(ascii: "\"") && byte != UInt8(ascii: "\\") {
                result.unicodeScalars.append(Unicode.Scalar(byte))
            } else {
                result += "\\x" + String(byte, radix: 16, uppercase: true).leftPadded(to: 2)
            }
        }
        return result
    }

    /// Why the `Host` headers of a request are refused (RFC 9112 §3.2, RFC 9113 §8.3.1), if they are.
    ///
    /// HTTP/1.1 and HTTP/2 need exactly one `Host` (HTTP/2's `:authority` arrives as one; a `host`
    /// that disagrees with it arrives as a second); HTTP/1.0 at most one. The value must be a
    /// valid `host[:port]`, and agree with the authority of an absolute-form target.
    static func hostProblem(count: Int, value: String?, target: RequestTarget, version: HTTPVersion) -> String? {
        if count > 1 { return "The request has more than one Host header, or a host that disagrees with :authority." }
        guard let value else {
            if version.major == 1 && version.minor == 0 { return nil }
            return "The request has no Host header, which HTTP/1.1 requires."
        }
        guard isValidAuthority(value) else { return "The request's Host header is not a valid host[:port]." }
        if let authority = target.authority {
            let defaultPort = target.scheme == "https" ? "443" : "80"
            guard
                authorityKey(authority, defaultPort: defaultPort)
                    == authorityKey(Substring(value), defaultPort: defaultPort)
            else {
                return "The request's Host header disagrees with the host of its absolute-form target."
            }
        }
        return nil
    }

    /// `host[:port]` (RFC 3986 §3.2.2) or empty: a reg-name, IPv4 or bracketed IPv6 host and digits.
    static func isValidAuthority(_ value: String) -> Bool {
        var bytes = Substring(value).utf8[...]
        if bytes.first == UInt8(ascii: "[") {
            guard let close = bytes.firstIndex(of: UInt8(ascii: "]")) else { return false }
            let literal = bytes[bytes.index(after: bytes.startIndex)..<close]
            guard !literal.isEmpty,
                literal.allSatisfy({ RequestTargetNormalizer.isUnreserved($0) || $0 == UInt8(ascii: ":") })
            else { return false }
            bytes = bytes[bytes.index(after: close)...]
            guard bytes.isEmpty || bytes.first == UInt8(ascii: ":") else { return false }
        } else {
            let end = bytes.firstIndex(of: UInt8(ascii: ":")) ?? bytes.endIndex
            let host = bytes[..<end]
            guard
                host.allSatisfy({ byte in
                    RequestTargetNormalizer.isPathCharacter(byte) && byte != UInt8(ascii: "/")
                        && byte != UInt8(ascii: ":") && byte != UInt8(ascii: "@")
                })
            else { return false }
            bytes = bytes[end...]
        }
        if bytes.first == UInt8(ascii: ":") {
            let port = bytes.dropFirst()
            return port.count <= 5 && port.allSatisfy { $0 >= UInt8(ascii: "0") && $0 <= UInt8(ascii: "9") }
        }
        return bytes.isEmpty
    }

    /// An authority lower-cased with its port made explicit, for comparing two spellings.
    static func authorityKey(_ authority: Substring, defaultPort: String) -> String {
        let text = authority.lowercased()
        let host = hostWithoutPort(text)
        var port = defaultPort
        if let colon = text.lastIndex(of: ":"), !text[colon...].contains("]") {
            let digits = text[text.index(after: colon)...]
            if !digits.isEmpty { port = String(digits) }
        }
        return host + ":" + port
    }

    /// How a response body is delimited for the client; the sidecar sets this itself, since NIO's
    /// encoder does not (`automaticallySetFramingHeaders` is off).
    enum ResponseFraming: Equatable {
        /// No body: a 1xx, 204 or 304 status. Neither length nor coding is sent.
        case noBody
        /// The upstream's `Content-Length` (or, for a response to HEAD, what it advertised) passes on.
        case asSent
        /// `Transfer-Encoding: chunked`, to an HTTP/1.1 client.
        case chunked
        /// The body ends when the connection closes: an HTTP/1.0 client cannot read chunked.
        case untilClose
    }

    /// The framing of a response to `method` with `status`, for a client speaking `clientVersion`.
    static func responseFraming(
        status: HTTPResponseStatus,
        hasContentLength: Bool,
        method: HTTPMethod,
        clientVersion: HTTPVersion
    ) -> ResponseFraming {
        if !status.mayHaveResponseBody { return .noBody }
        if hasContentLength || method == .HEAD || clientVersion.major == 2 { return .asSent }
        return clientVersion.minor >= 1 ? .chunked : .untilClose
    }

    /// The head the client gets for the upstream's `response`, framed as `framing` says: hop-by-hop
    /// fields and those the upstream's `Connection` lists dropped, `X-Request-ID` set, and
    /// `Connection: close` when the client connection ends after it.
    func clientResponseHead(
        _ response: UpstreamResponseHead,
        requestID: String,
        keepClientAlive: Bool,
        framing: ResponseFraming
    ) -> HTTPResponseHead {
        let head = response.head
        let listed = Self.namesListedInConnection(response)
        var headers = HTTPHeaders()
        headers.reserveCapacity(head.fields.count + 3)
        for field in head.fields where Self.passesToClient(field, of: response, listed: listed, framing: framing) {
            headers.add(name: response.text(field.name), value: response.text(field.value))
        }
        headers.add(name: "X-Request-ID", value: requestID)
        if framing == .chunked { headers.add(name: "Transfer-Encoding", value: "chunked") }
        if !keepClientAlive || framing == .untilClose { headers.add(name: "Connection", value: "close") }
        let reason = response.text(head.reason)
        let status = HTTPResponseStatus(statusCode: head.status, reasonPhrase: reason)
        return HTTPResponseHead(version: .http1_1, status: status, headers: headers)
    }

    /// The field names the upstream's `Connection` lists besides its own options, lower-cased:
    /// hop-by-hop, so not passed on.
    static func namesListedInConnection(_ response: UpstreamResponseHead) -> [String] {
        guard response.head.facts.connection.contains(.other) else { return [] }
        var listed: [String] = []
        for field in response.head.fields where field.kind == .connection {
            var options = ConnectionOptions()
            options.add(response.text(field.value))
            listed += options.otherTokens.map { $0.lowercased() }
        }
        return listed
    }

    /// Whether the client gets this field of the upstream's response: not when hop-by-hop, listed
    /// in `Connection`, the upstream's `X-Request-ID` (the sidecar sets its own), or a length on a
    /// response without a body.
    static func passesToClient(
        _ field: HTTP1HeaderField,
        of response: UpstreamResponseHead,
        listed: [String],
        framing: ResponseFraming
    ) -> Bool {
        switch field.kind {
        case .connection, .keepAlive, .proxyConnection, .te, .transferEncoding, .upgrade, .xRequestID:
            return false
        case .contentLength:
            return framing != .noBody
        default:
            return listed.isEmpty || !listed.contains(response.text(field.name).lowercased())
        }
    }

    /// The upstream's head for `request` as bytes: the request line with `HTTP/1.1`, then the fields
    /// ``ForwardedRequest/forEachUpstreamField(_:)`` yields.
    static func serialize(_ request: ForwardedRequest, allocator: ByteBufferAllocator) -> ByteBuffer {
        let head = request.head
        // The client's fields plus room for the sidecar's own; the buffer grows if that is short.
        var buffer = allocator.buffer(
            capacity: head.method.rawValue.utf8.count + head.uri.utf8.count + head.fieldBytes + 200
        )
        buffer.writeString(head.method.rawValue)
        buffer.writeStaticString(" ")
        buffer.writeString(head.uri)
        buffer.writeStaticString(" HTTP/1.1\r\n")
        request.forEachUpstreamField(
            client: { head.write($0, into: &buffer) },
            added: { name, value in
                buffer.writeString(name)
                buffer.writeStaticString(": ")
                buffer.writeString(value)
                buffer.writeStaticString("\r\n")
            }
        )
        buffer.writeStaticString("\r\n")
        return buffer
    }

    /// Whether a client's `X-Request-ID` is short visible ASCII, safe to pass on and log.
    static func isAcceptableRequestID(_ value: String) -> Bool {
        let bytes = value.utf8
        return !bytes.isEmpty && bytes.count <= 200
            && bytes.allSatisfy { $0 > 0x20 && $0 < 0x7F && $0 != UInt8(ascii: "\"") }
    }

    /// `host[:port]` or `[v6]:port` without the port, lower-cased.
    static func hostWithoutPort(_ host: String) -> String {
        var text = Substring(host)
        if text.first == "[" {
            if let end = text.firstIndex(of: "]") { text = text[text.index(after: text.startIndex)..<end] }
        } else if let colon = text.lastIndex(of: ":"), text.firstIndex(of: ":") == colon {
            text = text[..<colon]
        }
        // Most hosts arrive lower-case: then no case mapping, and no new string when nothing was cut.
        if !text.utf8.contains(where: { $0 >= UInt8(ascii: "A") && $0 <= UInt8(ascii: "Z") || $0 >= 0x80 }) {
            return text.utf8.count == host.utf8.count ? host : String(text)
        }
        return text.lowercased()
    }
}

/// The options of `Connection` headers: `close`, `keep-alive`, `upgrade`, and the header names to drop.
struct ConnectionOptions {
    var close = false
    var keepAlive = false
    var upgrade = false
    /// Other tokens: names of further hop-by-hop headers (RFC 9110 §7.6.1).
    var otherTokens: [Substring] = []

    mutating func add(_ value: String) {
        // Scanned in place: a `split` would allocate an array per header.
        var rest = Substring(value)
        while !rest.isEmpty {
            let comma = rest.firstIndex(of: ",") ?? rest.endIndex
            let token = rest[..<comma].trimmingSpaces()
            rest = comma == rest.endIndex ? rest[comma...] : rest[rest.index(after: comma)...]
            if token.caseInsensitiveEquals("close") {
                close = true
            } else if token.caseInsensitiveEquals("keep-alive") {
                keepAlive = true
            } else if token.caseInsensitiveEquals("upgrade") {
                upgrade = true
            } else if !token.isEmpty {
                otherTokens.append(token)
            }
        }
    }
}

/// The header names the forwarding policy treats specially, classified without allocating.
enum HeaderName {
    case connection, transferEncoding, upgrade, hopByHop, expect, xForwardedFor, xForwardedProto, xForwardedHost
    case xRequestID, host, contentLength, other

    init(_ name: String) {
        var name = name
        self = name.withUTF8 { bytes in
            switch bytes.count {
            case 2 where bytes.equalsIgnoringCase("te"): .hopByHop
            case 4 where bytes.equalsIgnoringCase("host"): .host
            case 6 where bytes.equalsIgnoringCase("expect"): .expect
            case 7 where bytes.equalsIgnoringCase("upgrade"): .upgrade
            case 7 where bytes.equalsIgnoringCase("trailer"): .hopByHop
            case 10 where bytes.equalsIgnoringCase("connection"): .connection
            case 10 where bytes.equalsIgnoringCase("keep-alive"): .hopByHop
            case 12 where bytes.equalsIgnoringCase("x-request-id"): .xRequestID
            case 14 where bytes.equalsIgnoringCase("content-length"): .contentLength
            case 15 where bytes.equalsIgnoringCase("x-forwarded-for"): .xForwardedFor
            case 16 where bytes.equalsIgnoringCase("proxy-connection"): .hopByHop
            case 16 where bytes.equalsIgnoringCase("x-forwarded-host"): .xForwardedHost
            case 17 where bytes.equalsIgnoringCase("transfer-encoding"): .transferEncoding
            case 17 where bytes.equalsIgnoringCase("x-forwarded-proto"): .xForwardedProto
            default: .other
            }
        }
    }
}

extension UnsafeBufferPointer<UInt8> {
    /// Compares with a lower-case ASCII literal, ignoring the case of `self`.
    @inline(__always)
    func equalsIgnoringCase(_ lowercase: StaticString) -> Bool {
        guard count == lowercase.utf8CodeUnitCount else { return false }
        let other = lowercase.utf8Start
        for index in 0..<count {
            var byte = self[index]
            if byte >= UInt8(ascii: "A") && byte <= UInt8(ascii: "Z") { byte |= 0x20 }
            if byte != other[index] { return false }
        }
        return true
    }
}

extension String {
    fileprivate func leftPadded(to width: Int) -> String {
        String(repeating: "0", count: Swift.max(0, width - count)) + self
    }
}

extension Substring {
    func caseInsensitiveEquals(_ lowercase: String) -> Bool {
        guard utf8.count == lowercase.utf8.count else { return false }
        return zip(utf8, lowercase.utf8).allSatisfy { a, b in
            (a >= UInt8(ascii: "A") && a <= UInt8(ascii: "Z") ? a | 0x20 : a) == b
        }
    }
}
