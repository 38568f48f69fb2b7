import HTTP1Wire
import NIOCore
import NIOEmbedded
import NIOHTTP1

/// One response as either parser saw it, in plain values to compare.
struct DecodedResponse: Equatable, CustomStringConvertible {
    var status: Int
    var fields: [String]
    var isKeepAlive: Bool
    var body: [UInt8]
    var trailers: [String]

    var description: String {
        "\(status) fields=\(fields) keepAlive=\(isKeepAlive) body=\(body.count)B trailers=\(trailers)"
    }
}

/// Runs our response parser and body decoders over all of `input`, then the connection's end.
func decodeResponseWithWire(_ input: [UInt8], isHead: Bool) -> (DecodedResponse?, HTTP1ParseError?) {
    var parser = HTTP1ResponseHeadParser()
    let result = input.withUnsafeBytes { parser.parse($0, for: .init(isHead: isHead)) }
    guard case .head(let head) = result else {
        if case .error(let error) = result { return (nil, error) }
        return (nil, nil)
    }
    let text = { (range: Range<Int>) in String(decoding: input[range], as: UTF8.self) }
    var response = DecodedResponse(
        status: head.status,
        fields: head.fields.map { text($0.name).lowercased() + ": " + text($0.value) },
        isKeepAlive: head.isKeepAlive,
        body: [],
        trailers: []
    )
    let rest = Array(input[head.length...])
    switch head.framing {
    case .none:
        return (response, nil)
    case .untilClose:
        response.body = rest
        return (response, nil)
    case .contentLength(let length):
        guard rest.count >= length else { return (nil, nil) }
        response.body = Array(rest.prefix(length))
        return (response, nil)
    case .chunked:
        var decoder = ChunkedBodyDecoder()
        var offset = 0
        return rest.withUnsafeBytes { raw in
            while true {
                switch decoder.next(raw, offset: &offset) {
                case .needMore: return (nil, nil)
                case .chunk: break
                case .data(let range): response.body += raw[range]
                case .error(let error): return (nil, error)
                case .end(let trailers):
                    response.trailers = decoder.trailerFields.map { field in
                        let name = String(decoding: raw[field.name.shifted(trailers.lowerBound)], as: UTF8.self)
                        let value = String(decoding: raw[field.value.shifted(trailers.lowerBound)], as: UTF8.self)
                        return name.lowercased() + ": " + value
                    }
                    return (response, nil)
                }
            }
        }
    }
}

/// Runs NIO's response decoder (llhttp) after a GET or HEAD request, then closes the input.
func decodeResponseWithNIO(_ input: [UInt8], isHead: Bool) -> DecodedResponse? {
    let decoder = HTTPResponseDecoder(leftOverBytesStrategy: .dropBytes, informationalResponseStrategy: .forward)
    let channel = EmbeddedChannel(handler: ByteToMessageHandler(decoder))
    let request = HTTPRequestHead(version: .http1_1, method: isHead ? .HEAD : .GET, uri: "/")
    _ = try? channel.writeOutbound(HTTPClientRequestPart.head(request))
    _ = try? channel.writeInbound(ByteBuffer(bytes: input))
    _ = try? channel.finish()
    var parts: [HTTPClientResponsePart] = []
    while let part = try? channel.readInbound(as: HTTPClientResponsePart.self) { parts.append(part) }
    guard case .head(let head)? = parts.first else { return nil }
    var response = DecodedResponse(
        status: Int(head.status.code),
        fields: head.headers.map { $0.name.lowercased() + ": " + $0.value },
        isKeepAlive: head.isKeepAlive,
        body: [],
        trailers: []
    )
    for part in parts.dropFirst() {
        switch part {
        case .head: return nil
        case .body(let bytes): response.body += bytes.readableBytesView
        case .end(let trailers):
            response.trailers = trailers.map { $0.map { $0.name.lowercased() + ": " + $0.value } } ?? []
            return response
        }
    }
    return nil
}
