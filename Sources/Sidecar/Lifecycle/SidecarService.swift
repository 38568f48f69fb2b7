import Foundation
import Limiter
import Logging
import NIOCore
import NIOPosix
import ServiceLifecycle
import SidecarMetrics
import Synchronization

/// The running sidecar: event loops, the public listener, and the drain on graceful shutdown.
struct SidecarService: Service {
    let configuration: SidecarConfiguration
    /// Verifies bearer tokens for `jwt:` keys, when configured.
    let jwt: JWTClaimVerifier?
    /// TLS termination, when configured.
    let tls: TLSSetup?
    /// The registry `/metrics` emits and the executable's own metrics.
    let metrics: SidecarMetricsSystem.Handles
    let logger: Logger

    func run() async throws {
        let group = MultiThreadedEventLoopGroup(numberOfThreads: configuration.eventLoops)
        let limiters = RateLimiters.make(configuration: configuration, group: group, logger: logger)
        let limiter = limiters.limiter
        let http = HTTPMetrics(
            routes: RouteClassifier(routes: configuration.metricsRoutes.map(\.patternText)),
            group: group
        )
        let server: ProxyServer
        let admin: AdminServer
        let draining = DrainFlag()
        let drainer = Drainer()
        do {
            server = try await ProxyServer.start(
                configuration: configuration,
                group: group,
                limiter: limiter,
                jwt: jwt,
                metrics: ProxyMetrics(http: http, handles: metrics),
                tls: tls?.context,
                logger: logger
            )
            let probe = UpstreamProbe(address: configuration.upstream, group: group)
            admin = try await AdminServer.bind(
                host: configuration.adminListen.host,
                port: configuration.adminListen.port,
                group: group,
                sources: AdminServer.Sources(
                    registry: metrics.registry,
                    http: http,
                    drain: { [configuration, logger] query in
                        // `/drain?after=5s`: not ready, and every connection closes after its
                        // exchange, at once; the listener stays open `after` (while load
                        // balancers stop sending here), then drains; answered once drained.
                        let delay: Duration
                        switch DrainRequest.delay(query: query) {
                        case .success(let parsed): delay = parsed
                        case .failure(let problem): return (.badRequest, problem.expected)
                        }
                        draining.set()
                        logger.info("drain asked on the admin port", metadata: ["after": "\(delay)"])
                        await drainer.drain { [server] in
                            server.closeConnectionsAfterTheirExchange()
                            try? await Task.sleep(for: delay)
                            await server.drain(grace: configuration.shutdownGrace)
                        }
                        return (.ok, "drained")
                    }
                ) {
                    !draining.isSet ? await probe.isReachable() : false
                },
                logger: logger
            )
        } catch {
            logger.critical(
                "cannot listen",
                metadata: [
                    "SIDECAR_LISTEN": "\(configuration.listen)", "SIDECAR_ADMIN_LISTEN": "\(configuration.adminListen)",
                    "error": "\(error)",
                ]
            )
            // What runs on the loops stops before they do.
            await limiters.redis?.shutdown()
            try? await group.shutdownGracefully()
            throw error
        }
        await withTaskGroup(of: Void.self) { tasks in
            tasks.addTask { await admin.run() }
            if let reloader = tls?.reloader {
                tasks.addTask { try? await reloader.run() }
            }
            if let heartbeat = limiters.heartbeat(configuration: configuration, group: group, logger: logger) {
                tasks.addTask { await heartbeat.run() }
            }
            if let redis = limiters.redis, configuration.redisMode == .sentinel {
                tasks.addTask { await redis.followSentinelAnnouncements() }
            }
            try? await gracefulShutdown()
            // /readyz answers 503 from now on, while in-flight requests finish.
            draining.set()
            // The listener, its connections and the upstream pools stop first; then the admin
            // server, the certificate reloader and the heartbeat (awaited by the task group), then
            // the Redis connections; the event loops last, once nothing is left to run on them.
            // After a `/drain` (a preStop), this waits for that one and drains nothing more.
            await drainer.drain { await server.drain(grace: configuration.shutdownGrace) }
            tasks.cancelAll()
        }
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

    /// The replica heartbeat that sets the `local` share, when the share is not fixed by `SIDECAR_REPLICAS`.
    func heartbeat(configuration: SidecarConfiguration, group: any EventLoopGroup, logger: Logger) -> ReplicaHeartbeat?
    {
        guard let redis, let url = configuration.redis, configuration.replicas == nil,
            configuration.redisFailureMode == .local
        else { return nil }
        let rules = configuration.rules
        let share = LocalShare()
        var ids = RequestIDGenerator()
        return ReplicaHeartbeat(
            redis: Self.redisServer(configuration, url: url),
            sentinel: Self.sentinel(configuration, url: url),
            cluster: Self.cluster(configuration, url: url),
            id: ids.next(),
            eventLoop: group.next(),
            logger: logger
        ) { count in
            guard share.changed(to: count) else { return }
            logger.info(
                "live replicas changed; the local failure mode enforces its share",
                metadata: ["replicas": "\(count)"]
            )
            redis.setFailureMode(.local(InProcessRateLimiter(rules: rules, divisor: count)))
        }
    }

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
                redis: redisServer(configuration, url: redis, requestTimeout: timeout),
                timeout: timeout,
                sentinel: sentinel(configuration, url: redis),
                cluster: cluster(configuration, url: redis, requestTimeout: timeout)
            ),
            failureMode: failureMode,
            group: group,
            logger: logger
        )
        return RateLimiters(limiter: limiter, redis: limiter)
    }

    /// The server to use with `url`'s credentials, database and TLS: its address in standalone
    /// mode; in sentinel mode the address is a placeholder the sentinels' answer replaces.
    static func redisServer(
        _ configuration: SidecarConfiguration,
        url: RedisURL,
        requestTimeout: TimeAmount = .milliseconds(50)
    ) -> RedisConnection.Configuration {
        RedisConnection.Configuration(
            host: url.host,
            port: url.port,
            username: url.username,
            password: url.password,
            database: url.database,
            useTLS: url.useTLS,
            requestTimeout: requestTimeout
        )
    }

    /// The cluster whose seed nodes `url` lists, with its credentials and TLS, in cluster mode.
    static func cluster(
        _ configuration: SidecarConfiguration,
        url: RedisURL,
        requestTimeout: TimeAmount = .milliseconds(50)
    ) -> RedisCluster? {
        guard configuration.redisMode == .cluster else { return nil }
        return RedisCluster(
            seeds: url.addresses.map { address in
                var seed = redisServer(configuration, url: url, requestTimeout: requestTimeout)
                seed.host = address.host
                seed.port = address.port
                return seed
            }
        )
    }

    /// The Sentinel set of `url`'s addresses, in sentinel mode.
    static func sentinel(_ configuration: SidecarConfiguration, url: RedisURL) -> RedisSentinel? {
        guard configuration.redisMode == .sentinel, let master = configuration.redisSentinelMaster else { return nil }
        return RedisSentinel(
            sentinels: url.addresses.map { address in
                RedisConnection.Configuration(
                    host: address.host,
                    port: address.port,
                    password: configuration.redisSentinelPassword,
                    useTLS: url.useTLS
                )
            },
            masterName: master
        )
    }
}

