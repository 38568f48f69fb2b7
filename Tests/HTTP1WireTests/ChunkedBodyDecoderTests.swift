import HTTP1Wire
import NIOCore
import Testing

@Suite struct ChunkedBodyDecoderTests {
    /// What decoding gave, in plain values.
    struct Decoded: Equatable {
        var chunks: [Int] = []
        var payload: [UInt8] = []
        var trailers: [String] = []
        var consumed = 0
        var error: HTTP1ParseError?
        var finished = false
    }

    /// Decodes `text` in pieces of `piece` bytes (all at once when nil), keeping what the decoder
    /// leaves unconsumed as a receive buffer would.
    private func decode(_ text: String, piece: Int? = nil, maxBodyBytes: Int = .max) -> Decoded {
        let input = Array(text.utf8)
        var decoder = ChunkedBodyDecoder(maxBodyBytes: maxBodyBytes)
        var decoded = Decoded()
        var buffer: [UInt8] = []
        var cursor = 0
        while cursor < input.count {
            let end = min(input.count, cursor + (piece ?? input.count))
            buffer += input[cursor..<end]
            cursor = end
            var offset = 0
            buffer.withUnsafeBytes { raw in
                while true {
                    switch decoder.next(raw, offset: &offset) {
                    case .needMore: return
                    case .chunk(let size): decoded.chunks.append(size)
                    case .data(let range): decoded.payload += raw[range]
                    case .error(let error):
                        decoded.error = error
                        return
                    case .end(let trailers):
                        decoded.trailers = decoder.trailerFields.map {
                            String(
                                decoding: raw[
                                    trailers.lowerBound + $0.name.lowerBound..<trailers.lowerBound + $0.value.upperBound
                                ],
                                as: UTF8.self
                            )
                        }
                        decoded.finished = true
                        return
                    }
                }
            }
            buffer.removeFirst(offset)
            decoded.consumed += offset
            if decoded.error != nil || decoded.finished { break }
        }
        return decoded
    }

    @Test func decodesChunksAsRanges() {
        let decoded = decode("5\r\nhello\r\n00A\r\n0123456789\r\n0\r\n\r\nNEXT")
        #expect(decoded.chunks == [5, 10])
        #expect(decoded.payload == Array("hello0123456789".utf8))
        #expect(decoded.finished && decoded.trailers.isEmpty)
        #expect(decoded.consumed == 32)
    }

    @Test func acceptsExtensionsAndTrailers() {
        let decoded = decode("a;x\r\n0123456789\r\n1;y=z;q=\"a \\\" b\"\r\n!\r\n0;last\r\nX-Sum: 1\r\nY:\r\n\r\n")
        #expect(decoded.error == nil)
        #expect(decoded.chunks == [10, 1])
        #expect(decoded.trailers == ["X-Sum: 1", "Y:"])
    }

