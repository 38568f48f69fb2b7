import Foundation
import HTTP1Wire
import NIOCore
import Testing

@Suite struct ResponseHeadParserTests {
    private func parse(
        _ text: String,
        isHead: Bool = false,
        isConnect: Bool = false
    ) -> HTTP1HeadParseResult<HTTP1ResponseHead> {
        var parser = HTTP1ResponseHeadParser()
        return parser.parse(ByteBuffer(string: text), for: .init(isHead: isHead, isConnect: isConnect))
    }

    private func head(_ text: String, isHead: Bool = false, isConnect: Bool = false) -> HTTP1ResponseHead? {
        if case .head(let head) = parse(text, isHead: isHead, isConnect: isConnect) { return head }
        Issue.record("not a head: \(text.debugDescription)")
        return nil
    }

    private func error(_ text: String) -> HTTP1ParseError? {
        if case .error(let error) = parse(text) { return error }
        return nil
    }

    @Test func statusLineAndFields() {
        let text = "HTTP/1.1 404 Not Found\r\nContent-Length: 3\r\nX: y\r\n\r\nabc"
        guard let head = head(text) else { return }
        #expect(head.status == 404 && head.version == .http1_1)
        #expect(String(decoding: Array(text.utf8)[head.reason], as: UTF8.self) == "Not Found")
        #expect(head.fields.count == 2 && head.framing == .contentLength(3) && head.isKeepAlive)
        #expect(head.length == text.utf8.count - 3)
        #expect(self.head("HTTP/1.1 200\r\n\r\n")?.reason.isEmpty == true)
        #expect(self.head("HTTP/1.1 200 \r\n\r\n")?.reason.isEmpty == true)
    }