/// Loads the JWT keys when a rule takes a `jwt:` key.
enum JWTSetup {
    /// The verifier, or `nil` when no rule needs one or no key is configured.
    static func verifier(for configuration: SidecarConfiguration) async throws(ConfigurationError) -> JWTClaimVerifier?
    {
        let needed = configuration.rules.contains { rule in
            rule.key?.alternatives.contains { alternative in
                alternative.contains { part in
                    if case .jwt = part { return true }
                    return false
                }
            } ?? false
        }
        guard needed, configuration.jwtHS256SecretFile != nil || configuration.jwtPublicKeyFile != nil else {
            return nil
        }
        var secret: [UInt8]?
        if let path = configuration.jwtHS256SecretFile {
            // A trailing newline, as editors and `echo` leave, is not part of the secret.
            var bytes = try Array(readFile(path, variable: "SIDECAR_JWT_HS256_SECRET_FILE").utf8)
            while let last = bytes.last, last == UInt8(ascii: "\n") || last == UInt8(ascii: "\r") { bytes.removeLast() }
            secret = bytes
        }
        var pem: String?
        if let path = configuration.jwtPublicKeyFile {
            pem = try readFile(path, variable: "SIDECAR_JWT_PUBLIC_KEY_FILE")
        }
        do {
            return try await JWTClaimVerifier.make(hs256Secret: secret, publicKeyPEM: pem)
        } catch {
            let variable =
                error == .emptySecret ? "SIDECAR_JWT_HS256_SECRET_FILE" : "SIDECAR_JWT_PUBLIC_KEY_FILE"
            throw ConfigurationError(problems: ["\(variable): \(error)"])
        }
    }

    private static func readFile(_ path: String, variable: String) throws(ConfigurationError) -> String {
        do {
            return try String(contentsOfFile: path, encoding: .utf8)
        } catch {
            throw ConfigurationError(problems: ["\(variable)=\"\(path)\": cannot read the file: \(error)"])
        }
    }
}

/// The last replica count the heartbeat reported.
private final class LocalShare: Sendable {
    private let count = Mutex(1)

    /// Records `newCount`; whether it differs from the last one.
    func changed(to newCount: Int) -> Bool {
        count.withLock { count in
            defer { count = newCount }
            return count != newCount
        }
    }
}

/// Runs the proxy's drain once, whoever asks first (`/drain` or SIGTERM); every caller returns
/// when it has finished.
actor Drainer {
    private var running: Task<Void, Never>?

    func drain(_ body: @escaping @Sendable () async -> Void) async {
        if let running { return await running.value }
        let task = Task { await body() }
        running = task
        await task.value
    }
}

/// `/drain`'s query: `after=<duration>` (default 0), how long the listener stays open first.
enum DrainRequest {
    static func delay(query: String?) -> Result<Duration, ValueProblem> {
        guard let query, !query.isEmpty else { return .success(.zero) }
        var delay = Duration.zero
        for pair in query.split(separator: "&") {
            let field = pair.split(separator: "=", maxSplits: 1, omittingEmptySubsequences: false)
            guard field.count == 2, field[0] == "after" else {
                return .failure(
                    ValueProblem("unknown query \"\(pair)\"; /drain takes after=<duration>, such as after=5s")
                )
            }
            do {
                delay = try Duration(parsing: String(field[1]))
            } catch {
                return .failure(ValueProblem("after: \(error.expected)"))
            }
        }
        return .success(delay)
    }
}

/// Set once draining begins (SIGTERM, or `/drain`).
final class DrainFlag: Sendable {
    private let flag = Atomic<Bool>(false)

    var isSet: Bool { flag.load(ordering: .relaxed) }

    func set() { flag.store(true, ordering: .relaxed) }
}
