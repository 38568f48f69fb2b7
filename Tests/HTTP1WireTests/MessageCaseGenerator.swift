/// Builds valid requests and responses and mutates them, for the differential tests.
struct MessageCaseGenerator {
    var random: SeededGenerator

    private static let methods = ["GET", "POST", "PUT", "DELETE", "HEAD", "OPTIONS", "PATCH"]
    private static let targets = [
        "/", "/jobs", "/jobs/7?x=1&y=%20", "/a/b/c.json", "/search?q=a+b", "/~u/!$&'()*+,;=:@", "/%7e?",
        "http://example.com/x", "http://a.example:8080/?q",
    ]
    private static let names = [
        "X-Trace", "Accept", "User-Agent", "X-Forwarded-For", "X-Request-ID", "Cookie", "Accept-Encoding", "a",
        "X_Under", "!#$%&'*+-.^_`|~",
    ]
    private static let values = [
        "1", "text/html, */*;q=0.8", "curl/8.0", "10.0.0.1, 10.0.0.2", "a b\tc", "", "\"quoted\"", "caf\u{E9}",
        String(repeating: "z", count: 300),
    ]
    private static let interestingBytes: [UInt8] =
        Array(" \t\r\n:;,\"\\-+0aAzZ/?#%\u{0}\u{7F}".utf8) + [0x80, 0xFF, 0x0B, 0x0C]

    init(seed: UInt64) { random = SeededGenerator(seed: seed) }

    /// A valid request, sometimes with a chunked or fixed-length body.
    mutating func validRequest() -> [UInt8] {
        var method = random.pick(Self.methods)
        var target = random.pick(Self.targets)
        if random.chance(0.05) {
            method = "OPTIONS"
            target = "*"
        }
        let version = random.chance(0.8) ? "HTTP/1.1" : "HTTP/1.0"
        var head = "\(method) \(target) \(version)\r\n"
        var fields: [String] = []
        if random.chance(0.9) { fields.append("Host: " + random.pick(["example.com", "a.example:8080", "[::1]"])) }
        for _ in 0..<random.int(0...4) {
            fields.append(
                random.pick(Self.names) + ":" + random.pick(["", " ", "  ", "\t"]) + random.pick(Self.values)
            )
        }
        if random.chance(0.4) {
            fields.append(
                "Connection: "
                    + random.pick([
                        "close", "keep-alive", "Keep-Alive", "close, x-hop", "x-hop", "CLOSE", "keep-alive\t",
                        "close\t",
                        "\tkeep-alive", "keep-alive ,x", "x,\tkeep-alive\t,y", "upgrade\t", "keep-alive, close",
                    ])
            )
        }
        if random.chance(0.1) { fields.append("Expect: 100-continue") }
        var body: [UInt8] = []
        switch random.int(0...2) {
        case 1:
            let length = random.int(0...40)
            fields.append("Content-Length: \(length)")
            body = (0..<length).map { _ in UInt8.random(in: 0...255, using: &random) }
        case 2 where version == "HTTP/1.1":
            fields.append("Transfer-Encoding: " + random.pick(["chunked", "Chunked", "CHUNKED"]))
            body = chunkedBody()
        default:
            break
        }
        fields.shuffle(using: &random)
        for field in fields { head += field + "\r\n" }
        head += "\r\n"
        return Array(head.utf8) + body
    }

    /// A valid final response (no 1xx), its body framed by length, chunks or the connection's end.
    mutating func validResponse() -> [UInt8] {
        let version = random.chance(0.8) ? "HTTP/1.1" : "HTTP/1.0"
        let status = random.pick([200, 201, 204, 301, 304, 404, 500, 503])
        var head = "\(version) \(status)" + random.pick([" OK", " Not Found", " ", "", " caf\u{E9} \t!"]) + "\r\n"
        var fields: [String] = []
        for _ in 0..<random.int(0...4) {
            fields.append(random.pick(Self.names) + ":" + random.pick(["", " ", "\t"]) + random.pick(Self.values))
        }
        if random.chance(0.3) {
            fields.append(
                "Connection: "
                    + random.pick(["close", "keep-alive", "x-hop", "keep-alive\t", "close\t", "\tkeep-alive"])
            )
        }
        var body: [UInt8] = []
        let bodyAllowed = status != 204 && status != 304
        switch random.int(0...2) {
        case 1:
            let length = bodyAllowed ? random.int(0...40) : 0
            fields.append("Content-Length: \(length)")
            body = (0..<length).map { _ in UInt8.random(in: 0...255, using: &random) }
        case 2 where version == "HTTP/1.1" && bodyAllowed:
            fields.append("Transfer-Encoding: chunked")
            body = chunkedBody()
        default:
            if bodyAllowed { body = (0..<random.int(0...20)).map { _ in UInt8.random(in: 0...255, using: &random) } }
        }
        fields.shuffle(using: &random)
        for field in fields { head += field + "\r\n" }
        return Array((head + "\r\n").utf8) + body
    }

    /// A chunked body, its size lines sometimes written in unusual ways.
    mutating func chunkedBody() -> [UInt8] {
        var body: [UInt8] = []
        for _ in 0..<random.int(1...4) {
            let size = random.int(1...20)
            body += Array((sizeLine(size) + "\r\n").utf8)
            body += (0..<size).map { _ in UInt8.random(in: 0...255, using: &random) }
            body += Array("\r\n".utf8)
        }
        body += Array((random.pick(["0", "000", "0;last"]) + "\r\n").utf8)
        if random.chance(0.3) { body += Array("X-Checksum: \(random.int(0...999))\r\n".utf8) }
        body += Array("\r\n".utf8)
        return body
    }

