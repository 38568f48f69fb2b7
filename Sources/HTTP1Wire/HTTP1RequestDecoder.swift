import NIOCore

/// Decodes the requests read on one HTTP/1 server connection, pipelined ones included: heads by
/// ``HTTP1RequestHeadParser``, bodies as slices of the bytes read (never copied), chunked bodies
/// by ``ChunkedBodyDecoder`` (trailers are dropped).
///
/// Bytes go in through ``read(_:)``; events come out of ``next()`` until it returns `nil`. After an
/// error the decoder stays failed: what follows on the connection cannot be trusted.
///
/// After a request that asks to switch protocols (`Connection: upgrade` with `Upgrade`, or
/// CONNECT) the decoder pauses: what the client sends next may be the new protocol's, so it is
/// kept, not decoded, until the server declines (``resume()``) or switches (``takeUnreadBytes()``).
/// While paused it keeps at most `maxHeadBytes`; more is ``HTTP1ParseError/excessBytesBeforeSwitch``.
public struct HTTP1RequestDecoder: Sendable {
    /// What the decoder found.
    public enum Event: Sendable {
        /// A request head; its offsets are into `bytes`, the head's own bytes.
        case head(HTTP1RequestHead, bytes: ByteBuffer)
        /// Body bytes.
        case body(ByteBuffer)
        /// The request ended.
        case end
    }

    private enum State: Sendable {
        case head
        case fixed(remaining: Int)
        case chunked
        /// The body is complete; `.end` comes next.
        case complete
        /// After a request asking to switch protocols: bytes are kept, not decoded.
        case paused
        case failed(HTTP1ParseError)
    }

    private var state = State.head
    private var input = HTTP1ReadBuffer()
    private var parser: HTTP1RequestHeadParser
    /// Whether the request being read asks to switch protocols (the decoder pauses after it).
    private var asksToSwitch = false

    /// After a refused head: its method and target as sent, when its method was a known one (the
    /// target may be empty); for counting and logging the refusal.
    public private(set) var refusedRequestLine: (method: String, target: String)?

    /// The most bytes the field names and values of a head may take together, and any one field.
    public let maxFieldBytes: Int

    /// A decoder whose heads are limited as ``HTTP1RequestHeadParser``'s, and whose field names
    /// and values may take `maxFieldBytes` at most (more is ``HTTP1ParseError/headTooLarge``).
    public init(maxHeadBytes: Int = 80 * 1024, maxFieldCount: Int = 512, maxFieldBytes: Int = .max) {
        parser = HTTP1RequestHeadParser(maxHeadBytes: maxHeadBytes, maxFieldCount: maxFieldCount)
        self.maxFieldBytes = maxFieldBytes
    }

    /// Whether a request was refused: nothing more is decoded.
    public var hasFailed: Bool {
        if case .failed = state { return true }
        return false
    }

    /// Whether part of a request has been read (a head begun, or a body not finished).
    public var isWithinRequest: Bool {
        switch state {
        case .head: !input.isEmpty
        case .fixed, .chunked, .complete: true
        case .paused, .failed: false
        }
    }

    /// Whether a request asking to switch protocols was read and the server has not answered it.
    public var isPaused: Bool {
        if case .paused = state { return true }
        return false
    }

    /// Bytes were read.
    public mutating func read(_ bytes: ByteBuffer) {
        if case .failed = state { return }
        input.append(bytes)
    }

    /// The server declined to switch protocols: decoding goes on with the next request.
    public mutating func resume() {
        if case .paused = state { state = .head }
    }

    /// The server switched protocols: the bytes read past the request, which are the new
    /// protocol's, if any. Nothing more is decoded.
    public mutating func takeUnreadBytes() -> ByteBuffer? {
        state = .failed(.excessBytesBeforeSwitch)
        defer { input.clear() }
        return input.isEmpty ? nil : input.bytes
    }

    /// The next event, or `nil` until more bytes are read.
    public mutating func next() throws(HTTP1ParseError) -> Event? {
        let event = try decode()
        if event == nil { input.releaseIfUsedUp() }
        return event
    }

    private mutating func decode() throws(HTTP1ParseError) -> Event? {
        while true {
            switch state {
            case .failed(let error):
                throw error
            case .complete:
                state = asksToSwitch ? .paused : .head
                return .end
            case .paused:
                if input.bytes.readableBytes > parser.maxHeadBytes { return try fail(.excessBytesBeforeSwitch) }
                return nil
            case .head:
                guard !input.isEmpty else { return nil }
                switch parser.parse(input.bytes) {
                case .needMore:
                    return nil
                case .error(let error):
                    if let line = parser.refusedRequestLine {
                        refusedRequestLine = (text(line.method), text(line.target))
                    }
                    return try fail(error)
                case .head(let head):
                    if exceedsFieldBytes(head) {
                        refusedRequestLine = (text(head.method), text(head.target))
                        return try fail(.headTooLarge)
                    }
                    let bytes = input.take(head.length)
                    asksToSwitch =
                        head.isConnect || (head.facts.upgradeField != nil && head.facts.connection.contains(.upgrade))
                    switch head.framing {
                    case .none, .contentLength(0), .untilClose: state = .complete
                    case .contentLength(let length): state = .fixed(remaining: length)
                    case .chunked: state = .chunked
                    }
                    return .head(head, bytes: bytes)
                }
            case .fixed(let remaining):
                guard let body = input.fixedBody(remaining: remaining) else { return nil }
                let left = remaining - body.readableBytes
                state = left == 0 ? .complete : .fixed(remaining: left)
                return .body(body)
            case .chunked:
                let piece: HTTP1ReadBuffer.ChunkedPiece?
                do { piece = try input.chunkedBody() } catch { return try fail(error) }
                switch piece {
                case nil: return nil
                case .data(let body)?: return .body(body)
                case .end?: state = .complete
                }
            }
        }
    }

    private func exceedsFieldBytes(_ head: HTTP1RequestHead) -> Bool {
        var total = 0
        for field in head.fields {
            let size = field.name.count + field.value.count
            if size > maxFieldBytes { return true }
            total += size
        }
        return total > maxFieldBytes
    }

    /// The bytes at `range` of the unread buffer as text (invalid UTF-8 repaired).
    private func text(_ range: Range<Int>) -> String {
        input.bytes.string(at: range)
    }

    private mutating func fail(_ error: HTTP1ParseError) throws(HTTP1ParseError) -> Event? {
        state = .failed(error)
        input.clear()
        throw error
    }
}
