import NIOConcurrencyHelpers
import NIOCore
import NIOHTTP1
import NIOPosix
import NIOWebSocket
import Synchronization

/// A real HTTP/1.1 server on an ephemeral loopback port, standing in for the gateway.
///
/// Routes: `/hello`, `/echo` (streams the body back), `/bytes/<n>` (n bytes, streamed with
/// backpressure), `/sink` (counts the body), `/headers` (the request head as text), `/slow/<ms>`,
/// `/status/<code>`, `/close` (closes without answering), `/chunked`, `/reset-mid` (half a body, then close).
final class TestUpstream: Sendable {
    let port: Int
    private let channel: any Channel
    private let counter: Counter
    private let abandoned: Counter
    private let open: Counter
    private let peak: Counter

    /// The most connections that were open at once so far.
    var peakConnections: Int { peak.value.load(ordering: .relaxed) }

    /// `/slow/<ms>` requests whose connection closed before they were answered.
    var abandonedSlowRequests: Int { abandoned.value.load(ordering: .relaxed) }

    /// Connections accepted so far.
    var connections: Int { counter.value.load(ordering: .relaxed) }

    private init(port: Int, channel: any Channel, counter: Counter, abandoned: Counter, open: Counter, peak: Counter) {
        self.port = port
        self.channel = channel
        self.counter = counter
        self.abandoned = abandoned
        self.open = open
        self.peak = peak
    }

    static func start(group: any EventLoopGroup, unixSocketPath: String? = nil) async throws -> TestUpstream {
        let counter = Counter()
        let abandoned = Counter()
        let open = Counter()
        let peak = Counter()
        let bootstrap = ServerBootstrap(group: group)
            .serverChannelOption(.socketOption(.so_reuseaddr), value: 1)
            .childChannelInitializer { channel in
                counter.value.add(1, ordering: .relaxed)
                let nowOpen = open.value.add(1, ordering: .relaxed).newValue
                peak.value.max(nowOpen, ordering: .relaxed)
                channel.closeFuture.whenComplete { _ in open.value.subtract(1, ordering: .relaxed) }
                return channel.eventLoop.makeCompletedFuture {
                    // `/ws`: a WebSocket echo server.
                    let upgrader = NIOWebSocketServerUpgrader(
                        shouldUpgrade: { channel, head in
                            channel.eventLoop.makeSucceededFuture(head.uri == "/ws" ? HTTPHeaders() : nil)
                        },
                        upgradePipelineHandler: { channel, _ in
                            channel.eventLoop.makeCompletedFuture {
                                try channel.pipeline.syncOperations.addHandler(WebSocketEcho())
                            }
                        }
                    )
                    try channel.pipeline.syncOperations.configureHTTPServerPipeline(
                        withServerUpgrade: (
                            upgraders: [upgrader],
                            completionHandler: { context in
                                let sync = context.pipeline.syncOperations
                                if let http = try? sync.context(handlerType: TestUpstreamHandler.self) {
                                    sync.removeHandler(context: http, promise: nil)
                                }
                            }
                        )
                    )
                    try channel.pipeline.syncOperations.addHandler(TestUpstreamHandler(abandoned: abandoned))
                }
            }
        let channel: any Channel
        if let unixSocketPath {
            channel = try await bootstrap.bind(unixDomainSocketPath: unixSocketPath, cleanupExistingSocketFile: true)
                .get()
        } else {
            channel = try await bootstrap.bind(host: "127.0.0.1", port: 0).get()
        }
        return TestUpstream(
            port: channel.localAddress?.port ?? 0,
            channel: channel,
            counter: counter,
            abandoned: abandoned,
            open: open,
            peak: peak
        )
    }

    /// Sends the next event of the `/sse` stream in progress.
    static let sseStepper = NIOLockedValueBox<(@Sendable () -> Void)?>(nil)

    func stop() async throws {
        try await channel.close()
    }

    final class Counter: Sendable {
        let value = Atomic<Int>(0)
    }
}

