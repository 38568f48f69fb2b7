import Limiter
import Logging
import NIOCore
import NIOEmbedded
import NIOHTTP1
import Testing

@testable import Sidecar

/// The server pipeline on an `EmbeddedChannel`: bytes in, bytes out, no sockets.
@Suite("ProxyHandler on an EmbeddedChannel")
struct ProxyHandlerTests {
    private func makeChannel(
        maxHeaderBytes: Int = 32 * 1024,
        maxBodyBytes: Int? = nil,
        limiter: any RateLimiter = AllowAllRateLimiter()
    ) throws -> EmbeddedChannel {
        let channel = EmbeddedChannel()
        let settings = ProxyHandler.Settings(
            forwarding: ForwardingPolicy(trustedProxies: TrustedProxies([]), scheme: "http"),
            rateLimitHeaders: RateLimitResponseHeaders(mode: .draft),
            maxBodyBytes: maxBodyBytes,
            headerTimeout: .seconds(10),
            idleTimeout: .seconds(60),
            upstreamTimeout: .seconds(60),
            accessLog: nil
        )
        let proxy = ProxyHandler(
            settings: settings,
            pool: UpstreamPool(eventLoop: channel.embeddedEventLoop, address: .unix(path: "/nonexistent")),
            limiter: limiter,
            logger: Logger(label: "test")
        )
        try ConnectionPipeline.addHTTP1Handlers(
            proxy: proxy,
            maxHeaderBytes: maxHeaderBytes,
            to: channel.pipeline.syncOperations
        )
        try channel.connect(to: SocketAddress(ipAddress: "127.0.0.1", port: 1)).wait()
        return channel
    }

    private func written(_ channel: EmbeddedChannel) throws -> String {
        var text = ""
        while let buffer = try channel.readOutbound(as: ByteBuffer.self) { text += String(buffer: buffer) }
        return text
    }

