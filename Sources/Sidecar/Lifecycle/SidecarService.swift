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
        let limiter: any RateLimiter = AllowAllRateLimiter()
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
        logger.info("stopped")
        try? await group.shutdownGracefully()
    }
}
