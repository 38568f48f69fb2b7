import Foundation
import HTTP1Wire
import NIOCore
import Testing

/// ``HTTP1ResponseDecoder``, the streaming form of the response parser and chunked decoder that
/// the upstream connection runs: fed in random pieces, it must decode each generated response as
/// the one-shot driver does (which the NIO differential test checks against llhttp).
@Suite("HTTP1ResponseDecoder")
struct ResponseDecoderTests {
    /// Feeds `input` in pieces of random length, then the connection's end.
    private func decode(
        _ input: [UInt8],
        isHead: Bool,
        random: inout SeededGenerator
    ) -> (DecodedResponse?, HTTP1ResponseDecoder.Failure?) {
        var decoder = HTTP1ResponseDecoder()
        decoder.expectResponse(to: .init(isHead: isHead))
        var response: DecodedResponse?
        var ended = false
        func take(_ event: HTTP1ResponseDecoder.Event) {
            switch event {
            case .head(let head, let bytes):
                let text = bytes.string(at:)
                response = DecodedResponse(
                    status: head.status,
                    fields: head.fields.map { text($0.name).lowercased() + ": " + text($0.value) },
                    isKeepAlive: head.isKeepAlive,
                    body: [],
                    trailers: []
                )
            case .body(let body):
                response?.body += body.readableBytesView
            case .end(let reusable):
                response?.isKeepAlive = reusable
                ended = true
            }
        }
        do {
            var offset = 0
            while offset < input.count && !ended {
                let length = min(input.count - offset, random.int(1...64))
                decoder.read(ByteBuffer(bytes: input[offset..<(offset + length)]))
                offset += length
                while !ended, let event = try decoder.next() { take(event) }
            }
            if !ended, let event = try decoder.inputClosed() { take(event) }
        } catch {
            return (nil, error)
        }
        return (ended ? response : nil, nil)
    }

    @Test func agreesWithTheOneShotParserInAnyPieces() {
        let seed = ProcessInfo.processInfo.environment["HTTP1WIRE_SEED"].flatMap { UInt64($0) } ?? 0x5EED_2026
        var generator = MessageCaseGenerator(seed: seed &+ 2)
        var disagreements: [String] = []
        var decoded = 0
        for index in 0..<3000 {
            let valid = generator.validResponse()
            let input = index % 3 == 0 ? valid : generator.mutated(valid)
            let isHead = generator.random.chance(0.1)
            var (reference, _) = decodeResponseWithWire(input, isHead: isHead)
            var (streamed, failure) = decode(input, isHead: isHead, random: &generator.random)
            // The decoder drops trailers; the proxy does not forward them.
            reference?.trailers = []
            streamed?.trailers = []
            if let reference, let streamed {
                decoded += 1
                // Reuse as the head allows (a body delimited by the close never allows it).
                if streamed != reference {
                    disagreements.append("case \(index): \(streamed) vs \(reference)")
                }
            } else if (reference == nil) != (streamed == nil) {
                let text = String(decoding: input, as: UTF8.self).debugDescription
                disagreements.append(
                    "case \(index) HEAD=\(isHead): decoder \(streamed.map { "\($0)" } ?? "\(failure.map { "\($0)" } ?? "nil")"), one-shot \(reference.map { "\($0)" } ?? "nil")\n  \(text)"
                )
            }
        }
        print(
            "HTTP1ResponseDecoder, seed \(seed): \(decoded) of 3000 decoded alike, disagreements \(disagreements.count)"
        )
        for disagreement in disagreements.prefix(10) { Issue.record("\(disagreement)") }
        #expect(disagreements.isEmpty)
        #expect(decoded > 500)
    }

    @Test func keepAliveResponsesFollowOneAnotherOnOneConnection() throws {
        var decoder = HTTP1ResponseDecoder()
        decoder.expectResponse(to: .init())
        decoder.read(ByteBuffer(string: "HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nokHTTP/1.1 200 OK\r\n"))
        guard case .head? = try decoder.next(), case .body? = try decoder.next(),
            case .end(let reusable)? = try decoder.next()
        else {
            Issue.record("expected head, body, end")
            return
        }
        #expect(reusable)
        // The next response's bytes came before its request was sent: the connection is unusable.
        #expect(throws: HTTP1ResponseDecoder.Failure.unsolicited) { try decoder.next() }
    }

    @Test func aResponseCutShortIsTruncated() throws {
        var decoder = HTTP1ResponseDecoder()
        decoder.expectResponse(to: .init())
        decoder.read(ByteBuffer(string: "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nab"))
        while try decoder.next() != nil {}
        #expect(throws: HTTP1ResponseDecoder.Failure.truncated) { try decoder.inputClosed() }
    }
}