    @Test func framingOfRFC9112Section6_3() {
        #expect(head("HTTP/1.1 200 OK\r\n\r\n")?.framing == .untilClose)
        #expect(head("HTTP/1.1 200 OK\r\n\r\n")?.isKeepAlive == false)
        #expect(head("HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n")?.framing == .chunked)
        #expect(head("HTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\n", isHead: true)?.framing == HTTP1BodyFraming.none)
        #expect(head("HTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\n", isHead: true)?.isKeepAlive == true)
        #expect(head("HTTP/1.1 200 OK\r\n\r\n", isHead: true)?.isKeepAlive == false)
        #expect(head("HTTP/1.1 204 No Content\r\nContent-Length: 5\r\n\r\n")?.framing == HTTP1BodyFraming.none)
        #expect(
            head("HTTP/1.1 304 Not Modified\r\nTransfer-Encoding: chunked\r\n\r\n")?.framing == HTTP1BodyFraming.none
        )
        #expect(head("HTTP/1.1 200 OK\r\n\r\n", isConnect: true)?.framing == HTTP1BodyFraming.none)
        #expect(head("HTTP/1.1 407 No\r\nContent-Length: 2\r\n\r\n", isConnect: true)?.framing == .contentLength(2))
        let interim = head("HTTP/1.1 100 Continue\r\n\r\n")
        #expect(interim?.isInformational == true && interim?.framing == HTTP1BodyFraming.none)
        #expect(
            head("HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: upgrade\r\n\r\n")?
                .isInformational == false
        )
        #expect(head("HTTP/1.0 200 OK\r\nContent-Length: 1\r\n\r\n")?.isKeepAlive == false)
        #expect(head("HTTP/1.0 200 OK\r\nContent-Length: 1\r\nConnection: keep-alive\r\n\r\n")?.isKeepAlive == true)
    }

    @Test(arguments: [
        (
            "HTTP/1.1 200 OK\r\nContent-Length: 1\r\nTransfer-Encoding: chunked\r\n\r\n",
            HTTP1ParseError.contentLengthWithTransferEncoding
        ),
        ("HTTP/1.1 200 OK\r\nContent-Length: 1\r\nContent-Length: 1\r\n\r\n", .duplicateContentLength),
        ("HTTP/1.1 200 OK\r\nTransfer-Encoding: gzip\r\n\r\n", .invalidTransferEncoding),
        ("HTTP/1.1 200 OK\r\nTransfer-Encoding: gzip, chunked\r\n\r\n", .unsupportedTransferCoding),
        ("HTTP/1.0 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n", .invalidTransferEncoding),
        ("HTTP/1.1 200 OK\r\nX: a\r\n b\r\n\r\n", .obsFold),
        ("HTTP/1.1 2000 OK\r\n\r\n", .invalidStatusLine),
        ("HTTP/1.1 20 OK\r\n\r\n", .invalidStatusLine),
        ("HTTP/1.1 099 OK\r\n\r\n", .invalidStatusLine),
        ("HTTP/1.1 600 OK\r\n\r\n", .invalidStatusLine),
        ("HTTP/1.1  200 OK\r\n\r\n", .invalidStatusLine),
        ("HTTP/1.1 200 O\u{1}K\r\n\r\n", .invalidStatusLine),
        ("HTTP/2.0 200 OK\r\n\r\n", .invalidVersion),
        ("HTTP/1.1 200 OK\n\r\n", .invalidLineEnding),
    ])
    func refuses(text: String, expected: HTTP1ParseError) {
        #expect(error(text) == expected, "\(text.debugDescription)")
    }

    @Test(arguments: [
        "HTTP/1.1 200 OK\r\nContent-Length: 3\r\nConnection: keep-alive, x\r\n\r\nabc",
        "\r\nHTTP/1.0 304 Not Modified\r\nX: y\r\n\r\n",
        "HTTP/1.1 200 OK\r\nX: y\r\n z\r\n\r\n",
        "HTTP/1.1 200 OK\r\nX: y\n\r\n",
    ])
    func byteByByteFeedingMatchesOneFeed(text: String) {
        let bytes = Array(text.utf8)
        var whole = HTTP1ResponseHeadParser()
        let once = bytes.withUnsafeBytes { whole.parse($0) }
        var split = HTTP1ResponseHeadParser()
        var byByte = HTTP1HeadParseResult<HTTP1ResponseHead>.needMore
        for end in 1...bytes.count {
            byByte = bytes[..<end].withUnsafeBytes { split.parse($0) }
            if case .needMore = byByte { continue }
            break
        }
        switch (once, byByte) {
        case (.head(let a), .head(let b)):
            #expect(a.length == b.length && a.status == b.status && a.fields == b.fields && a.framing == b.framing)
            #expect(a.isKeepAlive == b.isKeepAlive && a.reason == b.reason)
        case (.error(let a), .error(let b)):
            #expect(a == b)
        default:
            Issue.record("one feed \(once), byte by byte \(byByte)")
        }
    }

    /// Our response parser against NIO's llhttp-based decoder, as the request differential test.
    @Test func agreesWithNIOOrIsStricter() {
        let seed = ProcessInfo.processInfo.environment["HTTP1WIRE_SEED"].flatMap { UInt64($0) } ?? 0x5EED_2026
        var generator = MessageCaseGenerator(seed: seed &+ 1)
        let cases = 3000
        var bothAccept = 0
        var bothRefuse = 0
        var stricter: [String: Int] = [:]
        var stricterKeepAlive = 0
        var disagreements: [String] = []
        for index in 0..<cases {
            let valid = generator.validResponse()
            let input = index % 5 == 0 ? valid : generator.mutated(valid)
            let isHead = generator.random.chance(0.1)
            let (ours, error) = decodeResponseWithWire(input, isHead: isHead)
            let nio = decodeResponseWithNIO(input, isHead: isHead)
            switch (ours, nio) {
            case (var mine?, var theirs?):
                bothAccept += 1
                if mine.isKeepAlive && !theirs.isKeepAlive {
                    disagreements.append(
                        "seed \(seed) case \(index) HEAD=\(isHead): keep-alive where NIO closes\n  input: "
                            + "\(String(decoding: input, as: UTF8.self).debugDescription)\n  ours: \(mine)\n  nio:  \(theirs)"
                    )
                } else if mine.isKeepAlive != theirs.isKeepAlive {
                    stricterKeepAlive += 1
                }
                theirs.isKeepAlive = mine.isKeepAlive
                mine.fields = mine.fields.map(Self.trimmed)
                theirs.fields = theirs.fields.map(Self.trimmed)
                mine.trailers = mine.trailers.map(Self.trimmed)
                theirs.trailers = theirs.trailers.map(Self.trimmed)
                if mine != theirs {
                    disagreements.append(
                        "seed \(seed) case \(index) HEAD=\(isHead): both accept, differently\n  input: "
                            + "\(String(decoding: input, as: UTF8.self).debugDescription)\n  ours: \(mine)\n  nio:  \(theirs)"
                    )
                }
            case (let mine?, nil):
                disagreements.append(
                    "seed \(seed) case \(index) HEAD=\(isHead): ours accepts, NIO refuses\n  input: "
                        + "\(String(decoding: input, as: UTF8.self).debugDescription)\n  ours: \(mine)"
                )
            case (nil, _?):
                stricter[error.map { "\($0)" } ?? "incomplete", default: 0] += 1
            case (nil, nil):
                bothRefuse += 1
            }
        }
        print(
            "HTTP1Wire response differential, seed \(seed): \(cases) cases, both accept \(bothAccept), "
                + "both refuse \(bothRefuse), ours stricter \(stricter.values.reduce(0, +)) "
                + "\(stricter.sorted { $0.key < $1.key }), ours closes where NIO keeps alive \(stricterKeepAlive), "
                + "disagreements \(disagreements.count)"
        )
        for disagreement in disagreements.prefix(10) { Issue.record("\(disagreement)") }
        #expect(disagreements.isEmpty)
    }

    private static func trimmed(_ field: String) -> String {
        var field = field
        while field.last == " " || field.last == "\t" { field.removeLast() }
        return field
    }
}
