/// Splits a head into CRLF-terminated lines and checks its field lines, resuming where the last
/// feed stopped; shared by the request and response parsers and by trailer sections.
struct HTTP1HeadScanner: Sendable {
    /// What the scan reached.
    enum Step {
        /// No complete line beyond those already taken.
        case needMore
        /// The start line, without CRLF; the caller checks it, then scans on.
        case startLine(Range<Int>)
        /// The empty line ending the head; the offset just after it.
        case end(Int)
        case error(HTTP1ParseError)
    }

    let maxHeadBytes: Int
    let maxFieldCount: Int
    /// Whether a start line comes first (false for trailer sections).
    let hasStartLine: Bool
    /// Whether to gather framing facts (false for trailer sections).
    let gathersFacts: Bool

    /// Where the current line starts.
    private var lineStart = 0
    /// The next byte to look at for LF.
    private var position = 0
    private var sawStartLine = false
    /// The field lines so far; storage kept across heads.
    private(set) var fields: [HTTP1HeaderField] = []
    private(set) var facts = HTTP1FieldFacts()

    init(maxHeadBytes: Int, maxFieldCount: Int, hasStartLine: Bool, gathersFacts: Bool) {
        self.maxHeadBytes = maxHeadBytes
        self.maxFieldCount = maxFieldCount
        self.hasStartLine = hasStartLine
        self.gathersFacts = gathersFacts
        self.fields.reserveCapacity(min(maxFieldCount, 32))
    }

    /// Forgets the head scanned so far, keeping storage.
    mutating func reset() {
        lineStart = 0
        position = 0
        sawStartLine = false
        fields.removeAll(keepingCapacity: true)
        facts = HTTP1FieldFacts()
    }

    mutating func scan(_ bytes: UnsafeRawBufferPointer) -> Step {
        // Empty lines before a request line are ignored (RFC 9112 §2.2), CRLF only.
        if hasStartLine, !sawStartLine {
            while lineStart == position, lineStart < bytes.count, bytes[lineStart] == HTTP1ByteClass.cr {
                guard lineStart + 1 < bytes.count else { return .needMore }
                guard bytes[lineStart + 1] == HTTP1ByteClass.lf else { return .error(.invalidLineEnding) }
                lineStart += 2
                position = lineStart
                if lineStart > maxHeadBytes { return .error(.headTooLarge) }
            }
        }
        while true {
            var lf = position
            while lf < bytes.count, bytes[lf] != HTTP1ByteClass.lf { lf += 1 }
            guard lf < bytes.count else {
                position = bytes.count
                return bytes.count > maxHeadBytes ? .error(.headTooLarge) : .needMore
            }
            if lf + 1 > maxHeadBytes { return .error(.headTooLarge) }
            guard lf > lineStart, bytes[lf - 1] == HTTP1ByteClass.cr else { return .error(.invalidLineEnding) }
            let line = lineStart..<(lf - 1)
            lineStart = lf + 1
            position = lineStart
            if hasStartLine, !sawStartLine {
                sawStartLine = true
                return .startLine(line)
            }
            if line.isEmpty { return .end(lineStart) }
            if let error = takeField(line, in: bytes) { return .error(error) }
        }
    }

    private mutating func takeField(_ line: Range<Int>, in bytes: UnsafeRawBufferPointer) -> HTTP1ParseError? {
        if HTTP1ByteClass.isWhitespace(bytes[line.lowerBound]) { return .obsFold }
        var colon = line.lowerBound
        while colon < line.upperBound, HTTP1ByteClass.isToken(bytes[colon]) { colon += 1 }
        guard colon > line.lowerBound, colon < line.upperBound, bytes[colon] == UInt8(ascii: ":") else {
            return .invalidFieldName
        }
        for offset in (colon + 1)..<line.upperBound where !HTTP1ByteClass.isFieldValue(bytes[offset]) {
            return .invalidFieldValue
        }
        guard fields.count < maxFieldCount else { return .tooManyFields }
        let name = line.lowerBound..<colon
        let value = bytes.trimmingWhitespace((colon + 1)..<line.upperBound)
        let kind = HTTP1FieldKind.classify(bytes, name)
        if kind == .contentLength || kind == .transferEncoding {
            // llhttp refuses HTAB after the start of these values; so do we, trailing ones included.
            for offset in value.lowerBound..<line.upperBound where bytes[offset] == HTTP1ByteClass.tab {
                return kind == .contentLength ? .invalidContentLength : .invalidTransferEncoding
            }
        }
        if gathersFacts,
            let error = facts.add(kind, value: value, lineEnd: line.upperBound, index: fields.count, in: bytes)
        {
            return error
        }
        fields.append(HTTP1HeaderField(name: name, value: value, kind: kind))
        return nil
    }
}
