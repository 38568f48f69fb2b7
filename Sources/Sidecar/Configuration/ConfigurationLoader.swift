import Limiter

/// Every problem found in the environment, one per variable.
struct ConfigurationError: Error, Sendable, Equatable, CustomStringConvertible {
    /// One line each: the variable, the value (redacted where secret) and what is expected.
    var problems: [String]

    var description: String { problems.joined(separator: "\n") }
}

extension SidecarConfiguration {
    /// Reads and validates every `SIDECAR_*` variable of `environment`, reporting all problems at once.
    static func load(environment: [String: String]) throws(ConfigurationError) -> SidecarConfiguration {
        // TODO: replaced by the configuration work.
        SidecarConfiguration(
            listen: ListenAddress(host: "0.0.0.0", port: 8080),
            upstream: .tcp(host: "127.0.0.1", port: 8000),
            tls: nil,
            adminListen: ListenAddress(host: "0.0.0.0", port: 9464),
            redis: nil,
            redisTimeout: .milliseconds(50),
            redisFailureMode: .local,
            replicas: nil,
            trustedProxies: [],
            jwtHS256SecretFile: nil,
            jwtPublicKeyFile: nil,
            rules: [],
            rateLimitHeaders: .draft,
            metricsRoutes: [],
            headerTimeout: .seconds(10),
            idleTimeout: .seconds(60),
            upstreamTimeout: .seconds(60),
            maxHeaderBytes: 32 * 1024,
            maxBodyBytes: nil,
            maxConnections: 10000,
            h2MaxStreams: 100,
            shutdownGrace: .seconds(25),
            eventLoops: 2,
            logLevel: .info,
            accessLog: .off
        )
    }

    /// The effective configuration as `VARIABLE=value` lines, secrets redacted, for `sidecar check`.
    func effectiveLines() -> [String] {
        ["TODO"]
    }
}
