import NIOConcurrencyHelpers
import NIOCore
import NIOPosix

/// An upstream that answers each request head with bytes a test scripts, exactly as given (framing
/// a NIO server would refuse to send), then closes when the script says so. It counts connections.
final class ScriptedUpstream: Sendable {
    /// What to send for a request to `path`, and whether to close afterwards.
    typealias Script = @Sendable (_ path: String) -> (bytes: String, close: Bool)

    let channel: any Channel
    private let accepted: NIOLockedValueBox<Int>

    var port: Int { channel.localAddress!.port! }
    /// Connections accepted so far.
    var connections: Int { accepted.withLockedValue { $0 } }

    private init(channel: any Channel, accepted: NIOLockedValueBox<Int>) {
        self.channel = channel
        self.accepted = accepted
    }

    static func start(group: any EventLoopGroup, script: @escaping Script) async throws -> ScriptedUpstream {
        let accepted = NIOLockedValueBox(0)
        let channel = try await ServerBootstrap(group: group)
            .serverChannelOption(.socketOption(.so_reuseaddr), value: 1)
            .childChannelInitializer { channel in
                accepted.withLockedValue { $0 += 1 }
                return channel.eventLoop.makeCompletedFuture {
                    try channel.pipeline.syncOperations.addHandler(ScriptedHandler(script: script))
                }
            }
            .bind(host: "127.0.0.1", port: 0).get()
        return ScriptedUpstream(channel: channel, accepted: accepted)
    }

    func stop() async throws {
        try await channel.close()
    }
}

/// Reads request heads (and a `Content-Length` body) and answers each with its script.
private final class ScriptedHandler: ChannelInboundHandler {
    typealias InboundIn = ByteBuffer
    typealias OutboundOut = ByteBuffer

    let script: ScriptedUpstream.Script
    private var received = ""

    init(script: @escaping ScriptedUpstream.Script) {
        self.script = script
    }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        received += String(buffer: unwrapInboundIn(data))
        while let end = received.range(of: "\r\n\r\n") {
            let head = received[..<end.lowerBound]
            var length = 0
            for line in head.split(separator: "\r\n") where line.lowercased().hasPrefix("content-length:") {
                length = Int(String(line.dropFirst(15).filter { $0 != " " })) ?? 0
            }
            let total = received.distance(from: received.startIndex, to: end.upperBound) + length
            guard received.utf8.count >= total else { return }
            let path = head.split(separator: " ").dropFirst().first.map(String.init) ?? "/"
            received = String(received.dropFirst(total))
            let (bytes, close) = script(path)
            let written = context.writeAndFlush(wrapOutboundOut(ByteBuffer(string: bytes)))
            if close {
                written.assumeIsolated().whenComplete { _ in context.close(promise: nil) }
                return
            }
        }
    }
}
