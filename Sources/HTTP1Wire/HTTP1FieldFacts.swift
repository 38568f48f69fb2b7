/// What the framing and forwarding rules need from a head's fields, gathered while scanning.
public struct HTTP1FieldFacts: Equatable, Hashable, Sendable {
    /// The Content-Length value, when the field is present.
    public var contentLength: Int?
    /// Whether Transfer-Encoding is present.
    public var hasTransferEncoding = false
    /// How many times `chunked` is listed in Transfer-Encoding.
    var chunkedCount = 0
    /// Whether the last coding listed is `chunked`.
    var lastCodingIsChunked = false
    /// Whether a coding other than `chunked` is listed.
    var hasOtherCodings = false
    /// The tokens listed by Connection fields.
    public var connection: HTTP1ConnectionTokens = []
    /// The index in `fields` of the first Upgrade field.
    public var upgradeField: Int?
    /// The number of Host fields.
    public var hostCount = 0
    /// The index in `fields` of the first Host field.
    public var hostField: Int?
    /// Whether Expect is `100-continue`.
    public var expectsContinue = false
    /// Whether Expect has any other value (417 territory).
    public var hasOtherExpectation = false

    /// Facts of no fields.
    public init() {}

    /// Takes in one field (`value` trimmed, `lineEnd` where the line's CRLF starts); an error when
    /// its value breaks a framing rule.
    mutating func add(
        _ kind: HTTP1FieldKind,
        value: Range<Int>,
        lineEnd: Int,
        index: Int,
        in bytes: UnsafeRawBufferPointer
    ) -> HTTP1ParseError? {
        switch kind {
        case .contentLength:
            guard contentLength == nil else { return .duplicateContentLength }
            guard !value.isEmpty else { return .invalidContentLength }
            var length = 0
            for offset in value {
                let byte = bytes[offset]
                guard byte >= UInt8(ascii: "0"), byte <= UInt8(ascii: "9") else { return .invalidContentLength }
                let (times10, overflow1) = length.multipliedReportingOverflow(by: 10)
                let (sum, overflow2) = times10.addingReportingOverflow(Int(byte - UInt8(ascii: "0")))
                guard !overflow1, !overflow2 else { return .invalidContentLength }
                length = sum
            }
            contentLength = length
            if hasTransferEncoding { return .contentLengthWithTransferEncoding }
        case .transferEncoding:
            hasTransferEncoding = true
            if contentLength != nil { return .contentLengthWithTransferEncoding }
            var sawCoding = false
            var error: HTTP1ParseError?
            bytes.forEachListElement(in: value) { element, _ in
                guard !element.isEmpty, bytes.isToken(element) else {
                    error = .invalidTransferEncoding
                    return false
                }
                sawCoding = true
                if bytes.equalsIgnoringCase(element, "chunked") {
                    chunkedCount += 1
                    lastCodingIsChunked = true
                } else {
                    hasOtherCodings = true
                    lastCodingIsChunked = false
                }
                return true
            }
            if let error { return error }
            if !sawCoding { return .invalidTransferEncoding }
        case .connection:
            bytes.forEachListElement(in: value.lowerBound..<lineEnd) { element, raw in
                // llhttp does not take `keep-alive` or `upgrade` followed by HTAB as the token;
                // neither do we, so we never keep alive or upgrade where NIO would not.
                let tabAfter = bytes[element.upperBound..<raw.upperBound].contains(HTTP1ByteClass.tab)
                if element.isEmpty {
                    return true
                } else if bytes.equalsIgnoringCase(element, "close") {
                    connection.insert(.close)
                } else if !tabAfter, bytes.equalsIgnoringCase(element, "keep-alive") {
                    connection.insert(.keepAlive)
                } else if !tabAfter, bytes.equalsIgnoringCase(element, "upgrade") {
                    connection.insert(.upgrade)
                } else {
                    connection.insert(.other)
                }
                return true
            }
        case .upgrade:
            if upgradeField == nil { upgradeField = index }
        case .host:
            hostCount += 1
            if hostField == nil { hostField = index }
        case .expect:
            if bytes.equalsIgnoringCase(value, "100-continue") {
                expectsContinue = true
            } else {
                hasOtherExpectation = true
            }
        default:
            break
        }
        return nil
    }

    /// Whether the connection may carry another message after this one, by version and Connection
    /// (`close` wins over `keep-alive`).
    func keepsAlive(_ version: HTTP1Version) -> Bool {
        if connection.contains(.close) { return false }
        return version == .http1_1 || connection.contains(.keepAlive)
    }

    /// The Transfer-Encoding verdict: nil when absent, `.chunked` when it is exactly one final
    /// `chunked`, otherwise the error.
    func transferCoding(_ version: HTTP1Version) -> Result<HTTP1BodyFraming, HTTP1ParseError>? {
        guard hasTransferEncoding else { return nil }
        if contentLength != nil { return .failure(.contentLengthWithTransferEncoding) }
        // RFC 9112 §6.1: Transfer-Encoding in HTTP/1.0 means faulty framing.
        if version == .http1_0 { return .failure(.invalidTransferEncoding) }
        if !lastCodingIsChunked || chunkedCount != 1 { return .failure(.invalidTransferEncoding) }
        if hasOtherCodings { return .failure(.unsupportedTransferCoding) }
        return .success(.chunked)
    }
}

extension UnsafeRawBufferPointer {
    /// Whether every byte of `range` is a token byte.
    func isToken(_ range: Range<Int>) -> Bool {
        for offset in range where !HTTP1ByteClass.isToken(self[offset]) { return false }
        return true
    }

    /// Calls `body` with each comma-separated element of `range`, trimmed, and the element as
    /// written; stops when it returns false.
    func forEachListElement(in range: Range<Int>, _ body: (_ trimmed: Range<Int>, _ raw: Range<Int>) -> Bool) {
        var start = range.lowerBound
        var offset = range.lowerBound
        while offset <= range.upperBound {
            if offset == range.upperBound || self[offset] == UInt8(ascii: ",") {
                if !body(trimmingWhitespace(start..<offset), start..<offset) { return }
                start = offset + 1
            }
            offset += 1
        }
    }
}
