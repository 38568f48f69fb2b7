import HTTP1Wire
import NIOCore
import Testing

@Suite struct RequestHeadParserTests {
    private func parse(_ text: String, maxHeadBytes: Int = 80 * 1024) -> HTTP1HeadParseResult<HTTP1RequestHead> {
        var parser = HTTP1RequestHeadParser(maxHeadBytes: maxHeadBytes)
        return parser.parse(ByteBuffer(string: text))
    }

    private func head(_ text: String) throws -> HTTP1RequestHead {
        guard case .head(let head) = parse(text) else {
            Issue.record("not a head: \(parse(text))")
            throw CancellationError()
        }
        return head
    }

    private func error(_ text: String, maxHeadBytes: Int = 80 * 1024) -> HTTP1ParseError? {
        if case .error(let error) = parse(text, maxHeadBytes: maxHeadBytes) { return error }
        return nil
    }

    @Test func recordsOffsetsOfEveryPart() throws {
        let text = "POST /jobs?x=1 HTTP/1.1\r\nHost: example.com\r\nX-Empty:\r\nContent-Length:  12 \r\n\r\nbody"
        let bytes = Array(text.utf8)
        let head = try head(text)
        let string = { (range: Range<Int>) in String(decoding: bytes[range], as: UTF8.self) }
        #expect(string(head.method) == "POST")
        #expect(string(head.target) == "/jobs?x=1")
        #expect(head.version == .http1_1 && string(head.versionBytes) == "HTTP/1.1")
        #expect(head.targetForm == .origin)
        #expect(head.length == text.utf8.count - 4)
        #expect(head.fields.map { string($0.name) } == ["Host", "X-Empty", "Content-Length"])
        #expect(head.fields.map { string($0.value) } == ["example.com", "", "12"])
        #expect(head.fields.map(\.kind) == [.host, .other, .contentLength])
        #expect(string(head.fields[0].line) == "Host: example.com")
        #expect(head.framing == .contentLength(12))
        #expect(head.facts.hostCount == 1 && head.facts.hostField == 0)
        #expect(head.isKeepAlive)
    }

    @Test func extractsConnectionUpgradeAndExpect() throws {
        let head = try head(
            "GET /ws HTTP/1.1\r\nHost: a\r\nConnection: Upgrade, X-Hop ,keep-alive\r\nUpgrade: websocket\r\n"
                + "Expect: 100-Continue\r\n\r\n"
        )
        #expect(head.facts.connection == [.upgrade, .other, .keepAlive])
        #expect(head.facts.upgradeField == 2)
        #expect(head.facts.expectsContinue && !head.facts.hasOtherExpectation)
        #expect(try self.head("GET / HTTP/1.1\r\nExpect: x\r\n\r\n").facts.hasOtherExpectation)
    }

    @Test(arguments: [
        ("GET / HTTP/1.1\r\n\r\n", true),
        ("GET / HTTP/1.1\r\nConnection: close\r\n\r\n", false),
        ("GET / HTTP/1.0\r\n\r\n", false),
        ("GET / HTTP/1.0\r\nConnection: keep-alive\r\n\r\n", true),
        ("GET / HTTP/1.0\r\nConnection: keep-alive, close\r\n\r\n", false),
        ("GET / HTTP/1.1\r\nConnection: CLOSE\r\n\r\n", false),
    ])
    func keepAliveByVersionAndConnection(text: String, keepAlive: Bool) throws {
        #expect(try head(text).isKeepAlive == keepAlive)
    }

