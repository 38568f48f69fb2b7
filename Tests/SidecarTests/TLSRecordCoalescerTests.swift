import NIOCore
import NIOEmbedded
import Testing

@testable import Sidecar

@Suite("TLS record coalescing")
struct TLSRecordCoalescerTests {
    private func channel() throws -> EmbeddedChannel {
        let channel = EmbeddedChannel()
        try channel.pipeline.syncOperations.addHandler(TLSRecordCoalescer())
        return channel
    }

    @Test("small writes between two flushes leave as one buffer, in order, with every promise kept")
    func smallWritesGather() throws {
        let channel = try channel()
        let first = channel.eventLoop.makePromise(of: Void.self)
        let third = channel.eventLoop.makePromise(of: Void.self)
        var done = 0
        first.futureResult.assumeIsolated().whenSuccess { done += 1 }
        third.futureResult.assumeIsolated().whenSuccess { done += 1 }
        channel.write(ByteBuffer(string: "frame header "), promise: first)
        channel.write(ByteBuffer(string: "payload "), promise: nil)
        channel.write(ByteBuffer(string: "next frame"), promise: third)
        #expect(try channel.readOutbound(as: ByteBuffer.self) == nil)
        channel.flush()
        #expect(try channel.readOutbound(as: ByteBuffer.self) == ByteBuffer(string: "frame header payload next frame"))
        #expect(try channel.readOutbound(as: ByteBuffer.self) == nil)
        #expect(done == 2)
        _ = try channel.finish()
    }

    @Test("a record-sized write passes uncopied after what was gathered before it")
    func largeWritePassesThrough() throws {
        let channel = try channel()
        let large = ByteBuffer(repeating: 0x61, count: TLSRecordCoalescer.recordSize)
        channel.write(ByteBuffer(string: "head"), promise: nil)
        channel.write(large, promise: nil)
        channel.write(ByteBuffer(string: "tail"), promise: nil)
        channel.flush()
        #expect(try channel.readOutbound(as: ByteBuffer.self) == ByteBuffer(string: "head"))
        #expect(try channel.readOutbound(as: ByteBuffer.self) == large)
        #expect(try channel.readOutbound(as: ByteBuffer.self) == ByteBuffer(string: "tail"))
        _ = try channel.finish()
    }

    @Test("gathering stops at one record's size")
    func gatheredStaysWithinARecord() throws {
        let channel = try channel()
        let piece = ByteBuffer(repeating: 0x62, count: TLSRecordCoalescer.recordSize / 2 + 1)
        channel.write(piece, promise: nil)
        channel.write(piece, promise: nil)
        channel.flush()
        #expect(try channel.readOutbound(as: ByteBuffer.self)?.readableBytes == piece.readableBytes)
        #expect(try channel.readOutbound(as: ByteBuffer.self)?.readableBytes == piece.readableBytes)
        _ = try channel.finish()
    }

    @Test("what was gathered goes down before a close, so the layer below settles its promise")
    func closePassesPendingFirst() throws {
        let channel = EmbeddedChannel()
        let events = OutboundEvents()
        try channel.pipeline.syncOperations.addHandler(events)
        try channel.pipeline.syncOperations.addHandler(TLSRecordCoalescer())
        channel.write(ByteBuffer(string: "never flushed"), promise: nil)
        #expect(events.seen.isEmpty)
        _ = channel.close()
        #expect(events.seen == ["write never flushed", "close"])
    }
}

/// Records the writes and closes that pass it.
private final class OutboundEvents: ChannelOutboundHandler {
    typealias OutboundIn = ByteBuffer
    var seen: [String] = []

    func write(context: ChannelHandlerContext, data: NIOAny, promise: EventLoopPromise<Void>?) {
        seen.append("write " + String(buffer: unwrapOutboundIn(data)))
        context.write(data, promise: promise)
    }

    func close(context: ChannelHandlerContext, mode: CloseMode, promise: EventLoopPromise<Void>?) {
        seen.append("close")
        context.close(mode: mode, promise: promise)
    }
}
