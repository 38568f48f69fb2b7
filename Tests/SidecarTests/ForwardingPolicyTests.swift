import HTTP1Wire
import Limiter
import NIOCore
import NIOHTTP1
import Testing

@testable import Sidecar

@Suite("ForwardingPolicy")
struct ForwardingPolicyTests {
    let policy = ForwardingPolicy(trustedProxies: TrustedProxies([]), scheme: "https")

    private func forward(
        _ headers: [(String, String)],
        version: HTTPVersion = .http1_1,
        peer: String? = "10.1.2.3"
    )
        -> ForwardingPolicy.ForwardedRequest
    {
        let head = HTTPRequestHead(version: version, method: .POST, uri: "/jobs?x=1", headers: HTTPHeaders(headers))
        return policy.forwardRequest(head, peer: peer, requestIDGenerator: { "generated" })
    }

    @Test func theUpstreamHeadIsWrittenAsOneBuffer() {
        let forwarded = forward(
            [("Host", "api.example"), ("Connection", "x-drop"), ("X-Drop", "1"), ("Content-Length", "2")],
            version: .http1_0
        )
        let bytes = ForwardingPolicy.serialize(forwarded, allocator: ByteBufferAllocator())
        #expect(
            String(buffer: bytes)
                == "POST /jobs?x=1 HTTP/1.1\r\nHost: api.example\r\nContent-Length: 2\r\n"
                + "X-Forwarded-For: 10.1.2.3\r\nX-Forwarded-Proto: https\r\nX-Forwarded-Host: api.example\r\n"
                + "X-Request-ID: generated\r\n\r\n"
        )
    }

    @Test func removesHopByHopAndConnectionNamedHeaders() {
        let forwarded = forward([
            ("Host", "api.example:8443"), ("Connection", "close, X-Drop"), ("X-Drop", "1"), ("Keep-Alive", "5"),
            ("Upgrade", "h2c"), ("TE", "trailers"), ("Trailer", "X-T"), ("Proxy-Connection", "x"), ("X-Keep", "1"),
        ])
        let names = Set(forwarded.upstreamHeaders.map { $0.name.lowercased() })
        #expect(
            names.isDisjoint(with: [
                "connection", "x-drop", "keep-alive", "upgrade", "te", "trailer", "proxy-connection",
            ])
        )
        #expect(forwarded.upstreamHeaders["x-keep"] == ["1"])
        #expect(!forwarded.keepAlive)
        #expect(forwarded.host == "api.example")
    }

    @Test func setsForwardingHeadersFromThePeer() {
        let forwarded = forward([
            ("Host", "api.example"), ("X-Forwarded-For", "1.1.1.1"), ("X-Forwarded-Proto", "http"),
        ])
        #expect(forwarded.upstreamHeaders["x-forwarded-for"] == ["10.1.2.3"])
        #expect(forwarded.upstreamHeaders["x-forwarded-proto"] == ["https"])
        #expect(forwarded.upstreamHeaders["x-forwarded-host"] == ["api.example"])
        #expect(forwarded.upstreamHeaders["x-request-id"] == ["generated"])
        #expect(forwarded.clientAddress?.description == "10.1.2.3")
    }

    // MARK: The client address

    private func client(
        peer: String?,
        forwardedFor: [String],
        trusting trusted: [String] = ["10.0.0.0/8", "fd00::/8"],
        ipv6PrefixLength: Int = 64
    ) -> ForwardingPolicy.ForwardedRequest {
        let policy = ForwardingPolicy(
            trustedProxies: TrustedProxies(trusted.map { IPNetwork(parsing: $0)! }),
            scheme: "https",
            ipv6PrefixLength: ipv6PrefixLength
        )
        let head = HTTPRequestHead(
            version: .http1_1,
            method: .GET,
            uri: "/",
            headers: HTTPHeaders(forwardedFor.map { ("X-Forwarded-For", $0) })
        )
        return policy.forwardRequest(head, peer: peer, requestIDGenerator: { "id" })
    }

    @Test func theWalkReadsPortsAndBracketsAndComparesParsedAddresses() {
        #expect(
            client(peer: "10.0.0.1", forwardedFor: ["203.0.113.7:5678"]).clientAddress?.description == "203.0.113.7"
        )
        #expect(
            client(peer: "10.0.0.1", forwardedFor: ["[2001:db8::1]:443"]).clientAddress?.description == "2001:db8::1"
        )
        #expect(client(peer: "10.0.0.1", forwardedFor: ["[2001:db8::1]"]).clientAddress?.description == "2001:db8::1")
        // The peer as a dual-stack socket reports it, IPv4-mapped, is still the trusted 10.0.0.1.
        #expect(
            client(peer: "::ffff:10.0.0.1", forwardedFor: ["203.0.113.7, 10.0.0.2:80"]).clientAddress?.description
                == "203.0.113.7"
        )
        // An untrusted peer is the client whatever it forwards, folded to IPv4.
        #expect(
            client(peer: "::ffff:198.51.100.4", forwardedFor: ["203.0.113.7"]).clientAddress?.description
                == "198.51.100.4"
        )
    }

    @Test func garbageStopsTheWalkAtTheTrustedProxyThatForwardedIt() {
        let forwarded = client(peer: "10.0.0.1", forwardedFor: ["203.0.113.7, unknown, 10.0.0.2"])
        #expect(forwarded.clientAddress?.description == "10.0.0.2")
        #expect(
            client(peer: "10.0.0.1", forwardedFor: ["203.0.113.7, 1.2.3.4:99999"]).clientAddress?.description
                == "10.0.0.1"
        )
    }

    @Test func theForwardedHeaderKeepsTheTextAndAddsThePeer() {
        let forwarded = client(peer: "10.0.0.1", forwardedFor: ["203.0.113.7:5678", "[2001:db8::1]"])
        #expect(forwarded.upstreamHeaders["x-forwarded-for"] == ["203.0.113.7:5678, [2001:db8::1], 10.0.0.1"])
        let untrusted = client(peer: "198.51.100.4", forwardedFor: ["203.0.113.7"])
        #expect(untrusted.upstreamHeaders["x-forwarded-for"] == ["198.51.100.4"])
    }

    @Test func theClientCarriesTheIPv6PrefixForByIP() {
        let per64 = client(peer: "2001:db8:1:2::99", forwardedFor: [])
        #expect(per64.clientAddress?.keyText == "2001:db8:1:2::/64")
        #expect(per64.clientAddress?.description == "2001:db8:1:2::99")
        let per56 = client(peer: "2001:db8:1:2::99", forwardedFor: [], ipv6PrefixLength: 56)
        #expect(per56.clientAddress?.keyText == "2001:db8:1::/56")
        let perAddress = client(peer: "2001:db8:1:2::99", forwardedFor: [], ipv6PrefixLength: 128)
        #expect(perAddress.clientAddress?.keyText == "2001:db8:1:2::99")
    }

    @Test func noPeerAddressIsAnUnknownClient() {
        #expect(client(peer: nil, forwardedFor: ["203.0.113.7"]).clientAddress == nil)
    }

    @Test func normalisesChunkedFramingAndExpect() {
        let forwarded = forward([("Transfer-Encoding", "chunked"), ("Expect", "100-continue")])
        #expect(forwarded.upstreamHeaders["transfer-encoding"] == ["chunked"])
        #expect(forwarded.upstreamHeaders["expect"].isEmpty)
        #expect(forwarded.expectsContinue)
        #expect(forwarded.hasBody)
    }

    @Test func http10KeepsAliveOnlyWhenAsked() {
        #expect(!forward([], version: .http1_0).keepAlive)
        #expect(forward([("Connection", "keep-alive")], version: .http1_0).keepAlive)
        #expect(forward([]).keepAlive)
    }

    @Test func rejectsUnsafeRequestIDs() {
        #expect(forward([("X-Request-ID", "ok-1")]).requestID == "ok-1")
        #expect(forward([("X-Request-ID", "has space")]).requestID == "generated")
        #expect(forward([("X-Request-ID", String(repeating: "a", count: 201))]).requestID == "generated")
    }

    /// An upstream response head as the upstream connection parses it.
    private func upstream(_ text: String) throws -> UpstreamResponseHead {
        var parser = HTTP1ResponseHeadParser()
        let bytes = ByteBuffer(string: text)
        guard case .head(let head) = parser.parse(bytes) else { throw ParseFailed() }
        return UpstreamResponseHead(head: head, bytes: bytes)
    }

    private struct ParseFailed: Error {}

    @Test func responseLosesHopByHopAndGainsRequestID() throws {
        let response = try upstream(
            "HTTP/1.1 201 Made\r\nConnection: X-Up, keep-alive\r\nX-Up: 1\r\nTransfer-Encoding: chunked\r\n"
                + "X-Request-ID: up\r\nKeep-Alive: timeout=5\r\nX-Kept: a b\r\nx-up: 2\r\n\r\n"
        )
        let head = policy.clientResponseHead(response, requestID: "mine", keepClientAlive: false, framing: .chunked)
        #expect(head.status == .created)
        #expect(head.version == .http1_1)
        #expect(head.headers["x-up"].isEmpty)
        #expect(head.headers["keep-alive"].isEmpty)
        #expect(head.headers["x-kept"] == ["a b"])
        #expect(head.headers["transfer-encoding"] == ["chunked"])
        #expect(head.headers["x-request-id"] == ["mine"])
        #expect(head.headers["connection"] == ["close"])
    }

    @Test(
        "the host of rules is lower-cased without its port",
        arguments: [
            ("api.example", "api.example"), ("API.Example:8080", "api.example"), ("[::1]:80", "::1"),
            ("[FE80::1]", "fe80::1"), ("10.0.0.1:443", "10.0.0.1"), ("ÄPI.example", "äpi.example"),
        ]
    )
    func hostWithoutPort(host: String, expected: String) {
        #expect(ForwardingPolicy.hostWithoutPort(host) == expected)
    }

    @Test func responseFramingFollowsStatusMethodAndClientVersion() {
        func framing(
            _ status: HTTPResponseStatus,
            length: Bool = false,
            _ method: HTTPMethod = .GET,
            _ version: HTTPVersion = .http1_1
        ) -> ForwardingPolicy.ResponseFraming {
            ForwardingPolicy.responseFraming(
                status: status,
                hasContentLength: length,
                method: method,
                clientVersion: version
            )
        }
        #expect(framing(.noContent, length: true) == .noBody)
        #expect(framing(.notModified) == .noBody)
        #expect(framing(.ok, length: true, .GET, .http1_0) == .asSent)
        #expect(framing(.ok, .HEAD) == .asSent)
        #expect(framing(.ok, .GET, HTTPVersion(major: 2, minor: 0)) == .asSent)
        #expect(framing(.ok) == .chunked)
        #expect(framing(.ok, .GET, .http1_0) == .untilClose)
    }

    @Test func framingHeadersAreSetByThePolicy() throws {
        let noContent = try upstream("HTTP/1.1 204 No Content\r\nContent-Length: 0\r\nConnection: keep-alive\r\n\r\n")
        let noBody = policy.clientResponseHead(noContent, requestID: "id", keepClientAlive: true, framing: .noBody)
        #expect(noBody.headers["content-length"].isEmpty)
        #expect(noBody.headers["connection"].isEmpty)

        let sized = try upstream("HTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\n")
        let asSent = policy.clientResponseHead(sized, requestID: "id", keepClientAlive: true, framing: .asSent)
        #expect(asSent.headers["content-length"] == ["5"])

        let toClose = try upstream("HTTP/1.0 200 OK\r\n\r\n")
        let untilClose = policy.clientResponseHead(
            toClose,
            requestID: "id",
            keepClientAlive: true,
            framing: .untilClose
        )
        #expect(untilClose.headers["connection"] == ["close"])
        #expect(untilClose.version == .http1_1)
    }

    @Test func rateLimitHeadersFollowTheDraftAndLegacyForms() {
        let state = RateLimitPolicyState(
            rule: "per_user",
            quota: 100,
            windowSeconds: 60,
            remaining: 7,
            resetMicroseconds: 2_000_001,
            retryAfterMicroseconds: 1_500_000
        )
        var draft = HTTPHeaders()
        RateLimitResponseHeaders(mode: .draft).add(state, to: &draft)
        #expect(draft["ratelimit-policy"] == ["\"per_user\";q=100;w=60"])
        #expect(draft["ratelimit"] == ["\"per_user\";r=7;t=3"])
        var legacy = HTTPHeaders()
        RateLimitResponseHeaders(mode: .legacy).add(state, to: &legacy)
        #expect(legacy["x-ratelimit-remaining"] == ["7"])
        #expect(legacy["ratelimit"].isEmpty)
        // Written as bytes, the same fields as added to `HTTPHeaders`, for every mode.
        for mode in [RateLimitHeaderMode.draft, .legacy, .both] {
            var bytes = ByteBuffer()
            RateLimitResponseHeaders(mode: mode).write(state, into: &bytes)
            var fields = HTTPHeaders()
            RateLimitResponseHeaders(mode: mode).add(state, to: &fields)
            #expect(String(buffer: bytes) == fields.map { "\($0.name): \($0.value)\r\n" }.joined())
        }
        let denial = RateLimitResponseHeaders(mode: .both).denial(state)
        #expect(denial.status == .tooManyRequests)
        #expect(denial.headers.first?.0 == "Retry-After" && denial.headers.first?.1 == "2")
        let body = String(buffer: denial.body(allocator: .init()))
        #expect(
            body.contains("\"rule\":\"per_user\"") && body.contains("\"retry_after\":2")
                && body.contains("\"status\":429")
        )
    }
}

@Test func requestIDsAreHexAndDistinct() {
    var generator = RequestIDGenerator()
    let ids = (0..<1000).map { _ in generator.next() }
    #expect(Set(ids).count == 1000)
    #expect(ids.allSatisfy { $0.utf8.count == 32 && $0.allSatisfy { $0.isHexDigit && !$0.isUppercase } })
    var other = RequestIDGenerator()
    #expect(other.next() != ids[0])
}
