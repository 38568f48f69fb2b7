import Limiter
import Logging
import NIOCore
import NIOExtras
import NIOHTTP1
import NIOPosix
import NIOSSL
import PerEventLoop
import Synchronization

/// The public listener: accepts clients and gives each connection a ``ProxyHandler``.
final class ProxyServer: Sendable {
    /// The address the listener is bound to (with the real port when configured as 0).
    let localAddress: SocketAddress

    private let channel: any Channel
    /// Released at the end of ``drain(grace:)``: its deinit completes a promise on the group, which
    /// must still be running then.
    private let quiescing: Mutex<ServerQuiescingHelper?>
    /// The upstream pools, one per event loop.
    let pools: UpstreamPools
    private let connections: ConnectionRegistry
    private let logger: Logger

    private init(
        channel: any Channel,
        quiescing: ServerQuiescingHelper,
        pools: UpstreamPools,
        connections: ConnectionRegistry,
        logger: Logger
    ) throws {
        self.channel = channel
        self.quiescing = Mutex(quiescing)
        self.pools = pools
        self.connections = connections
        self.logger = logger
        guard let localAddress = channel.localAddress else { throw ChannelError.unknownLocalAddress }
        self.localAddress = localAddress
    }

    /// Binds the listener of `configuration` on `group`.
    static func start(
        configuration: SidecarConfiguration,
        group: MultiThreadedEventLoopGroup,
        limiter: any RateLimiter,
        jwt: JWTClaimVerifier? = nil,
        metrics: ProxyMetrics? = nil,
        tls: NIOSSLContext? = nil,
        logger: Logger
    ) async throws -> ProxyServer {
        let quiescing = ServerQuiescingHelper(group: group)
        let pools = UpstreamPools(
            group: group,
            address: configuration.upstream,
            maxConnections: configuration.upstreamMaxConnections,
            // A request waits for a pool connection no longer than a connect may take, nor than
            // the upstream timeout: past that, 503 tells the client more than a late answer.
            queueTimeout: min(UpstreamPool.defaultConnectTimeout, TimeAmount(configuration.upstreamTimeout)),
            // The shortest connection deadline (handshakes and h2c sniffing use the header timeout):
            // no deadline set later is earlier than the sweep already scheduled.
            deadlineSleep: min(
                TimeAmount(configuration.headerTimeout),
                TimeAmount(configuration.idleTimeout),
                TimeAmount(configuration.upstreamTimeout)
            ),
            logger: logger
        )
        let connections = ConnectionRegistry(limit: configuration.maxConnections)
        let settings = ProxyHandler.Settings(
            forwarding: ForwardingPolicy(
                trustedProxies: TrustedProxies(configuration.trustedProxies),
                scheme: tls == nil ? "http" : "https",
                targets: RequestTargetNormalizer(encodedSeparators: configuration.encodedSlashes),
                ipv6PrefixLength: configuration.ipv6PrefixLength
            ),
            rateLimitHeaders: RateLimitResponseHeaders(mode: configuration.rateLimitHeaders),
            maxBodyBytes: configuration.maxBodyBytes,
            headerTimeout: TimeAmount(configuration.headerTimeout),
            idleTimeout: TimeAmount(configuration.idleTimeout),
            upstreamTimeout: TimeAmount(configuration.upstreamTimeout),
            accessLog: configuration.accessLog == .json ? AccessLog() : nil,
            jwt: jwt,
            metrics: metrics,
            usesTLSSubject: configuration.rules.contains { rule in
                rule.key?.alternatives.contains { $0.contains(.tlsSubject) } ?? false
            },
            connections: connections
        )
        var decoderLimits = NIOHTTPDecoderLimitConfiguration()
        decoderLimits.maxHeaderListSize = configuration.maxHeaderBytes
        decoderLimits.maxHeaderFieldSize = configuration.maxHeaderBytes
        let pipeline = ConnectionPipeline(
            settings: settings,
            pools: pools,
            limiter: limiter,
            logger: logger,
            decoderLimits: decoderLimits,
            tls: tls,
            handshakeTimeout: TimeAmount(configuration.headerTimeout),
            handshakeFailures: metrics?.handles.tlsHandshakeErrors,
            h2MaxStreams: configuration.h2MaxStreams,
            maxHeaderBytes: configuration.maxHeaderBytes,
            shutdownGrace: TimeAmount(configuration.shutdownGrace),
            h2c: configuration.h2c
        )

        let bootstrap = ServerBootstrap(group: group)
            .serverChannelOption(.backlog, value: 4096)
            .serverChannelOption(.socketOption(.so_reuseaddr), value: 1)
            .serverChannelInitializer { channel in
                channel.eventLoop.makeCompletedFuture {
                    try channel.pipeline.syncOperations.addHandler(
                        quiescing.makeServerChannelHandler(channel: channel)
                    )
                }
            }
            .childChannelOption(.tcpOption(.tcp_nodelay), value: 1)
            .childChannelOption(.maxMessagesPerRead, value: 16)
            .childChannelInitializer { channel in
                let opened = connections.open(channel) { count in
                    metrics?.handles.activeConnections.set(Int64(count))
                }
                guard opened else {
                    logger.warning("refusing a connection: SIDECAR_MAX_CONNECTIONS reached")
                    return channel.close()
                }
                return channel.eventLoop.makeCompletedFuture {
                    try pipeline.configure(channel)
                }
            }

        let address = configuration.listen
        let channel = try await bootstrap.bind(host: address.host, port: address.port).get()
        let server = try ProxyServer(
            channel: channel,
            quiescing: quiescing,
            pools: pools,
            connections: connections,
            logger: logger
        )
        logger.info(
            "listening",
            metadata: ["address": "\(server.localAddress)", "upstream": "\(configuration.upstream)"]
        )
        return server
    }