    @Test func malformedFramingGets400AndHalfCloses() throws {
        let channel = try makeChannel()
        let request = "POST / HTTP/1.1\r\nHost: x\r\nContent-Length: 1\r\nContent-Length: 2\r\n\r\n"
        _ = try? channel.writeInbound(ByteBuffer(string: request))
        let response = try written(channel)
        #expect(response.hasPrefix("HTTP/1.1 400 Bad Request\r\n"))
        #expect(
            response.contains("content-type: application/problem+json")
                || response.contains("Content-Type: application/problem+json")
        )
        #expect(response.contains("\"status\":400"))
        _ = try? channel.finish()
    }

    /// The upstream pipeline does not validate header fields again, so the request parser must
    /// refuse every field HTTP/1.1 cannot carry.
    @Test(
        "a field HTTP/1.1 cannot carry gets 400",
        arguments: [
            "x-a: a\u{1}b", "x-a: a\u{0}b", "x-a: a\u{7f}b", "x-a: a\rb", "x a: b", "x\u{1}a: b", ": b", "x-a b",
        ]
    )
    func unsendableFieldGets400(field: String) throws {
        let channel = try makeChannel()
        _ = try? channel.writeInbound(ByteBuffer(string: "GET / HTTP/1.1\r\nHost: x\r\n\(field)\r\n\r\n"))
        #expect(try written(channel).hasPrefix("HTTP/1.1 400 Bad Request\r\n"))
        _ = try? channel.finish()
    }

    @Test func oversizedHeadGets431() throws {
        let channel = try makeChannel(maxHeaderBytes: 64)
        _ = try? channel.writeInbound(
            ByteBuffer(string: "GET / HTTP/1.1\r\nX-Long: \(String(repeating: "v", count: 100))\r\n\r\n")
        )
        #expect(try written(channel).hasPrefix("HTTP/1.1 431 Request Header Fields Too Large\r\n"))
        _ = try? channel.finish()
    }

    @Test func declaredBodyOverTheLimitGets413BeforeAnyUpstreamWork() throws {
        let channel = try makeChannel(maxBodyBytes: 10)
        try channel.writeInbound(ByteBuffer(string: "POST /jobs HTTP/1.1\r\nHost: x\r\nContent-Length: 11\r\n\r\n"))
        let response = try written(channel)
        #expect(response.hasPrefix("HTTP/1.1 413 Payload Too Large\r\n"))
        #expect(response.lowercased().contains("connection: close"))
        #expect(response.lowercased().contains("x-request-id: "))
        _ = try? channel.finish()
    }

    @Test func aLocalAnswerToHEADHasItsLengthButNoBody() throws {
        let limiter = PendingRateLimiter()
        let channel = try makeChannel(limiter: limiter)
        try channel.writeInbound(ByteBuffer(string: "HEAD /x HTTP/1.1\r\nHost: x\r\n\r\n"))
        limiter.receiver?.rateLimitDecided(RateLimitDecision(verdict: .unavailable, policy: nil))
        let response = try written(channel)
        #expect(response.hasPrefix("HTTP/1.1 503 Service Unavailable\r\n"))
        #expect(response.contains("Content-Length: "))
        #expect(!response.contains("Content-Length: 0\r\n"))
        #expect(response.hasSuffix("\r\n\r\n"))
        // The next request on the connection is read as a request, not as a body.
        try channel.writeInbound(ByteBuffer(string: "GET /x HTTP/1.1\r\nHost: x\r\n\r\n"))
        limiter.receiver?.rateLimitDecided(RateLimitDecision(verdict: .unavailable, policy: nil))
        let second = try written(channel)
        #expect(second.hasPrefix("HTTP/1.1 503 Service Unavailable\r\n"))
        #expect(second.hasSuffix("}"))
        _ = try? channel.finish()
    }

    @Test func quiescingClosesAnIdleConnection() throws {
        let channel = try makeChannel()
        channel.pipeline.fireUserInboundEventTriggered(ChannelShouldQuiesceEvent())
        #expect(!channel.isActive)
    }

    @Test func holdsReadsForABodyWhileTheLimiterDecidesThenAnswers429() throws {
        let limiter = PendingRateLimiter()
        let channel = try makeChannel(limiter: limiter)
        let reads = ReadCounter()
        try channel.pipeline.syncOperations.addHandler(reads, position: .first)
        try channel.writeInbound(ByteBuffer(string: "POST /x HTTP/1.1\r\nHost: x\r\nContent-Length: 4\r\n\r\n"))
        // The body stays in the socket until the limiter has decided.
        channel.read()
        #expect(reads.count == 0)
        try channel.writeInbound(ByteBuffer(string: "body"))
        // Complete: the held read goes through.
        #expect(reads.count == 1)
        channel.read()
        #expect(reads.count == 2)

        let policy = RateLimitPolicyState(
            rule: "fleet",
            quota: 5,
            windowSeconds: 1,
            remaining: 0,
            resetMicroseconds: 800_000,
            retryAfterMicroseconds: 200_000
        )
        limiter.receiver?.rateLimitDecided(RateLimitDecision(verdict: .limited, policy: policy))
        let response = try written(channel)
        #expect(response.hasPrefix("HTTP/1.1 429 Too Many Requests\r\n"))
        #expect(response.contains("Retry-After: 1\r\n"))
        #expect(response.contains("RateLimit: \"fleet\";r=0;t=1\r\n"))
        #expect(response.contains("\"rule\":\"fleet\""))
        // The request was complete: the connection stays open and reading goes on.
        channel.read()
        #expect(reads.count == 3)
        #expect(channel.isActive)
        _ = try? channel.finish()
    }
}

/// A limiter whose decision the test gives by hand.
private final class PendingRateLimiter: RateLimiter, @unchecked Sendable {
    var receiver: (any RateLimitDecisionReceiver)?

    func check<Request: RateLimitRequest>(
        _ request: Request,
        on eventLoop: any EventLoop,
        receiver: any RateLimitDecisionReceiver
    ) -> RateLimitCheck {
        self.receiver = receiver
        return .pending
    }
}

/// Counts `read()` calls that reach the front of the pipeline.
private final class ReadCounter: ChannelOutboundHandler {
    typealias OutboundIn = Any
    var count = 0

    func read(context: ChannelHandlerContext) {
        count += 1
        context.read()
    }
}
