import CHiredis
import NIOCore

/// Parses RESP replies with hiredis's reader: feed bytes as they arrive, take whole replies out.
///
/// Not thread-safe: one reader belongs to one channel. After a protocol error every call throws.
public final class RESPReader {
    private let reader: UnsafeMutablePointer<redisReader>

    public init() {
        guard let reader = redisReaderCreate() else {
            fatalError("hiredis could not allocate a reader (out of memory)")
        }
        self.reader = reader
    }

    deinit {
        redisReaderFree(self.reader)
    }

    /// Appends `bytes` to the reader's buffer (hiredis copies them).
    public func feed(_ bytes: ByteBufferView) throws {
        if bytes.isEmpty { return }
        let status =
            bytes.withContiguousStorageIfAvailable { storage in
                storage.withMemoryRebound(to: CChar.self) { chars in
                    redisReaderFeed(self.reader, chars.baseAddress, chars.count)
                }
            }
            ?? Array(bytes).withUnsafeBufferPointer { storage in
                storage.withMemoryRebound(to: CChar.self) { chars in
                    redisReaderFeed(self.reader, chars.baseAddress, chars.count)
                }
            }
        if status != REDIS_OK { throw self.error() }
    }

    /// Appends `bytes` to the reader's buffer.
    public func feed(_ bytes: [UInt8]) throws {
        try self.feed(ByteBuffer(bytes: bytes).readableBytesView)
    }

    /// The next whole reply, or `nil` when more bytes are needed.
    public func next() throws -> RESPValue? {
        var reply: UnsafeMutableRawPointer?
        guard redisReaderGetReply(self.reader, &reply) == REDIS_OK else { throw self.error() }
        guard let reply else { return nil }
        defer { freeReplyObject(reply) }
        return try Self.value(of: reply.assumingMemoryBound(to: redisReply.self))
    }

    private func error() -> RedisError {
        let message = withUnsafeBytes(of: self.reader.pointee.errstr) { raw in
            String(decoding: raw.prefix { $0 != 0 }, as: UTF8.self)
        }
        return .protocolViolation(message.isEmpty ? "unknown hiredis reader error" : message)
    }

    private static func value(of reply: UnsafeMutablePointer<redisReply>) throws -> RESPValue {
        let reply = reply.pointee
        switch reply.type {
        case REDIS_REPLY_STATUS:
            return .simpleString(Self.text(reply))
        case REDIS_REPLY_ERROR:
            return .error(Self.text(reply))
        case REDIS_REPLY_INTEGER:
            return .integer(Int64(reply.integer))
        case REDIS_REPLY_NIL:
            return .bulkString(nil)
        case REDIS_REPLY_STRING:
            return .bulkString(Self.bytes(reply))
        case REDIS_REPLY_ARRAY:
            var values: [RESPValue] = []
            values.reserveCapacity(reply.elements)
            for index in 0..<reply.elements {
                guard let element = reply.element[index] else {
                    throw RedisError.protocolViolation("hiredis returned an array with a missing element")
                }
                values.append(try Self.value(of: element))
            }
            return .array(values)
        default:
            throw RedisError.protocolViolation("hiredis returned an unknown reply type \(reply.type)")
        }
    }

    private static func bytes(_ reply: redisReply) -> [UInt8] {
        guard let start = reply.str, reply.len > 0 else { return [] }
        return Array(UnsafeRawBufferPointer(start: start, count: reply.len))
    }

    private static func text(_ reply: redisReply) -> String {
        String(decoding: Self.bytes(reply), as: UTF8.self)
    }
}