    /// The first phase of a `/drain`: every connection closes after its current exchange, while
    /// the listener still accepts (see ``CloseAfterExchangeEvent``).
    func closeConnectionsAfterTheirExchange() {
        logger.info("connections close after their exchange", metadata: ["connections": "\(connections.count)"])
        connections.closeAfterExchange()
    }

    /// Stops accepting, lets exchanges in flight finish within `grace`, then closes what is left.
    func drain(grace: Duration) async {
        logger.info("draining", metadata: ["connections": "\(connections.count)", "grace": "\(grace)"])
        let done = channel.eventLoop.makePromise(of: Void.self)
        if let quiescing = quiescing.withLock({ $0 }) {
            quiescing.initiateShutdown(promise: done)
        } else {
            done.succeed()
        }
        // Raced on the loop: awaiting the future in a child task cannot be cancelled, so a task
        // group would wait for the last connection however long the grace.
        let outcome = channel.eventLoop.makePromise(of: Bool.self)
        done.futureResult.whenComplete { _ in outcome.succeed(true) }
        let timeout = channel.eventLoop.scheduleTask(in: TimeAmount(grace)) { outcome.succeed(false) }
        let finished = (try? await outcome.futureResult.get()) ?? false
        timeout.cancel()
        if !finished {
            logger.warning(
                "grace period over; closing remaining connections",
                metadata: ["connections": "\(connections.count)"]
            )
        }
        await pools.closeAll()
        quiescing.withLock { $0 = nil }
    }
}

/// One ``UpstreamPool`` per event loop, each created on and used from its own loop only.
final class UpstreamPools: Sendable {
    private let pools: PerEventLoop<UpstreamPool>
    private let address: UpstreamAddress
    private let maxConnections: Int
    private let queueTimeout: TimeAmount
    private let deadlineSleep: TimeAmount?
    private let logger: Logger

    init(
        group: MultiThreadedEventLoopGroup,
        address: UpstreamAddress,
        maxConnections: Int = UpstreamPool.defaultMaxConnections,
        queueTimeout: TimeAmount = UpstreamPool.defaultConnectTimeout,
        deadlineSleep: TimeAmount? = nil,
        logger: Logger = Logger(label: "sidecar.upstream")
    ) {
        self.pools = PerEventLoop(group: group)
        self.address = address
        self.maxConnections = maxConnections
        self.queueTimeout = queueTimeout
        self.deadlineSleep = deadlineSleep
        self.logger = logger
    }

    /// The pool of `eventLoop`; call on that loop.
    func pool(for eventLoop: any EventLoop) -> UpstreamPool {
        pools.value(on: eventLoop) { loop in
            UpstreamPool(
                eventLoop: loop,
                address: address,
                maxConnections: maxConnections,
                queueTimeout: queueTimeout,
                deadlineSleep: deadlineSleep,
                logger: logger
            )
        }
    }

    /// Closes the idle connections of every pool.
    func closeAll() async {
        _ = await pools.gather { $0.close() }
    }

    /// Connects started so far by every pool together.
    func connectAttempts() async -> Int {
        await pools.gather { $0.connectAttempts }.reduce(0, +)
    }
}