/// Sends every data frame back; answers close with close.
private final class WebSocketEcho: ChannelInboundHandler {
    typealias InboundIn = WebSocketFrame
    typealias OutboundOut = WebSocketFrame

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        let frame = unwrapInboundIn(data)
        switch frame.opcode {
        case .text, .binary:
            let reply = WebSocketFrame(fin: true, opcode: frame.opcode, data: frame.unmaskedData)
            context.writeAndFlush(wrapOutboundOut(reply), promise: nil)
        case .connectionClose:
            let reply = WebSocketFrame(fin: true, opcode: .connectionClose, data: frame.unmaskedData)
            context.writeAndFlush(wrapOutboundOut(reply)).assumeIsolated().whenComplete { _ in
                context.close(promise: nil)
            }
        default:
            break
        }
    }
}

private final class TestUpstreamHandler: ChannelInboundHandler, RemovableChannelHandler {
    typealias InboundIn = HTTPServerRequestPart
    typealias OutboundOut = HTTPServerResponsePart

    private var route = ""
    private var received = 0
    private var echoing = false
    private var keepAlive = true
    private var remainingToSend = 0
    private var sending = false
    private var slowPending = false
    private let abandoned: TestUpstream.Counter

    init(abandoned: TestUpstream.Counter) {
        self.abandoned = abandoned
    }

