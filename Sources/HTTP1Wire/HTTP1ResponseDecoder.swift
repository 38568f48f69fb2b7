import NIOCore

/// Decodes the responses read on one HTTP/1 client connection, one exchange at a time: heads by
/// ``HTTP1ResponseHeadParser``, bodies as slices of the bytes read (never copied), chunked bodies
/// by ``ChunkedBodyDecoder`` (trailers are dropped).
///
/// Bytes go in through ``read(_:)``; events come out of ``next()`` until it returns `nil`.
public struct HTTP1ResponseDecoder: Sendable {
    /// What the decoder found.
    public enum Event: Sendable {
        /// A response head; its offsets are into `bytes`, the head's own bytes.
        case head(HTTP1ResponseHead, bytes: ByteBuffer)
        /// Body bytes.
        case body(ByteBuffer)
        /// The response ended; `reusable` when the connection may carry another exchange.
        case end(reusable: Bool)
    }

    /// Why the connection cannot be used any more.
    public enum Failure: Error, Equatable, Sendable {
        /// The response is not valid HTTP/1.
        case malformed(HTTP1ParseError)
        /// Bytes arrived while no request was waiting for a response.
        case unsolicited
        /// The connection closed before the response was complete.
        case truncated
    }

    private enum State: Sendable {
        /// No request is waiting for its response.
        case idle
        case head(HTTP1ResponseHeadParser.Request)
        case fixed(remaining: Int, reusable: Bool)
        case chunked(reusable: Bool)
        case untilClose
        /// The body is complete; `.end` comes next.
        case complete(reusable: Bool)
        /// After `101 Switching Protocols`: what follows is not HTTP.
        case upgraded
        case failed
    }

    private var state = State.idle
    private var input = HTTP1ReadBuffer()
    private var parser: HTTP1ResponseHeadParser

    /// A decoder whose heads are limited as ``HTTP1ResponseHeadParser``'s.
    public init(maxHeadBytes: Int = 80 * 1024, maxFieldCount: Int = 512) {
        parser = HTTP1ResponseHeadParser(maxHeadBytes: maxHeadBytes, maxFieldCount: maxFieldCount)
    }

    /// A request was sent: its response comes next.
    public mutating func expectResponse(to request: HTTP1ResponseHeadParser.Request) {
        if case .idle = state { state = .head(request) }
    }

    /// Bytes were read.
    public mutating func read(_ bytes: ByteBuffer) {
        input.append(bytes)
    }

    /// The next event, or `nil` until more bytes are read.
    public mutating func next() throws(Failure) -> Event? {
        let event = try decode()
        if event == nil { input.releaseIfUsedUp() }
        return event
    }

    private mutating func decode() throws(Failure) -> Event? {
        while true {
            switch state {
            case .idle:
                if !input.isEmpty { return try fail(.unsolicited) }
                return nil
            case .upgraded, .failed:
                return nil
            case .complete(let reusable):
                state = .idle
                return .end(reusable: reusable)
            case .head(let request):
                guard !input.isEmpty else { return nil }
                switch parser.parse(input.bytes, for: request) {
                case .needMore:
                    return nil
                case .error(let error):
                    return try fail(.malformed(error))
                case .head(let head):
                    let bytes = input.take(head.length)
                    enterBody(of: head)
                    return .head(head, bytes: bytes)
                }
            case .fixed(let remaining, let reusable):
                guard let body = input.fixedBody(remaining: remaining) else { return nil }
                let left = remaining - body.readableBytes
                state = left == 0 ? .complete(reusable: reusable) : .fixed(remaining: left, reusable: reusable)
                return .body(body)
            case .untilClose:
                guard let body = input.fixedBody(remaining: .max) else { return nil }
                return .body(body)
            case .chunked(let reusable):
                let piece: HTTP1ReadBuffer.ChunkedPiece?
                do { piece = try input.chunkedBody() } catch { return try fail(.malformed(error)) }
                switch piece {
                case nil: return nil
                case .data(let body)?: return .body(body)
                case .end?: state = .complete(reusable: reusable)
                }
            }
        }
    }

    /// The connection closed: ends a body delimited by the close, and fails a response cut short.
    /// Call after ``next()`` returned `nil`.
    public mutating func inputClosed() throws(Failure) -> Event? {
        switch state {
        case .untilClose, .complete:
            state = .idle
            return .end(reusable: false)
        case .idle, .upgraded, .failed:
            return nil
        case .head, .fixed, .chunked:
            return try fail(.truncated)
        }
    }

    /// After a `101`: the bytes read past its head, which belong to the new protocol.
    public mutating func takeUnreadBytes() -> ByteBuffer? {
        guard !input.isEmpty else { return nil }
        defer { input.clear() }
        return input.bytes
    }

    private mutating func enterBody(of head: HTTP1ResponseHead) {
        if head.isInformational { return }
        if head.status == 101 {
            state = .upgraded
            return
        }
        switch head.framing {
        case .none, .contentLength(0):
            state = .complete(reusable: head.isKeepAlive)
        case .contentLength(let length):
            state = .fixed(remaining: length, reusable: head.isKeepAlive)
        case .chunked:
            state = .chunked(reusable: head.isKeepAlive)
        case .untilClose:
            state = .untilClose
        }
    }

    private mutating func fail(_ failure: Failure) throws(Failure) -> Event? {
        state = .failed
        throw failure
    }
}
