import HTTP1Wire
import NIOCore
import NIOEmbedded
import NIOHTTP1

/// One request as either parser saw it, in plain values to compare.
struct DecodedRequest: Equatable, CustomStringConvertible {
    var method: String
    var target: String
    var fields: [String]
    var isKeepAlive: Bool
    var body: [UInt8]
    var trailers: [String]

    var description: String {
        "\(method) \(target) fields=\(fields) keepAlive=\(isKeepAlive) body=\(body.count)B trailers=\(trailers)"
    }
}

/// How a parser ended on some bytes.
enum DecodeOutcome: Equatable {
    case accepted(DecodedRequest)
    case rejected(String)
    case incomplete

    var request: DecodedRequest? {
        if case .accepted(let request) = self { return request }
        return nil
    }
}

/// What our parsers saw, beyond what NIO can say: the framing details.
struct OurDetails {
    var head: HTTP1RequestHead?
    var chunkSizes: [Int] = []
    var consumed = 0
    var error: HTTP1ParseError?
}

/// Runs our head parser and body decoders over `input` delivered in pieces of the given sizes
/// (the rest in one piece), keeping unconsumed bytes as a receive buffer would.
func decodeWithWire(
    _ input: [UInt8],
    pieces: [Int] = [],
    parser: inout HTTP1RequestHeadParser,
    maxBodyBytes: Int = .max
) -> (DecodeOutcome, OurDetails) {
    var details = OurDetails()
    var buffer: [UInt8] = []
    var cursor = 0
    var sizes = pieces.filter { $0 > 0 }
    if cursor + sizes.reduce(0, +) < input.count { sizes.append(input.count - sizes.reduce(0, +)) }
    enum Phase { case head, length(Int), chunked, done }
    var phase = Phase.head
    var decoder = ChunkedBodyDecoder(maxBodyBytes: maxBodyBytes)
    var request = DecodedRequest(method: "", target: "", fields: [], isKeepAlive: false, body: [], trailers: [])
    for size in sizes {
        let end = min(input.count, cursor + size)
        buffer += input[cursor..<end]
        cursor = end
        feeding: while true {
            switch phase {
            case .done:
                return (.accepted(request), details)
            case .head:
                let result = buffer.withUnsafeBytes { parser.parse($0) }
                switch result {
                case .needMore:
                    break feeding
                case .error(let error):
                    details.error = error
                    return (.rejected("\(error)"), details)
                case .head(let head):
                    details.head = head
                    let text = { (range: Range<Int>) in String(decoding: buffer[range], as: UTF8.self) }
                    request.method = text(head.method)
                    request.target = text(head.target)
                    request.fields = head.fields.map { text($0.name).lowercased() + ": " + text($0.value) }
                    request.isKeepAlive = head.isKeepAlive
                    buffer.removeFirst(head.length)
                    details.consumed += head.length
                    switch head.framing {
                    case .none, .contentLength(0): phase = .done
                    case .contentLength(let length):
                        guard length <= maxBodyBytes else {
                            details.error = .bodyTooLarge
                            return (.rejected("bodyTooLarge"), details)
                        }
                        phase = .length(length)
                    case .chunked: phase = .chunked
                    case .untilClose: return (.rejected("untilClose in a request"), details)
                    }
                }
            case .length(let remaining):
                let take = min(remaining, buffer.count)
                request.body += buffer.prefix(take)
                buffer.removeFirst(take)
                details.consumed += take
                if take == remaining {
                    phase = .done
                } else {
                    phase = .length(remaining - take)
                    break feeding
                }
            case .chunked:
                var offset = 0
                var failure: HTTP1ParseError?
                var finished = false
                buffer.withUnsafeBytes { raw in
                    events: while true {
                        switch decoder.next(raw, offset: &offset) {
                        case .needMore: break events
                        case .chunk(let size): details.chunkSizes.append(size)
                        case .data(let range): request.body += raw[range]
                        case .error(let error):
                            failure = error
                            break events
                        case .end(let trailers):
                            request.trailers = decoder.trailerFields.map { field in
                                let name = String(decoding: raw[field.name.shifted(trailers.lowerBound)], as: UTF8.self)
                                let value = String(
                                    decoding: raw[field.value.shifted(trailers.lowerBound)],
                                    as: UTF8.self
                                )
                                return name.lowercased() + ": " + value
                            }
                            finished = true
                            break events
                        }
                    }
                }
                if let failure {
                    details.error = failure
                    return (.rejected("\(failure)"), details)
                }
                buffer.removeFirst(offset)
                details.consumed += offset
                if finished { phase = .done } else { break feeding }
            }
        }
    }
    if case .done = phase { return (.accepted(request), details) }
    return (.incomplete, details)
}

