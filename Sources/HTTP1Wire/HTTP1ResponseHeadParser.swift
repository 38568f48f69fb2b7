import NIOCore

/// Parses response heads by recording offsets, with the framing rules of RFC 9112 §6.3.
///
/// Feeding works as for ``HTTP1RequestHeadParser``: the unconsumed bytes from the head's start,
/// again with more after them after `.needMore`.
public struct HTTP1ResponseHeadParser: Sendable {
    /// What the request this response answers changes about its framing.
    public struct Request: Equatable, Hashable, Sendable {
        /// The request was HEAD: no body whatever the fields say.
        public var isHead: Bool
        /// The request was CONNECT: a 2xx starts a tunnel, no body.
        public var isConnect: Bool

        /// A request of this kind.
        public init(isHead: Bool = false, isConnect: Bool = false) {
            self.isHead = isHead
            self.isConnect = isConnect
        }
    }

    /// The most bytes a head may take.
    public let maxHeadBytes: Int
    /// The most field lines a head may have.
    public let maxFieldCount: Int
    private var scanner: HTTP1HeadScanner
    private var finished = false
    private var version = HTTP1Version.http1_1
    private var status = 0
    private var reason = 0..<0

    /// A parser with these limits.
    public init(maxHeadBytes: Int = 80 * 1024, maxFieldCount: Int = 512) {
        self.maxHeadBytes = maxHeadBytes
        self.maxFieldCount = maxFieldCount
        self.scanner = HTTP1HeadScanner(
            maxHeadBytes: maxHeadBytes,
            maxFieldCount: maxFieldCount,
            hasStartLine: true,
            gathersFacts: true
        )
    }

    /// Forgets a partly scanned head.
    public mutating func reset() {
        scanner.reset()
        finished = false
    }

    /// Parses the readable bytes of `buffer` (the reader index is not moved).
    public mutating func parse(
        _ buffer: ByteBuffer,
        for request: Request = Request()
    ) -> HTTP1HeadParseResult<HTTP1ResponseHead> {
        buffer.withUnsafeReadableBytes { parse($0, for: request) }
    }

    /// Parses `bytes`, which start at the head's first byte.
    public mutating func parse(
        _ bytes: UnsafeRawBufferPointer,
        for request: Request = Request()
    ) -> HTTP1HeadParseResult<HTTP1ResponseHead> {
        if finished { reset() }
        while true {
            switch scanner.scan(bytes) {
            case .needMore:
                return .needMore
            case .error(let error):
                finished = true
                return .error(error)
            case .startLine(let line):
                if let error = takeStatusLine(line, in: bytes) {
                    finished = true
                    return .error(error)
                }
            case .end(let length):
                finished = true
                return finish(length: length, request: request)
            }
        }
    }

    private func finish(length: Int, request: Request) -> HTTP1HeadParseResult<HTTP1ResponseHead> {
        let facts = scanner.facts
        let transferCoding = facts.transferCoding(version)
        if case .failure(let error)? = transferCoding { return .error(error) }
        let framing: HTTP1BodyFraming
        if status < 200 || request.isHead || status == 204 || status == 304 || (request.isConnect && status < 300) {
            framing = .none
        } else if transferCoding != nil {
            framing = .chunked
        } else if let contentLength = facts.contentLength {
            framing = .contentLength(contentLength)
        } else {
            framing = .untilClose
        }
        // A response to HEAD that gives no length (a GET would read to the close) closes the
        // connection, as NIO's decoder: nothing then guards against a body sent anyway.
        let headWithoutLength =
            request.isHead && status >= 200 && status != 204 && status != 304 && transferCoding == nil
            && facts.contentLength == nil
        return .head(
            HTTP1ResponseHead(
                length: length,
                version: version,
                status: status,
                reason: reason,
                fields: scanner.fields,
                facts: facts,
                framing: framing,
                isKeepAlive: framing != .untilClose && !headWithoutLength && facts.keepsAlive(version)
            )
        )
    }

    /// Checks `HTTP/1.x SP 3DIGIT [SP reason]`.
    private mutating func takeStatusLine(_ line: Range<Int>, in bytes: UnsafeRawBufferPointer) -> HTTP1ParseError? {
        let start = line.lowerBound
        guard line.count >= 12 else { return .invalidStatusLine }
        if bytes.equals(start..<(start + 8), "HTTP/1.1") {
            version = .http1_1
        } else if bytes.equals(start..<(start + 8), "HTTP/1.0") {
            version = .http1_0
        } else {
            return .invalidVersion
        }
        guard bytes[start + 8] == HTTP1ByteClass.space else { return .invalidStatusLine }
        var code = 0
        for offset in (start + 9)..<(start + 12) {
            let byte = bytes[offset]
            guard byte >= UInt8(ascii: "0"), byte <= UInt8(ascii: "9") else { return .invalidStatusLine }
            code = code * 10 + Int(byte - UInt8(ascii: "0"))
        }
        guard (100...599).contains(code) else { return .invalidStatusLine }
        status = code
        if line.count == 12 {
            reason = line.upperBound..<line.upperBound
            return nil
        }
        guard bytes[start + 12] == HTTP1ByteClass.space else { return .invalidStatusLine }
        for offset in (start + 13)..<line.upperBound where !HTTP1ByteClass.isFieldValue(bytes[offset]) {
            return .invalidStatusLine
        }
        reason = (start + 13)..<line.upperBound
        return nil
    }
}