    private mutating func sizeLine(_ size: Int) -> String {
        var hex = String(size, radix: 16, uppercase: random.chance(0.5))
        if random.chance(0.1) { hex = "00" + hex }
        guard random.chance(0.3) else { return hex }
        return random.pick([
            hex + ";a", hex + ";a=b", hex + ";a=\"x y\"", hex + ";a=\"\\\"\"", hex + ";a;b=c", hex + "; a", hex + ";",
            hex + ";a=", hex + ";a=\"b", hex + ";a=b c", "+" + hex, "-" + hex, "0x" + hex, " " + hex, hex + " ",
            hex + "\t", "FFFFFFFFFFFFFFFFFF", "7FFFFFFFFFFFFFFF", hex + ";a=\u{1}", hex + "g",
        ])
    }

    /// `request` with one to three mutations.
    mutating func mutated(_ request: [UInt8]) -> [UInt8] {
        var bytes = request
        for _ in 0..<random.int(1...3) where !bytes.isEmpty {
            let position = random.int(0...(bytes.count - 1))
            let headEnd = Self.headEnd(bytes) ?? bytes.count
            let inHead = random.int(0...max(0, headEnd - 1))
            switch random.int(0...12) {
            case 11:
                // Next to a line end or a colon, where values, chunk sizes and tokens end and start.
                let marks =
                    Self.occurrences(of: [13, 10], in: bytes) + Self.occurrences(of: [58], in: bytes).map { $0 + 1 }
                if let mark = marks.randomElement(using: &random) {
                    bytes.insert(random.pick(Self.interestingBytes), at: mark)
                }
            case 12:
                if let lineEnd = Self.occurrences(of: [13, 10], in: bytes).randomElement(using: &random) {
                    bytes.insert(
                        contentsOf: Array(random.pick([" ", "\t", " \t", ",", ", ", ";", "\u{0}", "\u{80}"]).utf8),
                        at: lineEnd
                    )
                }
            case 0: bytes.insert(random.pick(Self.interestingBytes), at: position)
            case 1: bytes.remove(at: position)
            case 2: bytes.insert(bytes[position], at: position)
            case 3:
                if let crlf = Self.occurrences(of: [13, 10], in: bytes).randomElement(using: &random) {
                    bytes.replaceSubrange(
                        crlf..<(crlf + 2),
                        with: random.pick([[10], [13], [13, 13, 10], [10, 13], [13, 10, 32]])
                    )
                }
            case 4:
                if let colon = Self.occurrences(of: [58], in: Array(bytes[..<headEnd])).randomElement(using: &random) {
                    bytes.insert(random.pick([32, 9]), at: colon)
                }
            case 5:
                bytes.insert(contentsOf: Array(random.pick(["\r\n ", "\r\n\t", "\r\n x\r\n"]).utf8), at: inHead)
            case 6:
                if let lineEnd = Self.occurrences(of: [13, 10], in: bytes).first {
                    let field = random.pick([
                        "Content-Length: 3", "Content-Length: 0", "Content-Length: 1,1", "Content-Length:  5 ",
                        "Content-Length: +5", "Content-Length: 99999999999999999999", "Transfer-Encoding: chunked",
                        "Transfer-Encoding: gzip, chunked", "Transfer-Encoding: chunked, identity",
                        "Transfer-Encoding : chunked", "Transfer-Encoding: \tchunked", "Transfer-Encoding: xchunked",
                        "Transfer-Encoding: chunked\r\n x", "Transfer-Encoding:chunked", "Transfer-Encoding: identity",
                        "Content-Length:\t3", "Content-Length: 3\t", "Transfer-Encoding: chunked\t",
                        "Transfer-Encoding:\tchunked ", "Transfer-Encoding: chunked\t,chunked",
                        "Connection: close", "Host: b", "X: \u{1}", "Content-Length:", "Transfer-Encoding:",
                    ])
                    bytes.insert(contentsOf: Array((field + "\r\n").utf8), at: lineEnd + 2)
                }
            case 7:
                let byte = bytes[inHead]
                if (65...90).contains(byte) || (97...122).contains(byte) { bytes[inHead] = byte ^ 0x20 }
            case 8:
                if let version = Self.occurrences(of: Array("HTTP/1.".utf8), in: bytes).first {
                    let replacement = random.pick([
                        "HTTP/1.2", "HTTP/2.0", "HTTP/0.9", "http/1.1", "HTTP/1.1 ", "HTTP/11", "HTTP/1.10",
                    ])
                    bytes.replaceSubrange(version..<min(bytes.count, version + 8), with: Array(replacement.utf8))
                }
            case 9:
                bytes.insert(random.pick(Self.interestingBytes), at: inHead)
            default:
                if let space = Self.occurrences(of: [32], in: Array(bytes[..<headEnd])).first {
                    bytes.insert(contentsOf: Array(random.pick([" ", "\t", "x", "/"]).utf8), at: space)
                }
            }
        }
        return bytes
    }

    static func headEnd(_ bytes: [UInt8]) -> Int? {
        occurrences(of: [13, 10, 13, 10], in: bytes).first.map { $0 + 4 }
    }

    static func occurrences(of needle: [UInt8], in bytes: [UInt8]) -> [Int] {
        guard bytes.count >= needle.count else { return [] }
        return (0...(bytes.count - needle.count)).filter { bytes[$0..<($0 + needle.count)].elementsEqual(needle) }
    }
}
