import HTTP1Wire
import Testing

/// Where the new parser and NIO's llhttp decoder differ, with NIO's answer checked here so each
/// decision stays visible if llhttp changes: ours refuses everything NIO refuses, and more.
@Suite struct StrictnessDecisionTests {
    @Test(arguments: [
        // Both refuse.
        (
            "POST / HTTP/1.1\r\nContent-Length: 3\r\nContent-Length: 3\r\n\r\nabc", false,
            HTTP1ParseError.duplicateContentLength
        ),
        (
            "POST / HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n1;a=b c\r\nx\r\n0\r\n\r\n", false,
            .invalidChunkExtension
        ),
        ("GET / HTTP/1.1\r\nX: a\n\r\n", false, .invalidLineEnding),
        ("GET /caf\u{E9} HTTP/1.1\r\n\r\n", false, .invalidTarget),
        ("GET /a\tb HTTP/1.1\r\n\r\n", false, .invalidTarget),
        ("GET h1ttp://h/ HTTP/1.1\r\n\r\n", false, .invalidTarget),
        ("GET / HTTP/1.1\r\nX: a\u{7F}\r\n\r\n", false, .invalidFieldValue),
        ("GET / HTTP/1.1\r\nX: a\u{0B}\r\n\r\n", false, .invalidFieldValue),
        ("POST / HTTP/1.1\r\nContent-Length: 3\t\r\n\r\nabc", false, .invalidContentLength),
        ("POST / HTTP/1.1\r\nContent-Length: 3 \t\r\n\r\nabc", false, .invalidContentLength),
        ("POST / HTTP/1.1\r\nTransfer-Encoding: chunked\t\r\n\r\n0\r\n\r\n", false, .invalidTransferEncoding),
        ("POST / HTTP/1.1\r\nTransfer-Encoding: chunked , \r\n\r\n0\r\n\r\n", false, .invalidTransferEncoding),
        ("FOO / HTTP/1.1\r\n\r\n", false, .invalidMethod),
        ("GET / HTTP/1.2\r\n\r\n", false, .invalidVersion),
        // Ours only: one SP between the parts of the request line (RFC 9112 §3).
        ("GET  / HTTP/1.1\r\n\r\n", true, .invalidTarget),
        ("GET /  HTTP/1.1\r\n\r\n", true, .invalidVersion),
        // Ours only: Transfer-Encoding must be well formed, HTTP/1.1, and exactly `chunked` (RFC 9112 §6.1).
        ("POST / HTTP/1.0\r\nTransfer-Encoding:\r\nContent-Length: 3\r\n\r\nabc", true, .invalidTransferEncoding),
        ("POST / HTTP/1.0\r\nTransfer-Encoding: chunked\r\n\r\n1\r\nx\r\n0\r\n\r\n", true, .invalidTransferEncoding),
        ("POST / HTTP/1.1\r\nTransfer-Encoding: ,chunked\r\n\r\n0\r\n\r\n", true, .invalidTransferEncoding),
        (
            "POST / HTTP/1.1\r\nTransfer-Encoding: xchunked\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n", true,
            .unsupportedTransferCoding
        ),
        ("POST / HTTP/1.1\r\nTransfer-Encoding: gzip, chunked\r\n\r\n0\r\n\r\n", true, .unsupportedTransferCoding),
        // Ours only: chunk extensions per RFC 9112 §7.1.1 (a value after `=`).
        ("POST / HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n1;a=\r\nx\r\n0\r\n\r\n", true, .invalidChunkExtension),
        // Ours only: no fragment, no userinfo, `*` for OPTIONS only (RFC 9112 §3.2, RFC 9110 §4.2.4).
        ("GET /a#f HTTP/1.1\r\n\r\n", true, .invalidTarget),
        ("GET * HTTP/1.1\r\n\r\n", true, .invalidTarget),
        ("GET http://u@h/ HTTP/1.1\r\n\r\n", true, .invalidTarget),
    ])
    func answers(text: String, nioAccepts: Bool, ours expected: HTTP1ParseError) {
        let input = Array(text.utf8)
        var parser = HTTP1RequestHeadParser()
        let (_, details) = decodeWithWire(input, parser: &parser)
        let (nio, _) = decodeWithNIO(input)
        #expect((nio.request != nil) == nioAccepts, "NIO: \(nio)")
        #expect(details.error == expected)
    }

    @Test(arguments: [
        "POST / HTTP/1.1\r\nContent-Length:\t3\r\n\r\nabc",
        "POST / HTTP/1.1\r\nContent-Length: 3 \r\n\r\nabc",
        "POST / HTTP/1.1\r\nTransfer-Encoding:\tchunked \r\n\r\n0\r\n\r\n",
        "GET / HTTP/1.1\r\nConnection: close\t\r\n\r\n",
        "GET / HTTP/1.0\r\nConnection: keep-alive\t\r\n\r\n",
        "GET / HTTP/1.0\r\nConnection:\tkeep-alive,\tx\r\n\r\n",
        "\r\nGET / HTTP/1.1\r\n\r\n",
    ])
    func bothAccept(text: String) {
        let input = Array(text.utf8)
        var parser = HTTP1RequestHeadParser()
        let (ours, _) = decodeWithWire(input, parser: &parser)
        let (nio, _) = decodeWithNIO(input)
        #expect(ours.request != nil && nio.request != nil, "ours \(ours), NIO \(nio)")
        #expect(ours.request?.isKeepAlive == nio.request?.isKeepAlive || text.contains("close\t"))
    }

    /// llhttp reads neither `close` nor `keep-alive` followed by HTAB as the token: ours closes on
    /// the first (stricter) and does not keep alive on the second (the same).
    @Test func connectionTokensFollowedByATab() throws {
        var parser = HTTP1RequestHeadParser()
        let close = Array("GET / HTTP/1.1\r\nConnection: close\t\r\n\r\n".utf8)
        #expect(try #require(decodeWithWire(close, parser: &parser).0.request).isKeepAlive == false)
        #expect(try #require(decodeWithNIO(close).0.request).isKeepAlive == true)
        let keepAlive = Array("GET / HTTP/1.0\r\nConnection: keep-alive\t\r\n\r\n".utf8)
        #expect(try #require(decodeWithWire(keepAlive, parser: &parser).0.request).isKeepAlive == false)
        #expect(try #require(decodeWithNIO(keepAlive).0.request).isKeepAlive == false)
    }
}
