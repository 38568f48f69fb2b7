import NIOCore

/// Decodes the bytes of a Redis connection into ``RESPValue`` replies, through hiredis.
///
/// Every complete reply in the received bytes is fired as one message; bytes of a reply still
/// incomplete wait in hiredis's buffer. Bytes that are not RESP throw ``RedisError/protocolViolation(_:)``.
public struct RESPDecoder: ByteToMessageDecoder {
    public typealias InboundOut = RESPValue

    private let reader = RESPReader()

    public init() {}

    public mutating func decode(context: ChannelHandlerContext, buffer: inout ByteBuffer) throws -> DecodingState {
        try self.reader.feed(buffer.readableBytesView)
        buffer.moveReaderIndex(forwardBy: buffer.readableBytes)
        while let value = try self.reader.next() {
            context.fireChannelRead(Self.wrapInboundOut(value))
        }
        return .needMoreData
    }

    public mutating func decodeLast(
        context: ChannelHandlerContext,
        buffer: inout ByteBuffer,
        seenEOF: Bool
    ) throws -> DecodingState {
        // A reply cut short by the close is dropped: its request fails with the connection.
        try self.decode(context: context, buffer: &buffer)
    }
}