extension Range<Int> {
    func shifted(_ by: Int) -> Range<Int> { (lowerBound + by)..<(upperBound + by) }
}

/// Runs NIO's request decoder (llhttp) over `input` in one read, then closes the input; also gives
/// the sizes of the body parts NIO emitted (one per chunk, as llhttp reports them).
func decodeWithNIO(_ input: [UInt8]) -> (DecodeOutcome, bodyParts: [Int]) {
    let channel = EmbeddedChannel(handler: ByteToMessageHandler(HTTPRequestDecoder()))
    var failure: (any Error)?
    do {
        try channel.writeInbound(ByteBuffer(bytes: input))
    } catch {
        failure = error
    }
    var parts: [HTTPServerRequestPart] = []
    while let part = try? channel.readInbound(as: HTTPServerRequestPart.self) { parts.append(part) }
    _ = try? channel.finish()
    guard case .head(let head)? = parts.first else {
        return (failure.map { .rejected("\($0)") } ?? .incomplete, [])
    }
    var bodyParts: [Int] = []
    var request = DecodedRequest(
        method: head.method.rawValue,
        target: head.uri,
        fields: head.headers.map { $0.name.lowercased() + ": " + $0.value },
        isKeepAlive: head.isKeepAlive,
        body: [],
        trailers: []
    )
    for part in parts.dropFirst() {
        switch part {
        case .head: return (.rejected("second head before end"), bodyParts)
        case .body(let bytes):
            request.body += bytes.readableBytesView
            bodyParts.append(bytes.readableBytes)
        case .end(let trailers):
            request.trailers = trailers.map { $0.map { $0.name.lowercased() + ": " + $0.value } } ?? []
            return (.accepted(request), bodyParts)
        }
    }
    return (failure.map { .rejected("\($0)") } ?? .incomplete, bodyParts)
}

/// Runs ``HTTP1RequestDecoder``, which the proxy uses, over `input` in pieces of the given sizes:
/// the first request as it came out (method, target, body bytes), its error, or `.incomplete`.
func decodeWithRequestDecoder(_ input: [UInt8], pieces: [Int] = []) -> DecodeOutcome {
    var decoder = HTTP1RequestDecoder()
    var request = DecodedRequest(method: "", target: "", fields: [], isKeepAlive: false, body: [], trailers: [])
    var cursor = 0
    var sizes = pieces.filter { $0 > 0 }
    if sizes.reduce(0, +) < input.count { sizes.append(input.count - sizes.reduce(0, +)) }
    for size in sizes {
        let end = min(input.count, cursor + size)
        decoder.read(ByteBuffer(bytes: input[cursor..<end]))
        cursor = end
        do {
            while let event = try decoder.next() {
                switch event {
                case .head(let head, let bytes):
                    let text = bytes.string(at:)
                    request.method = text(head.method)
                    request.target = text(head.target)
                    request.fields = head.fields.map { text($0.name).lowercased() + ": " + text($0.value) }
                    request.isKeepAlive = head.isKeepAlive
                case .body(let body):
                    request.body += body.readableBytesView
                case .end:
                    return .accepted(request)
                }
            }
        } catch {
            return .rejected("\(error)")
        }
    }
    return .incomplete
}
