/// Decodes a chunked body (RFC 9112 §7.1) as a state machine that points at payload bytes
/// instead of copying them.
///
/// Call ``next(_:offset:)`` with the bytes read and the offset to start at; it advances `offset`
/// past what it consumed and says what it found. On `.needMore`, bytes before `offset` are
/// consumed; the bytes from `offset` on (part of a trailer section) must be given again, at the
/// start of the next call's range, with more after them.
public struct ChunkedBodyDecoder: Sendable {
    /// What the decoder found.
    public enum Event: Equatable, Sendable {
        /// Everything up to `offset` is consumed; feed more.
        case needMore
        /// A chunk of this many payload bytes begins; `.data` events carry them.
        case chunk(size: Int)
        /// Payload bytes at this range of the input.
        case data(Range<Int>)
        /// The last chunk and the trailer section ended; the trailer field lines are at this range
        /// of the input (empty when there are none), their offsets in ``trailerFields``.
        case end(trailers: Range<Int>)
        /// The body is malformed or too long; the decoder stays failed.
        case error(HTTP1ParseError)
    }

    private enum State: Sendable {
        /// Reading chunk-size digits.
        case size
        /// After `;`, expecting an extension name.
        case extensionNameStart
        case extensionName
        /// After `=`, expecting a token or a quoted string.
        case extensionValueStart
        case extensionToken
        case extensionQuoted
        case extensionQuotedEscape
        /// After a closing quote, expecting `;` or CR.
        case extensionQuoteEnd
        /// After the CR of a chunk-size line.
        case sizeLF
        case data(remaining: Int)
        case dataCR
        case dataLF
        case trailers
        case done
        case failed(HTTP1ParseError)
    }

    /// The most payload bytes the body may carry; more is ``HTTP1ParseError/bodyTooLarge``.
    public let maxBodyBytes: Int
    /// The most bytes a chunk-size line (digits and extensions) may take.
    public let maxSizeLineBytes: Int
    private var state = State.size
    private var size = 0
    private var digits = 0
    private var lineBytes = 0
    /// Payload bytes announced so far.
    public private(set) var bodyBytes = 0
    private var trailerScanner: HTTP1HeadScanner

    /// A decoder with these limits.
    public init(maxBodyBytes: Int = .max, maxSizeLineBytes: Int = 4096, maxTrailerBytes: Int = 80 * 1024) {
        self.maxBodyBytes = maxBodyBytes
        self.maxSizeLineBytes = maxSizeLineBytes
        self.trailerScanner = HTTP1HeadScanner(
            maxHeadBytes: maxTrailerBytes,
            maxFieldCount: 512,
            hasStartLine: false,
            gathersFacts: false
        )
    }

    /// The trailer field lines after `.end`, with offsets from the start of the `trailers` range.
    public var trailerFields: [HTTP1HeaderField] { trailerScanner.fields }

    /// Whether the body ended.
    public var isFinished: Bool {
        if case .done = state { return true }
        return false
    }

    /// Starts a new body, keeping storage.
    public mutating func reset() {
        state = .size
        size = 0
        digits = 0
        lineBytes = 0
        bodyBytes = 0
        trailerScanner.reset()
    }

    /// Decodes from `offset` of `bytes`, advancing `offset` past what was consumed.
    public mutating func next(_ bytes: UnsafeRawBufferPointer, offset: inout Int) -> Event {
        while true {
            switch state {
            case .failed(let error):
                return .error(error)
            case .done:
                return .end(trailers: offset..<offset)
            case .data(let remaining):
                guard offset < bytes.count else { return .needMore }
                let take = min(remaining, bytes.count - offset)
                let range = offset..<(offset + take)
                offset += take
                state = take == remaining ? .dataCR : .data(remaining: remaining - take)
                return .data(range)
            case .trailers:
                let section = UnsafeRawBufferPointer(rebasing: bytes[offset...])
                switch trailerScanner.scan(section) {
                case .needMore:
                    return .needMore
                case .error(let error):
                    return fail(error == .tooManyFields ? .headTooLarge : error)
                case .startLine:
                    preconditionFailure("trailer sections have no start line")
                case .end(let length):
                    let start = offset
                    offset += length
                    state = .done
                    return .end(trailers: start..<(start + max(0, length - 2)))
                }
            default:
                guard offset < bytes.count else { return .needMore }
                let byte = bytes[offset]
                offset += 1
                if let event = step(byte) { return event }
            }
        }
    }

