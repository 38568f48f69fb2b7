import NIOCore
import NIOEmbedded
import NIOHPACK
import NIOHTTP2
import Testing

@testable import Sidecar

@Suite("HTTP/2 END_STREAM on the last frame")
struct HTTP2EndStreamMergerTests {
    private func channel() throws -> EmbeddedChannel {
        let channel = EmbeddedChannel()
        try channel.pipeline.syncOperations.addHandler(HTTP2EndStreamMerger())
        return channel
    }

    private func headers(_ status: String, end: Bool = false) -> HTTP2Frame.FramePayload {
        .headers(.init(headers: [":status": status], endStream: end))
    }

    private func data(_ text: String, end: Bool = false) -> HTTP2Frame.FramePayload {
        .data(.init(data: .byteBuffer(ByteBuffer(string: text)), endStream: end))
    }

    /// The frames written, as `HEADERS 200`, `DATA body END`, ...
    private func written(_ channel: EmbeddedChannel) throws -> [String] {
        var frames: [String] = []
        while let payload = try channel.readOutbound(as: HTTP2Frame.FramePayload.self) {
            switch payload {
            case .headers(let headers):
                frames.append(
                    "HEADERS \(headers.headers.first(name: ":status") ?? "trailers")\(headers.endStream ? " END" : "")"
                )
            case .data(let data):
                guard case .byteBuffer(let buffer) = data.data else { continue }
                frames.append("DATA \(String(buffer: buffer))\(data.endStream ? " END" : "")")
            default:
                frames.append("other")
            }
        }
        return frames
    }

    @Test("the empty END_STREAM frame folds into the last DATA frame")
    func endsOnLastData() throws {
        let channel = try channel()
        channel.write(headers("200"), promise: nil)
        channel.write(data("hello "), promise: nil)
        channel.write(data("world"), promise: nil)
        channel.write(data("", end: true), promise: nil)
        channel.flush()
        #expect(try written(channel) == ["HEADERS 200", "DATA hello ", "DATA world END"])
        _ = try channel.finish()
    }

    @Test("a response without a body ends on its HEADERS; an informational one never does")
    func endsOnHeaders() throws {
        let channel = try channel()
        channel.write(headers("100"), promise: nil)
        channel.write(data("", end: true), promise: nil)
        channel.flush()
        #expect(try written(channel) == ["HEADERS 100", "DATA  END"])
        channel.write(headers("204"), promise: nil)
        channel.write(data("", end: true), promise: nil)
        channel.flush()
        #expect(try written(channel) == ["HEADERS 204 END"])
        _ = try channel.finish()
    }

    @Test("a flush sends what is held; a later end goes as its own frame")
    func flushSendsHeld() throws {
        let channel = try channel()
        channel.write(headers("200"), promise: nil)
        channel.write(data("part"), promise: nil)
        channel.flush()
        #expect(try written(channel) == ["HEADERS 200", "DATA part"])
        channel.write(data("", end: true), promise: nil)
        channel.flush()
        #expect(try written(channel) == ["DATA  END"])
        _ = try channel.finish()
    }

    @Test("every promise of a folded frame completes")
    func promisesComplete() throws {
        let channel = try channel()
        let body = channel.eventLoop.makePromise(of: Void.self)
        let end = channel.eventLoop.makePromise(of: Void.self)
        var completed = 0
        body.futureResult.assumeIsolated().whenSuccess { completed += 1 }
        end.futureResult.assumeIsolated().whenSuccess { completed += 1 }
        channel.write(data("x"), promise: body)
        channel.write(data("", end: true), promise: end)
        channel.flush()
        #expect(completed == 2)
        #expect(try written(channel) == ["DATA x END"])
        _ = try channel.finish()
    }
}
