import NIOCore

/// Frames a body in the chunked transfer coding (RFC 9112 §7.1), the writing side of
/// ``ChunkedBodyDecoder``: the data passes as it is, between a size line and a CRLF.
public enum ChunkedBodyEncoder {
    /// The last chunk, without trailers: ends the body.
    public static let lastChunk = ByteBuffer(staticString: "0\r\n\r\n")
    private static let chunkEnd = ByteBuffer(staticString: "\r\n")

    /// Gives `write` the size line, `data` itself and the CRLF after it; nothing for empty `data`,
    /// whose chunk would end the body.
    public static func writeChunk(_ data: ByteBuffer, allocator: ByteBufferAllocator, _ write: (ByteBuffer) -> Void) {
        guard data.readableBytes > 0 else { return }
        var size = allocator.buffer(capacity: 18)
        size.writeString(String(data.readableBytes, radix: 16))
        size.writeStaticString("\r\n")
        write(size)
        write(data)
        write(chunkEnd)
    }
}
