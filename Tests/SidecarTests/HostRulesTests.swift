import Foundation
import Limiter
import NIOCore
import NIOHPACK
import NIOHTTP1
import Testing

@testable import Sidecar

@Suite("Host and request-target rules")
struct HostRulesTests {
    let policy = ForwardingPolicy(trustedProxies: TrustedProxies([]), scheme: "http")

    private func forward(
        _ uri: String,
        _ headers: [(String, String)],
        version: HTTPVersion = .http1_1,
        method: HTTPMethod = .POST
    ) -> ForwardingPolicy.ForwardedRequest {
        let head = HTTPRequestHead(version: version, method: method, uri: uri, headers: HTTPHeaders(headers))
        return policy.forwardRequest(head, peer: "10.1.2.3", requestIDGenerator: { "id" })
    }

    @Test("HTTP/1.1 without Host is refused; HTTP/1.0 without Host is not")
    func missingHost() {
        #expect(forward("/jobs", []).refusal?.status == .badRequest)
        #expect(forward("/jobs", [], version: .http1_0).refusal == nil)
    }

    @Test("two Host headers are refused, even when equal")
    func twoHosts() {
        #expect(forward("/jobs", [("Host", "a"), ("Host", "b")]).refusal?.status == .badRequest)
        #expect(forward("/jobs", [("Host", "a"), ("host", "a")]).refusal?.status == .badRequest)
        #expect(forward("/jobs", [("Host", "a")], version: .http1_0).refusal == nil)
    }

    @Test(
        "Host values that are not host[:port] are refused",
        arguments: ["a b", "a/b", "a@b", "a:b", "a:123456", "[::1", "[::1]x"]
    )
    func malformedHost(value: String) {
        #expect(forward("/jobs", [("Host", value)]).refusal?.status == .badRequest)
    }

    @Test("valid Host values pass", arguments: ["", "api.example", "API.example:8080", "[::1]:80", "10.0.0.1"])
    func validHost(value: String) {
        #expect(forward("/jobs", [("Host", value)]).refusal == nil)
    }

    @Test("an absolute-form target must agree with Host; the origin-form is forwarded")
    func absoluteForm() {
        let agreeing = forward("http://API.example/jobs?x", [("Host", "api.example:80")])
        #expect(agreeing.refusal == nil)
        #expect(agreeing.head.uri == "/jobs?x")
        #expect(agreeing.target?.path == "/jobs")
        #expect(forward("http://x/jobs", [("Host", "y")]).refusal?.status == .badRequest)
        #expect(forward("http://x:8080/jobs", [("Host", "x")]).refusal?.status == .badRequest)
        #expect(forward("https://x/jobs", [("Host", "x:443")]).refusal == nil)
    }

    @Test("the normalised target is what goes upstream")
    func forwardsNormalised() {
        let forwarded = forward("/%6Aobs/./1", [("Host", "x")])
        #expect(forwarded.head.uri == "/jobs/1")
        #expect(forward("/jobs#x", [("Host", "x")]).refusal?.status == .badRequest)
        #expect(forward("/jobs%2F1", [("Host", "x")]).refusal?.status == .badRequest)
    }

