import Foundation
import NIOCore
import Testing

/// Requests the sidecar cannot forward as sent: answered at once, counted and logged, never left hanging.
@Suite("Refused and rewritten request targets", .serialized)
struct LocalAnswerTests {
    static func exchange(_ running: RunningSidecar, _ request: String) async throws -> String {
        // An answer that only comes after a timeout fails here.
        try await RawConnection.exchange(
            port: running.port,
            group: running.group,
            send: [request],
            timeout: .seconds(2)
        )
    }

    @Test func oddCharactersAreForwardedEncodedAndMalformedHeadsAnsweredCountedAndLogged() async throws {
        let running = try await RunningSidecar.start(extra: [
            "SIDECAR_ACCESS_LOG": "json",
            "SIDECAR_HEADER_TIMEOUT": "1s",
        ])
        // Characters nginx forwards and uvicorn accepts: forwarded percent-encoded, answered by the upstream.
        for target in ["/hello?q={1}|2", "/a\"b", "/a<b>", "/a{b}", "/a|b", "/a^b", "/a`b"] {
            let answer = try await Self.exchange(
                running,
                "GET \(target) HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n"
            )
            #expect(answer.hasPrefix("HTTP/1.1 "), "\(target): \(answer.prefix(40))")
            #expect(!answer.hasPrefix("HTTP/1.1 400"), "\(target) was refused")
        }
        // Refused by the sidecar: a fragment, a backslash, no Host, two Hosts, a Host at odds with the target.
        let refused = [
            "GET /x#y HTTP/1.1\r\nHost: x\r\n\r\n",
            "GET /a\\b HTTP/1.1\r\nHost: x\r\n\r\n",
            "GET /hello HTTP/1.1\r\n\r\n",
            "GET /hello HTTP/1.1\r\nHost: x\r\nHost: y\r\n\r\n",
            "GET http://a.example/hello HTTP/1.1\r\nHost: b.example\r\n\r\n",
        ]
        for request in refused {
            let answer = try await Self.exchange(running, request)
            #expect(answer.hasPrefix("HTTP/1.1 400 "), "\(request.debugDescription): \(answer.prefix(40))")
            #expect(answer.contains("application/problem+json"))
        }
        // Refused by the parser after a known method: counted under that method.
        let nonASCII = try await Self.exchange(running, "GET /caf\u{e9} HTTP/1.1\r\nHost: x\r\n\r\n")
        #expect(nonASCII.hasPrefix("HTTP/1.1 400 "))
        #expect(nonASCII.contains("request target"), "\(nonASCII)")
        // Not HTTP at all: the parser's 400, counted under method "other".
        let garbage = try await Self.exchange(running, "BREW /pot HTTP/1.1\r\nHost: x\r\n\r\n")
        #expect(garbage.hasPrefix("HTTP/1.1 400 "))
        // A head that never ends: 408 at the header deadline, counted and logged too.
        let timedOut = try await RawConnection.exchange(
            port: running.port,
            group: running.group,
            send: ["GET /hello HTTP/1.1\r\nHost: x\r\n"],
            timeout: .seconds(5)
        )
        #expect(timedOut.hasPrefix("HTTP/1.1 408 "))
        #expect(try await running.value(#"sidecar_http_requests_total{method="other",code="408",route="other"}"#) == 1)
        #expect(try await running.value(#"sidecar_http_requests_total{method="GET",code="400",route="other"}"#) == 6)
        #expect(try await running.value(#"sidecar_http_requests_total{method="other",code="400",route="other"}"#) == 1)
        running.sidecar.signal(SIGTERM)
        let finished = await running.sidecar.finish()
        let lines = finished.output.split(separator: "\n").filter { $0.hasPrefix("{\"time\"") }
        #expect(lines.filter { $0.contains("\"status\":400") && $0.contains("\"source\":\"sidecar\"") }.count == 7)
        #expect(lines.filter { $0.contains("\"status\":408") }.count == 1)
        // The access log shows the path as forwarded.
        #expect(lines.contains { $0.contains("\"path\":\"/a%7Cb\"") })
        try await running.client.shutdown()
        try await running.upstream.stop()
        try await running.group.shutdownGracefully()
    }

    @Test("Transfer-Encoding only as one chunked, never in HTTP/1.0: 400 or 501, and the connection closes")
    func transferCodingsTheSidecarCannotForward() async throws {
        let running = try await RunningSidecar.start()
        let cases: [(String, String)] = [
            ("POST /hello HTTP/1.0\r\nHost: x\r\nTransfer-Encoding:\r\nContent-Length: 3\r\n\r\nabc", "400"),
            ("POST /hello HTTP/1.0\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n3\r\nabc\r\n0\r\n\r\n", "400"),
            (
                "POST /hello HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: xchunked\r\nTransfer-Encoding: chunked\r\n\r\n"
                    + "3\r\nabc\r\n0\r\n\r\n", "501"
            ),
            ("POST /hello HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: gzip, chunked\r\n\r\n3\r\nabc\r\n0\r\n\r\n", "501"),
        ]
        for (request, status) in cases {
            let answer = try await Self.exchange(running, request)
            #expect(answer.hasPrefix("HTTP/1.1 \(status) "), "\(request.debugDescription): \(answer.prefix(40))")
            #expect(answer.contains("Connection: close"))
        }
        let chunked = try await Self.exchange(
            running,
            "POST /hello HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\nConnection: close\r\n\r\n3\r\nabc\r\n0\r\n\r\n"
        )
        #expect(chunked.hasPrefix("HTTP/1.1 200 "), "\(chunked.prefix(40))")
        #expect(try await running.value(#"sidecar_http_requests_total{method="POST",code="501",route="other"}"#) == 2)
        try await running.stop()
    }

}
