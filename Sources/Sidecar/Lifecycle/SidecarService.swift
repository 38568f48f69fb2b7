import Limiter
import Logging
import NIOCore
import NIOPosix
import ServiceLifecycle

/// The running sidecar: event loops, the public listener, and the drain on graceful shutdown.
struct SidecarService: Service {
    let configuration: SidecarConfiguration
    let logger: Logger

    func run() async throws {
        let group = MultiThreadedEventLoopGroup(numberOfThreads: configuration.eventLoops)
        let limiters = RateLimiters.make(configuration: configuration, group: group, logger: logger)
        let limiter = limiters.limiter
        let server: ProxyServer
        do {
            server = try await ProxyServer.start(
                configuration: configuration,
                group: group,
                limiter: limiter,
                logger: logger
            )
        } catch {
            logger.critical(
                "cannot listen",
                metadata: ["SIDECAR_LISTEN": "\(configuration.listen)", "error": "\(error)"]
            )
            try? await group.shutdownGracefully()
            throw error
        }
        try? await gracefulShutdown()
        await server.drain(grace: configuration.shutdownGrace)
        await limiters.redis?.shutdown()
        logger.info("stopped")
        try? await group.shutdownGracefully()
    }
}

/// The rate limiter a configuration asks for.
struct RateLimiters {
    /// What the proxy asks.
    var limiter: any RateLimiter
    /// The Redis limiter, when `SIDECAR_REDIS_URL` is set.
    var redis: RedisRateLimiter?

    static func make(configuration: SidecarConfiguration, group: any EventLoopGroup, logger: Logger) -> RateLimiters {
        let rules = configuration.rules
        if rules.isEmpty { return RateLimiters(limiter: AllowAllRateLimiter(), redis: nil) }
        guard let redis = configuration.redis else {
            return RateLimiters(limiter: InProcessRateLimiter(rules: rules), redis: nil)
        }
        let failureMode: RateLimitFailureMode
        switch configuration.redisFailureMode {
        case .local: failureMode = .local(InProcessRateLimiter(rules: rules, divisor: configuration.replicas ?? 1))
        case .open: failureMode = .open
        case .closed: failureMode = .closed
        }
        let timeout = TimeAmount(configuration.redisTimeout)
        let limiter = RedisRateLimiter(
            rules: rules,
            configuration: RedisRateLimiter.Configuration(
                redis: RedisConnection.Configuration(
                    host: redis.host,
                    port: redis.port,
                    username: redis.username,
                    password: redis.password,
                    database: redis.database,
                    useTLS: redis.useTLS,
                    requestTimeout: timeout
                ),
                timeout: timeout
            ),
            failureMode: failureMode,
            group: group,
            logger: logger
        )
        return RateLimiters(limiter: limiter, redis: limiter)
    }
}