    @Test("over HTTP/2, :path must be origin-form or *")
    func http2Path() {
        #expect(forward("abc", [("host", "x")], version: HTTPVersion(major: 2, minor: 0)).refusal != nil)
        #expect(forward("http://x/a", [("host", "x")], version: HTTPVersion(major: 2, minor: 0)).refusal != nil)
        #expect(
            forward("*", [("host", "x")], version: HTTPVersion(major: 2, minor: 0), method: .OPTIONS).refusal == nil
        )
    }

    @Test(
        "over HTTP/2, a field HTTP/1.1 cannot carry is refused",
        arguments: [("x-a", "a\u{1}b"), ("x-a", "a\u{7F}b"), ("x-a", "a\u{0}b"), ("x a", "b"), ("x:a", "b")]
    )
    func http2UnsendableField(name: String, value: String) {
        let h2 = HTTPVersion(major: 2, minor: 0)
        let refusal = forward("/", [("host", "x"), (name, value)], version: h2).refusal
        #expect(refusal?.status == .badRequest)
        #expect(refusal?.detail.contains("cannot carry") == true, "\(String(describing: refusal?.detail))")
    }

    @Test(
        "Transfer-Encoding: one chunked alone passes; other codings 501; empty, repeated or HTTP/1.0 400",
        arguments: [
            (["chunked"], HTTPVersion.http1_1, nil),
            (["Chunked "], .http1_1, nil),
            (["gzip, chunked"], .http1_1, 501),
            (["xchunked", "chunked"], .http1_1, 501),
            ([""], .http1_1, 400),
            (["chunked, chunked"], .http1_1, 400),
            (["chunked", "chunked"], .http1_1, 400),
            (["chunked,"], .http1_1, 400),
            (["chunked"], .http1_0, 400),
        ] as [([String], HTTPVersion, Int?)]
    )
    func transferCodings(values: [String], version: HTTPVersion, status: Int?) {
        let problem = ForwardingPolicy.transferCodingProblem(values, version: version)
        #expect(problem.map { Int($0.status.code) } == status, "\(values)")
    }

    @Test("over HTTP/2, tabs and non-ASCII bytes in values pass")
    func http2SendableField() {
        let h2 = HTTPVersion(major: 2, minor: 0)
        #expect(forward("/", [("host", "x"), ("x-a", "a\tb"), ("x-b", "café")], version: h2).refusal == nil)
        #expect(ForwardingPolicy.printable("a\u{1}\"") == "a\\x01\\x22")
    }

    @Test("a host that disagrees with :authority becomes a second Host; one that agrees does not")
    func authorityConflict() throws {
        func hosts(_ block: HPACKHeaders) throws -> [String] {
            let head = try ClientRequestHead(http2: block, endStream: true)
            var hosts: [String] = []
            head.forEachField { field in
                if head.kind(of: field) == .host { hosts.append(head.value(of: field)) }
            }
            return hosts
        }
        let disagreeing: HPACKHeaders = [
            ":method": "GET", ":scheme": "https", ":authority": "a.example", ":path": "/", "host": "b.example",
        ]
        #expect(try hosts(disagreeing).sorted() == ["a.example", "b.example"])
        let agreeing: HPACKHeaders = [
            ":method": "GET", ":scheme": "https", ":authority": "a.example", ":path": "/", "host": "A.example",
        ]
        #expect(try hosts(agreeing) == ["A.example"])
        let noHost: HPACKHeaders = [":method": "GET", ":scheme": "https", ":authority": "a.example", ":path": "/"]
        #expect(try hosts(noHost) == ["a.example"])
        let noPath: HPACKHeaders = [":method": "GET", ":scheme": "https", ":authority": "a.example"]
        #expect(throws: ClientRequestHead.MalformedHTTP2Request.self) { try hosts(noPath) }
    }

    @Test("HTTP/2 cookie crumbs reach the gateway as one Cookie field")
    func http2CookieCrumbs() throws {
        var block: HPACKHeaders = [":method": "GET", ":scheme": "https", ":authority": "a", ":path": "/"]
        block.add(name: "cookie", value: "a=1")
        block.add(name: "x-other", value: "y")
        block.add(name: "cookie", value: "b=2")
        let head = try ClientRequestHead(http2: block, endStream: true)
        var fields: [String] = []
        head.forEachField { fields.append("\(head.name(of: $0)): \(head.value(of: $0))") }
        #expect(fields == ["host: a", "cookie: a=1; b=2", "x-other: y"])
        let request = ForwardingPolicy(trustedProxies: TrustedProxies([]), scheme: "https")
            .forwardRequest(head, peer: nil) { "id" }
        let wire = String(buffer: ForwardingPolicy.serialize(request, allocator: ByteBufferAllocator()))
        #expect(wire.components(separatedBy: "cookie:").count == 2, "\(wire)")
        #expect(wire.contains("cookie: a=1; b=2\r\n"))
    }

    @Test("an HTTP/2 request with a body and no content-length goes upstream chunked")
    func http2BodyFraming() throws {
        func forwarded(_ method: String, endStream: Bool, _ extra: [(String, String)] = []) throws -> (Bool, Int?) {
            var block: HPACKHeaders = [":method": method, ":scheme": "https", ":authority": "a", ":path": "/"]
            for (name, value) in extra { block.add(name: name, value: value) }
            let head = try ClientRequestHead(http2: block, endStream: endStream)
            let request = ForwardingPolicy(trustedProxies: TrustedProxies([]), scheme: "https")
                .forwardRequest(head, peer: nil) { "id" }
            #expect(request.refusal == nil)
            return (request.hasBody, request.contentLength)
        }
        #expect(try forwarded("POST", endStream: false) == (true, nil))
        #expect(try forwarded("POST", endStream: true) == (false, 0))
        #expect(try forwarded("PUT", endStream: false, [("content-length", "5")]) == (true, 5))
        #expect(try forwarded("GET", endStream: true) == (false, nil))
    }
}

/// The HTTP/2 forms of the Host rules, sent by the `h2` Python library with its checks off.
@Suite("HTTP/2 :authority and :path", .serialized)
struct HTTP2RequestRulesTests {
    @Test(.enabled(if: GatewayApp.python != nil, "the tools venv is missing: make tools"))
    func malformedAuthorityAndPathAreAnswered400() async throws {
        let running = try await RunningSidecar.start(extra: ["SIDECAR_H2C": "on"])
        func request(
            path: String,
            authority: String = "a.example",
            host: String? = nil,
            extra: [String]? = nil
        ) -> String {
            var headers = [[":method", "GET"], [":scheme", "http"], [":authority", authority], [":path", path]]
            if let host { headers.append(["host", host]) }
            if let extra { headers.append(extra) }
            return "[" + headers.map { "[\"\($0[0])\",\"\($0[1])\"]" }.joined(separator: ",") + "]"
        }
        let script = URL(fileURLWithPath: #filePath).deletingLastPathComponent()
            .appendingPathComponent("Gateway/h2_probe.py").path
        let result = try Tool.run(
            GatewayApp.python!,
            [
                script, String(running.port),
                request(path: "/hello"),
                request(path: "/hello", host: "b.example"),
                request(path: "/hello", host: "A.EXAMPLE"),
                request(path: "abc"),
                request(path: "http://a.example/hello"),
                request(path: "/%68ello"),
                // A value HTTP/1.1 cannot carry: refused at once, not left to the upstream's encoder.
                request(path: "/hello", extra: ["x-a", "a\\u0001b"]),
                request(path: "/hello", extra: ["x-a", "a\\tb"]),
            ]
        )
        #expect(
            result.output.split(separator: "\n") == ["200", "400", "200", "400", "400", "200", "400", "200"],
            "\(result.output)"
        )
        #expect(try await running.value(#"sidecar_http_requests_total{method="GET",code="400",route="other"}"#) == 4)
        try await running.stop()
    }
}