    func channelInactive(context: ChannelHandlerContext) {
        if slowPending { abandoned.value.add(1, ordering: .relaxed) }
        context.fireChannelInactive()
    }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        switch unwrapInboundIn(data) {
        case .head(let head):
            route = head.uri
            received = 0
            keepAlive = head.isKeepAlive
            if route == "/echo" {
                echoing = true
                var headers = HTTPHeaders([("transfer-encoding", "chunked")])
                if let type = head.headers.first(name: "content-type") {
                    headers.add(name: "content-type", value: type)
                }
                context.writeAndFlush(
                    wrapOutboundOut(.head(HTTPResponseHead(version: .http1_1, status: .ok, headers: headers))),
                    promise: nil
                )
            } else if route == "/headers" {
                var text = "\(head.method.rawValue) \(head.uri)\n"
                for (name, value) in head.headers { text += "\(name.lowercased()): \(value)\n" }
                respond(context: context, status: .ok, body: text)
                route = "done"
            }
        case .body(let body):
            received += body.readableBytes
            if echoing {
                context.writeAndFlush(wrapOutboundOut(.body(.byteBuffer(body))), promise: nil)
            }
        case .end:
            if echoing {
                echoing = false
                context.writeAndFlush(wrapOutboundOut(.end(nil)), promise: nil)
                return
            }
            handle(context: context)
        }
    }

    private func handle(context: ChannelHandlerContext) {
        let parts = route.split(separator: "/").map(String.init)
        switch parts.first {
        case "done":
            break
        case "hello":
            respond(context: context, status: .ok, body: "hello from upstream\n")
        case "sink":
            respond(context: context, status: .ok, body: "received \(received)\n")
        case "bytes":
            remainingToSend = Int(parts.dropFirst().first ?? "0") ?? 0
            let head = HTTPResponseHead(
                version: .http1_1,
                status: .ok,
                headers: ["content-length": String(remainingToSend)]
            )
            context.write(wrapOutboundOut(.head(head)), promise: nil)
            sending = true
            sendMore(context: context)
        case "slow":
            let milliseconds = Int64(parts.dropFirst().first ?? "0") ?? 0
            let boundContext = NIOLoopBound(context, eventLoop: context.eventLoop)
            let boundSelf = NIOLoopBound(self, eventLoop: context.eventLoop)
            slowPending = true
            context.eventLoop.scheduleTask(in: .milliseconds(milliseconds)) {
                boundSelf.value.slowPending = false
                boundSelf.value.respond(context: boundContext.value, status: .ok, body: "slow \(milliseconds)\n")
            }
        case "status":
            let code = Int(parts.dropFirst().first ?? "200") ?? 200
            respond(context: context, status: HTTPResponseStatus(statusCode: code), body: "")
        case "close":
            context.close(promise: nil)
        case "reset-mid":
            let head = HTTPResponseHead(version: .http1_1, status: .ok, headers: ["content-length": "100"])
            context.write(wrapOutboundOut(.head(head)), promise: nil)
            context.writeAndFlush(
                wrapOutboundOut(.body(.byteBuffer(ByteBuffer(string: String(repeating: "x", count: 50)))))
            )
            .assumeIsolated().whenComplete { _ in context.close(promise: nil) }
        case "sse":
            // Server-sent events in lock step: event n + 1 is sent only once `/sse-next` is requested,
            // so a client that waits for each event before asking for the next one proves streaming.
            let head = HTTPResponseHead(
                version: .http1_1,
                status: .ok,
                headers: ["content-type": "text/event-stream", "cache-control": "no-cache"]
            )
            context.writeAndFlush(wrapOutboundOut(.head(head)), promise: nil)
            let boundContext = NIOLoopBound(context, eventLoop: context.eventLoop)
            let boundSelf = NIOLoopBound(self, eventLoop: context.eventLoop)
            let count = NIOLoopBoundBox(0, eventLoop: context.eventLoop)
            let loop = context.eventLoop
            let send: @Sendable () -> Void = {
                loop.execute {
                    count.value += 1
                    let event = ByteBuffer(string: "data: \(count.value)\n\n")
                    boundContext.value.writeAndFlush(
                        boundSelf.value.wrapOutboundOut(.body(.byteBuffer(event))),
                        promise: nil
                    )
                    if count.value == 5 {
                        boundContext.value.writeAndFlush(boundSelf.value.wrapOutboundOut(.end(nil)), promise: nil)
                    }
                }
            }
            TestUpstream.sseStepper.withLockedValue { $0 = send }
            send()
        case "sse-next":
            TestUpstream.sseStepper.withLockedValue { $0 }?()
            respond(context: context, status: .ok, body: "next\n")
        case "chunked":
            let head = HTTPResponseHead(version: .http1_1, status: .ok, headers: ["transfer-encoding": "chunked"])
            context.write(wrapOutboundOut(.head(head)), promise: nil)
            for piece in ["one,", "two,", "three"] {
                context.write(wrapOutboundOut(.body(.byteBuffer(ByteBuffer(string: piece)))), promise: nil)
            }
            context.writeAndFlush(wrapOutboundOut(.end(nil)), promise: nil)
        default:
            respond(context: context, status: .notFound, body: "no route \(route)\n")
        }
    }

    func channelWritabilityChanged(context: ChannelHandlerContext) {
        if sending && context.channel.isWritable { sendMore(context: context) }
    }

    private func sendMore(context: ChannelHandlerContext) {
        let chunk = ByteBuffer(repeating: UInt8(ascii: "x"), count: 64 * 1024)
        while remainingToSend > 0 && context.channel.isWritable {
            let size = min(remainingToSend, chunk.readableBytes)
            remainingToSend -= size
            context.write(wrapOutboundOut(.body(.byteBuffer(chunk.getSlice(at: 0, length: size)!))), promise: nil)
        }
        if remainingToSend == 0 {
            sending = false
            context.writeAndFlush(wrapOutboundOut(.end(nil)), promise: nil)
        } else {
            context.flush()
        }
    }

    private func respond(context: ChannelHandlerContext, status: HTTPResponseStatus, body: String) {
        var headers = HTTPHeaders([("content-length", String(body.utf8.count)), ("content-type", "text/plain")])
        if !keepAlive { headers.add(name: "connection", value: "close") }
        context.write(
            wrapOutboundOut(.head(HTTPResponseHead(version: .http1_1, status: status, headers: headers))),
            promise: nil
        )
        if !body.isEmpty {
            context.write(wrapOutboundOut(.body(.byteBuffer(ByteBuffer(string: body)))), promise: nil)
        }
        context.writeAndFlush(wrapOutboundOut(.end(nil)), promise: nil)
    }
}