    @Test(arguments: [
        ("\r\n", HTTP1ParseError.invalidChunkSize),
        ("+5\r\nhello\r\n0\r\n\r\n", .invalidChunkSize),
        ("-5\r\nhello\r\n0\r\n\r\n", .invalidChunkSize),
        ("0x5\r\nhello\r\n0\r\n\r\n", .invalidChunkSize),
        (" 5\r\nhello\r\n0\r\n\r\n", .invalidChunkSize),
        ("5 \r\nhello\r\n0\r\n\r\n", .invalidChunkSize),
        ("g\r\n", .invalidChunkSize),
        ("8000000000000000\r\n", .invalidChunkSize),
        ("FFFFFFFFFFFFFFFFF\r\n", .invalidChunkSize),
        ("5\nhello\r\n0\r\n\r\n", .invalidChunkSize),
        ("5\r\rhello\r\n0\r\n\r\n", .invalidLineEnding),
        ("5;\r\nhello\r\n0\r\n\r\n", .invalidChunkExtension),
        ("5; a\r\nhello\r\n0\r\n\r\n", .invalidChunkExtension),
        ("5;a =b\r\nhello\r\n0\r\n\r\n", .invalidChunkExtension),
        ("5;a=\r\nhello\r\n0\r\n\r\n", .invalidChunkExtension),
        ("5;a=b=c\r\nhello\r\n0\r\n\r\n", .invalidChunkExtension),
        ("5;a=\"b\r\nhello\r\n0\r\n\r\n", .invalidChunkExtension),
        ("5;a=\"b\"c\r\nhello\r\n0\r\n\r\n", .invalidChunkExtension),
        ("5;a\u{0}\r\nhello\r\n0\r\n\r\n", .invalidChunkExtension),
        ("5\r\nhelloX\r\n0\r\n\r\n", .invalidChunkTerminator),
        ("5\r\nhello\n0\r\n\r\n", .invalidChunkTerminator),
        ("5\r\nhello\r0\r\n\r\n", .invalidChunkTerminator),
        ("0\r\nX: 1\r\n y\r\n\r\n", .obsFold),
        ("0\r\nX : 1\r\n\r\n", .invalidFieldName),
        ("0\r\nX: 1\n\r\n", .invalidLineEnding),
        ("0\r\n\n", .invalidLineEnding),
    ])
    func refuses(text: String, expected: HTTP1ParseError) {
        #expect(decode(text).error == expected, "\(text.debugDescription)")
        #expect(decode(text, piece: 1).error == expected, "byte by byte: \(text.debugDescription)")
    }

    @Test func bodyLimitRefusesAtTheSizeLine() {
        #expect(decode("5\r\nhello\r\n6\r\n", maxBodyBytes: 10).error == .bodyTooLarge)
        #expect(decode("5\r\nhello\r\n5\r\nhello\r\n0\r\n\r\n", maxBodyBytes: 10).finished)
    }

    @Test func longSizeLinesAreRefused() {
        let zeros = String(repeating: "0", count: 5000)
        #expect(decode(zeros + "5\r\nhello\r\n0\r\n\r\n").error == .invalidChunkSize)
    }

    @Test(arguments: [
        "5\r\nhello\r\n1a;n=\"v\"\r\nabcdefghijklmnopqrstuvwxyz\r\n0\r\nA: 1\r\nB-C: 2 3\r\n\r\n",
        "1\r\nx\r\n0\r\n\r\n",
        "3\r\nabc\r\n0\r\nA: 1\r\n",
        "3\r\nabc\r\n0\r\nA: 1\r\n\r",
    ])
    func anySplitGivesTheSameResult(text: String) {
        let whole = decode(text)
        for piece in 1...7 {
            #expect(decode(text, piece: piece) == whole, "pieces of \(piece)")
        }
    }
}

/// The encoder's framing, read back by the decoder: the same bytes, and no chunk for empty data.
@Test func chunkedEncodingRoundTrips() {
    var wire = ByteBuffer()
    for piece in ["hello", "", String(repeating: "x", count: 300)] {
        ChunkedBodyEncoder.writeChunk(ByteBuffer(string: piece), allocator: ByteBufferAllocator()) {
            var part = $0
            wire.writeBuffer(&part)
        }
    }
    var last = ChunkedBodyEncoder.lastChunk
    wire.writeBuffer(&last)
    #expect(String(buffer: wire).hasPrefix("5\r\nhello\r\n12c\r\n"))
    var decoder = ChunkedBodyDecoder()
    var body: [UInt8] = []
    var ended = false
    wire.withUnsafeReadableBytes { raw in
        var offset = 0
        loop: while true {
            switch decoder.next(raw, offset: &offset) {
            case .data(let range): body += raw[range]
            case .chunk: continue
            case .end: ended = true; break loop
            case .needMore, .error: break loop
            }
        }
    }
    #expect(ended)
    #expect(String(decoding: body, as: UTF8.self) == "hello" + String(repeating: "x", count: 300))
}