    @Test func framing() throws {
        #expect(try head("GET / HTTP/1.1\r\n\r\n").framing == .none)
        #expect(try head("POST / HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n").framing == .chunked)
        #expect(try head("POST / HTTP/1.1\r\nTransfer-Encoding: CHUNKED\r\n\r\n").framing == .chunked)
        #expect(try head("POST / HTTP/1.1\r\nContent-Length: 0\r\n\r\n").framing == .contentLength(0))
        #expect(
            try head("POST / HTTP/1.1\r\nContent-Length: 9223372036854775807\r\n\r\n").framing == .contentLength(.max)
        )
    }

    @Test(arguments: [
        // Framing (DESIGN §6: 400).
        (
            "POST / HTTP/1.1\r\nContent-Length: 3\r\nTransfer-Encoding: chunked\r\n\r\n",
            HTTP1ParseError.contentLengthWithTransferEncoding
        ),
        (
            "POST / HTTP/1.1\r\nTransfer-Encoding: chunked\r\nContent-Length: 3\r\n\r\n",
            .contentLengthWithTransferEncoding
        ),
        ("POST / HTTP/1.1\r\nContent-Length: 3\r\nContent-Length: 4\r\n\r\n", .duplicateContentLength),
        ("POST / HTTP/1.1\r\nContent-Length: 3\r\nContent-Length: 3\r\n\r\n", .duplicateContentLength),
        ("POST / HTTP/1.1\r\nContent-Length: 3, 3\r\n\r\n", .invalidContentLength),
        ("POST / HTTP/1.1\r\nContent-Length: +3\r\n\r\n", .invalidContentLength),
        ("POST / HTTP/1.1\r\nContent-Length: -1\r\n\r\n", .invalidContentLength),
        ("POST / HTTP/1.1\r\nContent-Length: 0x10\r\n\r\n", .invalidContentLength),
        ("POST / HTTP/1.1\r\nContent-Length:\r\n\r\n", .invalidContentLength),
        ("POST / HTTP/1.1\r\nContent-Length: 9223372036854775808\r\n\r\n", .invalidContentLength),
        ("POST / HTTP/1.1\r\nContent-Length: 1 2\r\n\r\n", .invalidContentLength),
        ("POST / HTTP/1.1\r\nTransfer-Encoding: gzip\r\n\r\n", .invalidTransferEncoding),
        ("POST / HTTP/1.1\r\nTransfer-Encoding: chunked, gzip\r\n\r\n", .invalidTransferEncoding),
        (
            "POST / HTTP/1.1\r\nTransfer-Encoding: chunked\r\nTransfer-Encoding: chunked\r\n\r\n",
            .invalidTransferEncoding
        ),
        ("POST / HTTP/1.1\r\nTransfer-Encoding: chunked;q=1\r\n\r\n", .invalidTransferEncoding),
        ("POST / HTTP/1.1\r\nTransfer-Encoding:\r\n\r\n", .invalidTransferEncoding),
        ("POST / HTTP/1.1\r\nTransfer-Encoding: chunked,\r\n\r\n", .invalidTransferEncoding),
        ("POST / HTTP/1.0\r\nTransfer-Encoding: chunked\r\n\r\n", .invalidTransferEncoding),
        ("POST / HTTP/1.1\r\nTransfer-Encoding: gzip, chunked\r\n\r\n", .unsupportedTransferCoding),
        (
            "POST / HTTP/1.1\r\nTransfer-Encoding: gzip\r\nTransfer-Encoding: chunked\r\n\r\n",
            .unsupportedTransferCoding
        ),
        // Field lines.
        ("GET / HTTP/1.1\r\nX-Folded: a\r\n  b\r\n\r\n", .obsFold),
        ("GET / HTTP/1.1\r\n X: a\r\n\r\n", .obsFold),
        ("GET / HTTP/1.1\r\nX : a\r\n\r\n", .invalidFieldName),
        ("GET / HTTP/1.1\r\nX\t: a\r\n\r\n", .invalidFieldName),
        ("GET / HTTP/1.1\r\n: a\r\n\r\n", .invalidFieldName),
        ("GET / HTTP/1.1\r\nX(y): a\r\n\r\n", .invalidFieldName),
        ("GET / HTTP/1.1\r\nNoColon\r\n\r\n", .invalidFieldName),
        ("GET / HTTP/1.1\r\nX: a\u{0}b\r\n\r\n", .invalidFieldValue),
        ("GET / HTTP/1.1\r\nX: a\u{7F}b\r\n\r\n", .invalidFieldValue),
        ("GET / HTTP/1.1\r\nX: a\rb\r\n\r\n", .invalidFieldValue),
        ("GET / HTTP/1.1\r\nX: a\n\r\n", .invalidLineEnding),
        ("GET / HTTP/1.1\n\n", .invalidLineEnding),
        ("GET / HTTP/1.1\r\nX: a\r\n\n", .invalidLineEnding),
        ("\nGET / HTTP/1.1\r\n\r\n", .invalidLineEnding),
        ("\r\rGET / HTTP/1.1\r\n\r\n", .invalidLineEnding),
        // Request line.
        ("get / HTTP/1.1\r\n\r\n", .invalidMethod),
        ("FOO / HTTP/1.1\r\n\r\n", .invalidMethod),
        ("PRI * HTTP/1.1\r\n\r\n", .invalidMethod),
        (" GET / HTTP/1.1\r\n\r\n", .invalidMethod),
        ("GET  / HTTP/1.1\r\n\r\n", .invalidTarget),
        ("GET /a b HTTP/1.1\r\n\r\n", .invalidVersion),
        ("GET / HTTP/1.1 \r\n\r\n", .invalidVersion),
        ("GET / http/1.1\r\n\r\n", .invalidVersion),
        ("GET / HTTP/1.2\r\n\r\n", .invalidVersion),
        ("GET / HTTP/2.0\r\n\r\n", .invalidVersion),
        ("GET / HTTP/0.9\r\n\r\n", .invalidVersion),
        ("GET /\r\n\r\n", .invalidTarget),
        ("GET /a\tb HTTP/1.1\r\n\r\n", .invalidTarget),
        ("GET /a\u{7F} HTTP/1.1\r\n\r\n", .invalidTarget),
        ("GET /a#frag HTTP/1.1\r\n\r\n", .invalidTarget),
        ("GET /caf\u{E9} HTTP/1.1\r\n\r\n", .invalidTarget),
        ("GET * HTTP/1.1\r\n\r\n", .invalidTarget),
        ("GET a/b HTTP/1.1\r\n\r\n", .invalidTarget),
        ("GET http://user@host/ HTTP/1.1\r\n\r\n", .invalidTarget),
        ("GET http:///x HTTP/1.1\r\n\r\n", .invalidTarget),
        ("GET host:80 HTTP/1.1\r\n\r\n", .invalidTarget),
        ("CONNECT /x HTTP/1.1\r\n\r\n", .invalidTarget),
        ("CONNECT host HTTP/1.1\r\n\r\n", .invalidTarget),
    ])
    func refuses(text: String, expected: HTTP1ParseError) {
        #expect(error(text) == expected, "\(text.debugDescription)")
    }

    @Test func acceptsTheOtherTargetForms() throws {
        #expect(try head("OPTIONS * HTTP/1.1\r\n\r\n").targetForm == .asterisk)
        #expect(try head("GET http://a.example:8080/x?y HTTP/1.1\r\n\r\n").targetForm == .absolute)
        #expect(try head("GET https://[::1] HTTP/1.1\r\n\r\n").targetForm == .absolute)
        let connect = try head("CONNECT a.example:443 HTTP/1.1\r\n\r\n")
        #expect(connect.targetForm == .authority && connect.isConnect && !connect.isHead)
        #expect(try head("HEAD / HTTP/1.1\r\n\r\n").isHead)
    }

    @Test func skipsEmptyLinesBeforeTheRequestLine() throws {
        let head = try head("\r\n\r\nGET / HTTP/1.1\r\n\r\n")
        #expect(head.method == 4..<7 && head.length == 22)
    }

    @Test func valuesKeepObsTextAndInnerWhitespace() throws {
        let head = try head("GET / HTTP/1.1\r\nX: \ta \t b\u{E9}\t \r\n\r\n")
        let bytes = Array("GET / HTTP/1.1\r\nX: \ta \t b\u{E9}\t \r\n\r\n".utf8)
        #expect(Array(bytes[head.fields[0].value]) == Array("a \t b\u{E9}".utf8))
    }

    @Test func headSizeLimit() {
        let long = "GET / HTTP/1.1\r\nX-Long: \(String(repeating: "v", count: 100))\r\n\r\n"
        #expect(error(long, maxHeadBytes: 64) == .headTooLarge)
        #expect(error(long, maxHeadBytes: long.utf8.count - 1) == .headTooLarge)
        if case .head = parse(long, maxHeadBytes: long.utf8.count) {} else { Issue.record("limit is inclusive") }
        // Without an end in sight, it refuses as soon as the limit is passed.
        #expect(error("GET / HTTP/1.1\r\nX: " + String(repeating: "v", count: 200), maxHeadBytes: 64) == .headTooLarge)
        var parser = HTTP1RequestHeadParser(maxFieldCount: 2)
        let many = ByteBuffer(string: "GET / HTTP/1.1\r\nA: 1\r\nB: 2\r\nC: 3\r\n\r\n")
        guard case .error(.tooManyFields) = parser.parse(many) else {
            Issue.record("field count limit")
            return
        }
        #expect(HTTP1ParseError.tooManyFields.responseStatus == 431)
        #expect(HTTP1ParseError.unsupportedTransferCoding.responseStatus == 501)
        #expect(HTTP1ParseError.obsFold.responseStatus == 400)
    }

    @Test(arguments: [
        "POST /jobs HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\n5;x=\"y\"\r\nhello\r\n0\r\nT: 1\r\n\r\n",
        "\r\nGET / HTTP/1.0\r\nConnection: keep-alive\r\nContent-Length: 3\r\n\r\nabc",
        "GET / HTTP/1.1\r\nX: a\r\n  b\r\n\r\n",
        "GET / HTTP/1.1\r\nX: a\n\r\n",
        "POST / HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhelloXX0\r\n\r\n",
    ])
    func byteByByteFeedingMatchesOneFeed(text: String) {
        let bytes = Array(text.utf8)
        var whole = HTTP1RequestHeadParser()
        var split = HTTP1RequestHeadParser()
        let (once, onceDetails) = decodeWithWire(bytes, parser: &whole)
        let (byByte, byByteDetails) = decodeWithWire(
            bytes,
            pieces: Array(repeating: 1, count: bytes.count),
            parser: &split
        )
        #expect(once == byByte)
        #expect(onceDetails.chunkSizes == byByteDetails.chunkSizes)
        if onceDetails.error == nil { #expect(onceDetails.consumed == byByteDetails.consumed) }
        #expect(onceDetails.error == byByteDetails.error)
    }

    @Test func reusesFieldStorageAcrossHeads() {
        var parser = HTTP1RequestHeadParser()
        let buffer = ByteBuffer(
            string: "GET /a HTTP/1.1\r\nHost: a\r\nUser-Agent: t\r\nAccept: */*\r\nX-Request-ID: 1\r\n\r\n"
        )
        var addresses = Set<UInt>()
        var capacities = Set<Int>()
        for _ in 0..<100 {
            guard case .head(let head) = parser.parse(buffer) else {
                Issue.record("not a head")
                return
            }
            #expect(head.fields.count == 4 && head.fields[3].kind == .xRequestID)
            addresses.insert(head.fields.withUnsafeBufferPointer { UInt(bitPattern: $0.baseAddress) })
            capacities.insert(head.fields.capacity)
        }
        #expect(addresses.count == 1)
        #expect(capacities.count == 1)
    }

    @Test func continuesAfterAHeadWithTheNextOne() {
        var parser = HTTP1RequestHeadParser()
        guard case .head(let head) = parser.parse(ByteBuffer(string: "GET /1 HTTP/1.1\r\n\r\n")) else {
            Issue.record("first head")
            return
        }
        #expect(head.target == 4..<6)
        guard case .needMore = parser.parse(ByteBuffer(string: "GET /22 HTTP/1.1\r\n")) else {
            Issue.record("second head, part")
            return
        }
        guard case .head(let next) = parser.parse(ByteBuffer(string: "GET /22 HTTP/1.1\r\n\r\n")) else {
            Issue.record("second head")
            return
        }
        #expect(next.target == 4..<7)
        // After an error the next call starts afresh.
        guard case .error = parser.parse(ByteBuffer(string: "GET / HTTP/1.1\r\nX : y\r\n\r\n")),
            case .head = parser.parse(ByteBuffer(string: "GET / HTTP/1.1\r\n\r\n"))
        else {
            Issue.record("after an error")
            return
        }
    }
}

