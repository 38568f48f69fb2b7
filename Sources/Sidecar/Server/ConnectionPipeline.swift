import Limiter
import Logging
import NIOCore
import NIOHTTP1
import NIOHTTP2
import NIOSSL
import NIOTLS
import Prometheus

/// Builds a client connection's pipeline: TLS and ALPN when configured, then HTTP/1.1, or
/// HTTP/2 with each stream translated to HTTP/1.1 for the same ``ProxyHandler``.
struct ConnectionPipeline: Sendable {
    var settings: ProxyHandler.Settings
    var pools: UpstreamPools
    var limiter: any RateLimiter
    var logger: Logger
    var decoderLimits: NIOHTTPDecoderLimitConfiguration
    /// The shared TLS context; `nil` serves plain HTTP.
    var tls: NIOSSLContext?
    var handshakeTimeout: TimeAmount
    var handshakeFailures: Prometheus.Counter?
    /// Concurrent streams per HTTP/2 connection (`SIDECAR_H2_MAX_STREAMS`).
    var h2MaxStreams: Int
    /// Largest header list accepted, for HTTP/2's `SETTINGS_MAX_HEADER_LIST_SIZE`.
    var maxHeaderBytes: Int
    /// How long a drained HTTP/2 connection may take to finish its streams (`SIDECAR_SHUTDOWN_GRACE`).
    var shutdownGrace: TimeAmount
    /// Whether plain connections may speak HTTP/2 with prior knowledge (`SIDECAR_H2C`).
    var h2c: Bool = false

    /// Stream and connection windows of Envoy's edge profile.
    /// NIO's request decoder (llhttp: strict framing) and the proxy handler, which writes its
    /// responses as bytes (``HTTP1ResponseBytes``): no response encoder, pipelining is the proxy's.
    static func addHTTP1Handlers(
        proxy: ProxyHandler,
        maxHeaderBytes: Int,
        to sync: ChannelPipeline.SynchronousOperations
    ) throws {
        let decoder = HTTP1RequestDecoderHandler(proxy: proxy, maxHeaderBytes: maxHeaderBytes)
        proxy.requestDecoder = decoder
        try sync.addHandler(decoder)
        try sync.addHandler(proxy)
    }

    static let streamWindow = 64 * 1024
    static let connectionWindow = 1024 * 1024

    /// Sets up `channel`, a newly accepted connection; call on its event loop.
    func configure(_ channel: any Channel) throws {
        let sync = channel.pipeline.syncOperations
        let deadlines = pools.pool(for: channel.eventLoop).deadlines
        // Next to the socket (below TLS): every close of the connection lingers instead of resetting.
        try sync.addHandler(LingeringCloseHandler())
        guard let tls else {
            if h2c {
                try sync.addHandler(
                    PriorKnowledgeSniffer(timeout: settings.headerTimeout, deadlines: deadlines) { http2, channel in
                        if http2 { try self.configureHTTP2(channel) } else { try self.configureHTTP1(channel) }
                    }
                )
            } else {
                try configureHTTP1(channel)
            }
            return
        }
        try sync.addHandler(NIOSSLServerHandler(context: tls))
        try sync.addHandler(TLSRecordCoalescer())
        try sync.addHandler(
            TLSHandshakeGuard(timeout: handshakeTimeout, deadlines: deadlines, failures: handshakeFailures)
        )
        try sync.addHandler(
            ApplicationProtocolNegotiationHandler { result, channel in
                channel.eventLoop.makeCompletedFuture {
                    if case .negotiated("h2") = result {
                        try self.configureHTTP2(channel)
                    } else {
                        try self.configureHTTP1(channel)
                    }
                }
            }
        )
    }

    /// HTTP/1.1: the request decoder, then the proxy handler (pipelining is the proxy handler's).
    func configureHTTP1(_ channel: any Channel) throws {
        let proxy = makeProxyHandler(on: channel.eventLoop, servesHTTP2Stream: false)
        try Self.addHTTP1Handlers(proxy: proxy, maxHeaderBytes: maxHeaderBytes, to: channel.pipeline.syncOperations)
    }

    /// HTTP/2: explicit limits, swift-nio-http2's rapid-reset and CONTINUATION-flood protections
    /// (on by default), its connection manager (two-phase GOAWAY on drain, idle close), and one
    /// proxy handler per stream.
    func configureHTTP2(_ channel: any Channel) throws {
        var connection = NIOHTTP2Handler.ConnectionConfiguration()
        connection.initialSettings = [
            HTTP2Setting(parameter: .maxConcurrentStreams, value: h2MaxStreams),
            HTTP2Setting(parameter: .initialWindowSize, value: Self.streamWindow),
            HTTP2Setting(parameter: .maxHeaderListSize, value: maxHeaderBytes),
            HTTP2Setting(parameter: .maxFrameSize, value: 1 << 14),
        ]
        connection.targetWindowSize = Self.connectionWindow
        var stream = NIOHTTP2Handler.StreamConfiguration()
        stream.targetWindowSize = Self.streamWindow
        let manager = NIOHTTP2ServerConnectionManagementHandler(
            eventLoop: channel.eventLoop,
            configuration: .init(
                maxIdleTime: settings.idleTimeout,
                maxAge: nil,
                maxGraceTime: shutdownGrace,
                keepalive: nil
            )
        )
        let sync = channel.pipeline.syncOperations
        _ = try sync.configureHTTP2Pipeline(
            mode: .server,
            connectionConfiguration: connection,
            streamConfiguration: stream,
            streamDelegate: manager.http2StreamDelegate
        ) { streamChannel in
            streamChannel.eventLoop.makeCompletedFuture {
                let streamSync = streamChannel.pipeline.syncOperations
                try streamSync.addHandler(HTTP2EndStreamMerger())
                try streamSync.addHandler(HTTP2RequestStreamDecoder())
                try streamSync.addHandler(self.makeProxyHandler(on: streamChannel.eventLoop, servesHTTP2Stream: true))
            }
        }
        try sync.addHandler(HTTP2CloseAfterExchangeHandler(connections: settings.connections))
        try sync.addHandler(manager)
    }

    private func makeProxyHandler(on eventLoop: any EventLoop, servesHTTP2Stream: Bool) -> ProxyHandler {
        ProxyHandler(
            settings: settings,
            pool: pools.pool(for: eventLoop),
            limiter: limiter,
            logger: logger,
            servesHTTP2Stream: servesHTTP2Stream
        )
    }
}
