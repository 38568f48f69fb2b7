import Configuration

/// A `SIDECAR_*` variable, in the order of the README's variables table (`SIDECAR_LIMIT_<NAME>` aside).
enum ConfigurationVariable: String, CaseIterable, Sendable {
    case listen = "SIDECAR_LISTEN"
    case upstream = "SIDECAR_UPSTREAM"
    case tlsCertFile = "SIDECAR_TLS_CERT_FILE"
    case tlsKeyFile = "SIDECAR_TLS_KEY_FILE"
    case tlsClientCAFile = "SIDECAR_TLS_CLIENT_CA_FILE"
    case adminListen = "SIDECAR_ADMIN_LISTEN"
    case redisURL = "SIDECAR_REDIS_URL"
    case redisURLFile = "SIDECAR_REDIS_URL_FILE"
    case redisTimeout = "SIDECAR_REDIS_TIMEOUT"
    case redisFailureMode = "SIDECAR_REDIS_FAILURE_MODE"
    case redisMode = "SIDECAR_REDIS_MODE"
    case redisSentinelMaster = "SIDECAR_REDIS_SENTINEL_MASTER"
    case redisSentinelPasswordFile = "SIDECAR_REDIS_SENTINEL_PASSWORD_FILE"
    case replicas = "SIDECAR_REPLICAS"
    case trustedProxies = "SIDECAR_TRUSTED_PROXIES"
    case ipv6Prefix = "SIDECAR_IPV6_PREFIX"
    case jwtHS256SecretFile = "SIDECAR_JWT_HS256_SECRET_FILE"
    case jwtPublicKeyFile = "SIDECAR_JWT_PUBLIC_KEY_FILE"
    case rateLimitHeaders = "SIDECAR_RATELIMIT_HEADERS"
    case metricsRoutes = "SIDECAR_METRICS_ROUTES"
    case headerTimeout = "SIDECAR_HEADER_TIMEOUT"
    case idleTimeout = "SIDECAR_IDLE_TIMEOUT"
    case upstreamTimeout = "SIDECAR_UPSTREAM_TIMEOUT"
    case maxHeaderBytes = "SIDECAR_MAX_HEADER_BYTES"
    case maxBodyBytes = "SIDECAR_MAX_BODY_BYTES"
    case maxConnections = "SIDECAR_MAX_CONNECTIONS"
    case upstreamMaxConnections = "SIDECAR_UPSTREAM_MAX_CONNECTIONS"
    case h2MaxStreams = "SIDECAR_H2_MAX_STREAMS"
    case h2c = "SIDECAR_H2C"
    case encodedSlashes = "SIDECAR_ENCODED_SLASHES"
    case shutdownGrace = "SIDECAR_SHUTDOWN_GRACE"
    case eventLoops = "SIDECAR_EVENT_LOOPS"
    case logLevel = "SIDECAR_LOG_LEVEL"
    case accessLog = "SIDECAR_ACCESS_LOG"
    case logFormat = "SIDECAR_LOG_FORMAT"

    /// The prefix of rule variables; the rest of the name, lower-cased, is the rule's name.
    static let rulePrefix = "SIDECAR_LIMIT_"

    /// The swift-configuration key that `EnvironmentVariablesProvider` maps to this variable's name.
    var configKey: ConfigKey {
        ConfigKey(rawValue.lowercased().split(separator: "_").map(String.init))
    }

    /// Whether the value may hold a secret (the Redis password).
    var isSecret: Bool { self == .redisURL }

    /// The known name closest to an unknown `SIDECAR_*` name, if it is close enough to be a typo.
    static func suggestion(for unknownName: String) -> String? {
        if unknownName.hasPrefix("SIDECAR_LIMITS_") || unknownName.hasPrefix("SIDECAR_RULE_") {
            return rulePrefix + "<NAME>"
        }
        let candidates = allCases.map(\.rawValue)
        let scored = candidates.map { ($0, editDistance(unknownName, $0)) }
        guard let best = scored.min(by: { $0.1 < $1.1 }) else { return nil }
        let suffixLength = unknownName.count - "SIDECAR_".count
        return best.1 <= 3 && best.1 * 2 <= max(suffixLength, 2) ? best.0 : nil
    }

    /// Levenshtein distance between two strings, by characters.
    static func editDistance(_ lhs: String, _ rhs: String) -> Int {
        let left = Array(lhs)
        let right = Array(rhs)
        if left.isEmpty { return right.count }
        var previous = Array(0...right.count)
        var current = previous
        for i in 1...left.count {
            current[0] = i
            for j in stride(from: 1, through: right.count, by: 1) {
                let substitution = previous[j - 1] + (left[i - 1] == right[j - 1] ? 0 : 1)
                current[j] = min(previous[j] + 1, current[j - 1] + 1, substitution)
            }
            swap(&previous, &current)
        }
        return previous[right.count]
    }
}
