import NIOCore

/// Parses request heads by recording offsets, without building header objects.
///
/// Feed it the unconsumed bytes from the start of the head, again with more after them whenever it
/// answers `.needMore`; it resumes where it stopped. After `.head`, the next call starts a new head
/// at the first byte given. Drop the returned head before the next one so the field storage is reused.
public struct HTTP1RequestHeadParser: Sendable {
    /// The most bytes a head may take, CRLFs included; more is ``HTTP1ParseError/headTooLarge``.
    public let maxHeadBytes: Int
    /// The most field lines a head may have.
    public let maxFieldCount: Int
    private var scanner: HTTP1HeadScanner
    private var finished = false
    private var method = 0..<0
    private var target = 0..<0
    private var targetForm = HTTP1TargetForm.origin
    private var version = HTTP1Version.http1_1
    private var methodIsHead = false
    private var methodIsKnown = false

    /// After an `.error`: the method's and target's offsets when the method was one of the known
    /// ones (the target is empty when the request line ended before it), so a refusal can still be
    /// counted and logged under its method; `nil` when the start line was not a request line.
    public var refusedRequestLine: (method: Range<Int>, target: Range<Int>)? {
        methodIsKnown ? (method, target) : nil
    }

    /// A parser with these limits (80 KiB by default, as NIO's decoder).
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
        methodIsKnown = false
        target = 0..<0
    }

    /// Parses the readable bytes of `buffer` (the reader index is not moved).
    public mutating func parse(_ buffer: ByteBuffer) -> HTTP1HeadParseResult<HTTP1RequestHead> {
        buffer.withUnsafeReadableBytes { parse($0) }
    }

    /// Parses `bytes`, which start at the head's first byte.
    public mutating func parse(_ bytes: UnsafeRawBufferPointer) -> HTTP1HeadParseResult<HTTP1RequestHead> {
        if finished { reset() }
        while true {
            switch scanner.scan(bytes) {
            case .needMore:
                return .needMore
            case .error(let error):
                finished = true
                return .error(error)
            case .startLine(let line):
                if let error = takeRequestLine(line, in: bytes) {
                    finished = true
                    return .error(error)
                }
            case .end(let length):
                finished = true
                return finish(length: length)
            }
        }
    }

    private func finish(length: Int) -> HTTP1HeadParseResult<HTTP1RequestHead> {
        let facts = scanner.facts
        let framing: HTTP1BodyFraming
        switch facts.transferCoding(version) {
        case .failure(let error)?: return .error(error)
        case .success(let coding)?: framing = coding
        case nil: framing = facts.contentLength.map { .contentLength($0) } ?? .none
        }
        return .head(
            HTTP1RequestHead(
                length: length,
                method: method,
                target: target,
                targetForm: targetForm,
                version: version,
                isHead: methodIsHead,
                isConnect: targetForm == .authority,
                fields: scanner.fields,
                facts: facts,
                framing: framing,
                isKeepAlive: facts.keepsAlive(version)
            )
        )
    }

    /// Checks `method SP target SP version` and records its parts.
    private mutating func takeRequestLine(_ line: Range<Int>, in bytes: UnsafeRawBufferPointer) -> HTTP1ParseError? {
        var offset = line.lowerBound
        while offset < line.upperBound, bytes[offset] != HTTP1ByteClass.space { offset += 1 }
        method = line.lowerBound..<offset
        guard offset < line.upperBound, let known = HTTP1RequestHeadParser.knownMethod(bytes, method) else {
            return .invalidMethod
        }
        methodIsHead = known == .head
        methodIsKnown = true
        let targetStart = offset + 1
        offset = targetStart
        while offset < line.upperBound, bytes[offset] != HTTP1ByteClass.space { offset += 1 }
        target = targetStart..<offset
        guard offset < line.upperBound, !target.isEmpty else { return .invalidTarget }
        let versionRange = (offset + 1)..<line.upperBound
        if bytes.equals(versionRange, "HTTP/1.1") {
            version = .http1_1
        } else if bytes.equals(versionRange, "HTTP/1.0") {
            version = .http1_0
        } else {
            return .invalidVersion
        }
        guard let form = HTTP1RequestTarget.form(of: target, in: bytes, isConnect: known == .connect) else {
            return .invalidTarget
        }
        if form == .asterisk, known != .options { return .invalidTarget }
        targetForm = form
        return nil
    }

    private enum KnownMethod { case head, connect, options, other }

    /// llhttp's HTTP methods but PRI (the HTTP/2 preface).
    private static let methods: [StaticString] = [
        "GET", "HEAD", "POST", "PUT", "DELETE", "CONNECT", "OPTIONS", "TRACE", "PATCH", "COPY", "LOCK", "MKCOL",
        "MOVE", "PROPFIND", "PROPPATCH", "SEARCH", "UNLOCK", "BIND", "REBIND", "UNBIND", "ACL", "REPORT",
        "MKACTIVITY", "CHECKOUT", "MERGE", "M-SEARCH", "NOTIFY", "SUBSCRIBE", "UNSUBSCRIBE", "PURGE",
        "MKCALENDAR", "LINK", "UNLINK", "SOURCE", "QUERY",
    ]

    private static func knownMethod(_ bytes: UnsafeRawBufferPointer, _ range: Range<Int>) -> KnownMethod? {
        guard !range.isEmpty else { return nil }
        for name in methods where bytes.equals(range, name) {
            switch range.count {
            case 4 where bytes.equals(range, "HEAD"): return .head
            case 7 where bytes.equals(range, "CONNECT"): return .connect
            case 7 where bytes.equals(range, "OPTIONS"): return .options
            default: return .other
            }
        }
        return nil
    }
}