/// The requests the sidecar's own tests refuse (ProxyIntegrationTests, ProxyHandlerTests), refused
/// here with the same status.
@Suite struct SidecarFramingCasesTests {
    @Test(arguments: [
        (
            "POST /sink HTTP/1.1\r\nHost: x\r\nContent-Length: 3\r\nTransfer-Encoding: chunked\r\n\r\n3\r\nabc\r\n0\r\n\r\n",
            400
        ),
        ("POST /sink HTTP/1.1\r\nHost: x\r\nContent-Length: 3\r\nContent-Length: 4\r\n\r\nabcd", 400),
        ("POST /sink HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\nabc\r\n0\r\n\r\n", 400),
        ("GET /hello HTTP/1.1\r\nHost: x\r\nX-Folded: a\r\n  b\r\n\r\n", 400),
        ("POST / HTTP/1.1\r\nHost: x\r\nContent-Length: 1\r\nContent-Length: 2\r\n\r\n", 400),
        ("POST /sink HTTP/1.1\r\nHost: x\r\nContent-Length: 5000\r\n\r\n", 413),
        (
            "POST /sink HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n258\r\n\(String(repeating: "b", count: 600))\r\n"
                + "258\r\n\(String(repeating: "b", count: 600))\r\n0\r\n\r\n", 413
        ),
    ])
    func refusedWithTheSidecarsStatus(request: String, status: Int) {
        var parser = HTTP1RequestHeadParser()
        let (outcome, details) = decodeWithWire(Array(request.utf8), parser: &parser, maxBodyBytes: 1024)
        #expect(outcome.request == nil)
        #expect(details.error?.responseStatus == status)
    }

    @Test func oversizedHeadIs431() {
        var parser = HTTP1RequestHeadParser(maxHeadBytes: 64)
        let request = "GET / HTTP/1.1\r\nX-Long: \(String(repeating: "v", count: 100))\r\n\r\n"
        guard case .error(let error) = parser.parse(ByteBuffer(string: request)) else {
            Issue.record("accepted")
            return
        }
        #expect(error.responseStatus == 431)
    }
}
