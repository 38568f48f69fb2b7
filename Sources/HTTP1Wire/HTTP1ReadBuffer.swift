import NIOCore

/// The bytes read on one connection and not decoded yet, as the request and response decoders
/// share them: heads and bodies come out as slices (never copies), chunked bodies through
/// ``ChunkedBodyDecoder`` (trailers are dropped).
struct HTTP1ReadBuffer: Sendable {
    /// The unread bytes.
    private(set) var bytes = ByteBuffer.noBytes
    private var chunks = ChunkedBodyDecoder()

    /// A piece of a chunked body.
    enum ChunkedPiece {
        case data(ByteBuffer)
        /// The last chunk and the trailers were read.
        case end
    }

    var isEmpty: Bool { bytes.readableBytes == 0 }

    mutating func append(_ more: ByteBuffer) {
        if bytes.readableBytes == 0 {
            bytes = more
        } else {
            var more = more
            bytes.writeBuffer(&more)
        }
    }

    /// Lets go of storage that is used up, so the channel can read into it again instead of allocating.
    mutating func releaseIfUsedUp() {
        if bytes.readableBytes == 0, bytes.capacity > 0 { bytes = .noBytes }
    }

    /// Forgets every unread byte.
    mutating func clear() {
        bytes = .noBytes
    }

    /// The first `length` unread bytes, which must be there (a head the parser measured).
    mutating func take(_ length: Int) -> ByteBuffer {
        bytes.readSlice(length: length)!
    }

    /// Up to `remaining` bytes of a body of known length; `nil` when none is buffered.
    mutating func fixedBody(remaining: Int) -> ByteBuffer? {
        guard bytes.readableBytes > 0 else { return nil }
        return bytes.readSlice(length: min(remaining, bytes.readableBytes))!
    }

    /// The next piece of a chunked body; `nil` until more bytes are read.
    mutating func chunkedBody() throws(HTTP1ParseError) -> ChunkedPiece? {
        while bytes.readableBytes > 0 {
            var offset = 0
            let event = bytes.withUnsafeReadableBytes { chunks.next($0, offset: &offset) }
            switch event {
            case .needMore:
                bytes.moveReaderIndex(forwardBy: offset)
                return nil
            case .chunk:
                bytes.moveReaderIndex(forwardBy: offset)
            case .data(let range):
                let data = bytes.getSlice(at: bytes.readerIndex + range.lowerBound, length: range.count)!
                bytes.moveReaderIndex(forwardBy: offset)
                return .data(data)
            case .end:
                bytes.moveReaderIndex(forwardBy: offset)
                chunks.reset()
                return .end
            case .error(let error):
                throw error
            }
        }
        return nil
    }
}