    private mutating func fail(_ error: HTTP1ParseError) -> Event {
        state = .failed(error)
        return .error(error)
    }

    /// Takes one byte of a chunk-size line or of the CRLF after chunk data.
    private mutating func step(_ byte: UInt8) -> Event? {
        switch state {
        case .dataCR:
            guard byte == HTTP1ByteClass.cr else { return fail(.invalidChunkTerminator) }
            state = .dataLF
            return nil
        case .dataLF:
            guard byte == HTTP1ByteClass.lf else { return fail(.invalidChunkTerminator) }
            state = .size
            size = 0
            digits = 0
            lineBytes = 0
            return nil
        case .sizeLF:
            guard byte == HTTP1ByteClass.lf else { return fail(.invalidLineEnding) }
            return endOfSizeLine()
        default:
            break
        }
        lineBytes += 1
        guard lineBytes <= maxSizeLineBytes else { return fail(.invalidChunkSize) }
        switch state {
        case .size:
            if let value = HTTP1ByteClass.hexValue(byte) {
                guard size <= (Int.max - value) / 16 else { return fail(.invalidChunkSize) }
                size = size * 16 + value
                digits += 1
            } else if digits > 0, byte == UInt8(ascii: ";") {
                state = .extensionNameStart
            } else if digits > 0, byte == HTTP1ByteClass.cr {
                state = .sizeLF
            } else {
                return fail(.invalidChunkSize)
            }
        case .extensionNameStart:
            guard HTTP1ByteClass.isToken(byte) else { return fail(.invalidChunkExtension) }
            state = .extensionName
        case .extensionName, .extensionToken:
            if HTTP1ByteClass.isToken(byte) { return nil }
            if byte == UInt8(ascii: ";") {
                state = .extensionNameStart
            } else if byte == UInt8(ascii: "="), case .extensionName = state {
                state = .extensionValueStart
            } else if byte == HTTP1ByteClass.cr {
                state = .sizeLF
            } else {
                return fail(.invalidChunkExtension)
            }
        case .extensionValueStart:
            if byte == UInt8(ascii: "\"") {
                state = .extensionQuoted
            } else if HTTP1ByteClass.isToken(byte) {
                state = .extensionToken
            } else {
                return fail(.invalidChunkExtension)
            }
        case .extensionQuoted:
            if byte == UInt8(ascii: "\"") {
                state = .extensionQuoteEnd
            } else if byte == UInt8(ascii: "\\") {
                state = .extensionQuotedEscape
            } else if !HTTP1ByteClass.isFieldValue(byte) {
                return fail(.invalidChunkExtension)
            }
        case .extensionQuotedEscape:
            guard HTTP1ByteClass.isFieldValue(byte) else { return fail(.invalidChunkExtension) }
            state = .extensionQuoted
        case .extensionQuoteEnd:
            if byte == UInt8(ascii: ";") {
                state = .extensionNameStart
            } else if byte == HTTP1ByteClass.cr {
                state = .sizeLF
            } else {
                return fail(.invalidChunkExtension)
            }
        default:
            preconditionFailure("not a chunk-size line state")
        }
        return nil
    }

    private mutating func endOfSizeLine() -> Event? {
        guard size <= maxBodyBytes - bodyBytes else { return fail(.bodyTooLarge) }
        bodyBytes += size
        if size == 0 {
            state = .trailers
            return nil
        }
        state = .data(remaining: size)
        return .chunk(size: size)
    }
}
