import HTTP1Wire
import NIOCore
import Testing

/// ``HTTP1RequestDecoder`` around requests that ask to switch protocols, and pipelined requests.
@Suite struct RequestDecoderTests {
    /// The events for what was read so far, as text: `head METHOD TARGET`, `body N`, `end`, or
    /// `error REASON` (which ends the list).
    private func events(_ decoder: inout HTTP1RequestDecoder) -> [String] {
        var events: [String] = []
        do {
            while let event = try decoder.next() {
                switch event {
                case .head(let head, let bytes):
                    let text = bytes.string(at:)
                    events.append("head \(text(head.method)) \(text(head.target))")
                case .body(let body): events.append("body \(body.readableBytes)")
                case .end: events.append("end")
                }
            }
        } catch {
            events.append("error \(error)")
        }
        return events
    }

    static let upgrade = "GET /ws HTTP/1.1\r\nHost: x\r\nConnection: Upgrade\r\nUpgrade: websocket\r\n\r\n"

    @Test func pipelinedRequestsComeOutInOrder() {
        var decoder = HTTP1RequestDecoder()
        decoder.read(
            ByteBuffer(
                string: "POST /a HTTP/1.1\r\nHost: x\r\nContent-Length: 3\r\n\r\nabc"
                    + "POST /b HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n2\r\nhi\r\n0\r\n\r\nGET /c HTTP/1.1\r\n"
            )
        )
        #expect(events(&decoder) == ["head POST /a", "body 3", "end", "head POST /b", "body 2", "end"])
        #expect(decoder.isWithinRequest)
        decoder.read(ByteBuffer(string: "Host: x\r\n\r\n"))
        #expect(events(&decoder) == ["head GET /c", "end"])
        #expect(!decoder.isWithinRequest)
    }

    @Test func bytesAfterARequestToSwitchWaitUntilTheServerAnswers() {
        var decoder = HTTP1RequestDecoder()
        // A WebSocket frame right behind the upgrade request: not HTTP, so not decoded.
        decoder.read(ByteBuffer(string: Self.upgrade))
        decoder.read(ByteBuffer(bytes: [0x81, 0x85, 1, 2, 3, 4, 0x69, 0x67, 0x6F, 0x68, 0x6E]))
        #expect(events(&decoder) == ["head GET /ws", "end"])
        #expect(decoder.isPaused)
        #expect(events(&decoder) == [])
        // The server switched: the frame is handed over as it came, and nothing more is decoded.
        #expect(decoder.takeUnreadBytes()?.readableBytes == 11)
        decoder.read(ByteBuffer(string: "GET / HTTP/1.1\r\nHost: x\r\n\r\n"))
        #expect(events(&decoder).first?.hasPrefix("error") == true)
    }

    @Test func aDeclinedSwitchDecodesTheNextRequest() {
        for next in [
            "GET /next HTTP/1.1\r\nHost: x\r\n\r\n", "CONNECT a.example:443 HTTP/1.1\r\nHost: a.example:443\r\n\r\n",
        ] {
            var decoder = HTTP1RequestDecoder()
            decoder.read(ByteBuffer(string: Self.upgrade + next))
            #expect(events(&decoder) == ["head GET /ws", "end"])
            decoder.resume()
            #expect(!decoder.isPaused)
            let decoded = events(&decoder)
            #expect(decoded.count == 2 && decoded[0].hasPrefix("head ") && decoded[1] == "end", "\(decoded)")
            // CONNECT asks to switch too.
            #expect(decoder.isPaused == next.hasPrefix("CONNECT"))
        }
    }

    @Test func anUpgradeFieldWithoutConnectionUpgradeDoesNotPause() {
        var decoder = HTTP1RequestDecoder()
        decoder.read(
            ByteBuffer(
                string: "GET /a HTTP/1.1\r\nHost: x\r\nUpgrade: websocket\r\n\r\nGET /b HTTP/1.1\r\nHost: x\r\n\r\n"
            )
        )
        #expect(events(&decoder) == ["head GET /a", "end", "head GET /b", "end"])
    }

    @Test func whatWaitsForTheAnswerIsBounded() {
        var decoder = HTTP1RequestDecoder(maxHeadBytes: 1024)
        decoder.read(ByteBuffer(string: Self.upgrade))
        #expect(events(&decoder) == ["head GET /ws", "end"])
        decoder.read(ByteBuffer(repeating: 0x41, count: 1024))
        #expect(events(&decoder) == [])
        decoder.read(ByteBuffer(repeating: 0x41, count: 1))
        #expect(events(&decoder) == ["error excessBytesBeforeSwitch"])
    }

    @Test func fieldNamesAndValuesAreLimitedTogetherAndEachAlone() {
        // 10 bytes of names and values allowed: Host and h are 5, a and 12345 are 6.
        var two = HTTP1RequestDecoder(maxFieldBytes: 10)
        two.read(ByteBuffer(string: "GET /x HTTP/1.1\r\nHost: h\r\na: 12345\r\n\r\n"))
        #expect(events(&two) == ["error headTooLarge"])
        #expect(two.hasFailed)
        #expect(two.refusedRequestLine?.method == "GET")
        var fits = HTTP1RequestDecoder(maxFieldBytes: 10)
        fits.read(ByteBuffer(string: "GET /x HTTP/1.1\r\nHost: h\r\na: 1234\r\n\r\n"))
        #expect(events(&fits) == ["head GET /x", "end"])
        var one = HTTP1RequestDecoder(maxFieldBytes: 10)
        one.read(ByteBuffer(string: "GET /x HTTP/1.1\r\nabcdef: 123456\r\n\r\n"))
        #expect(events(&one) == ["error headTooLarge"])
    }

    @Test func aRefusedHeadKeepsItsMethodForCounting() {
        var decoder = HTTP1RequestDecoder()
        decoder.read(ByteBuffer(string: "POST /x HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: gzip, chunked\r\n\r\n"))
        #expect(events(&decoder) == ["error unsupportedTransferCoding"])
        #expect(decoder.refusedRequestLine?.method == "POST")
        #expect(decoder.refusedRequestLine?.target == "/x")

        var garbage = HTTP1RequestDecoder()
        garbage.read(ByteBuffer(string: "BREW /pot HTTP/1.1\r\n\r\n"))
        #expect(events(&garbage) == ["error invalidMethod"])
        #expect(garbage.refusedRequestLine == nil)
    }
}
