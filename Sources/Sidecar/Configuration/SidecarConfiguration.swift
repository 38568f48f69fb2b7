import Limiter
import Logging

#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#elseif canImport(Darwin)
import Darwin
#endif

/// The sidecar's effective configuration, read from `SIDECAR_*` environment variables.
struct SidecarConfiguration: Sendable, Equatable {
    /// Public listener (`SIDECAR_LISTEN`).
    var listen: ListenAddress
    /// The gateway (`SIDECAR_UPSTREAM`).
    var upstream: UpstreamAddress
    /// TLS files; `nil` serves plain HTTP.
    var tls: TLSFiles?
    /// Admin listener (`SIDECAR_ADMIN_LISTEN`).
    var adminListen: ListenAddress
    /// Redis; `nil` limits in process.
    var redis: RedisURL?
    /// Deadline of one Redis round trip (`SIDECAR_REDIS_TIMEOUT`).
    var redisTimeout: Duration
    /// What decides while Redis is unreachable (`SIDECAR_REDIS_FAILURE_MODE`).
    var redisFailureMode: RedisFailureMode
    /// Divisor for the `local` share; `nil` counts heartbeats in Redis (`SIDECAR_REPLICAS`).
    var replicas: Int?
    /// Networks whose `X-Forwarded-For` is believed (`SIDECAR_TRUSTED_PROXIES`).
    var trustedProxies: [IPNetwork]
    /// Prefix length by which `by ip` groups IPv6 clients, 1 to 128 (`SIDECAR_IPV6_PREFIX`).
    var ipv6PrefixLength: Int = ClientAddress.defaultIPv6PrefixLength
    /// File holding the HS256 secret for `jwt:` keys.
    var jwtHS256SecretFile: String?
    /// PEM public key file for `jwt:` keys.
    var jwtPublicKeyFile: String?
    /// Rate-limit rules, sorted by name (`SIDECAR_LIMIT_<NAME>`).
    var rules: [RateLimitRule]
    /// Which rate-limit response headers are sent (`SIDECAR_RATELIMIT_HEADERS`).
    var rateLimitHeaders: RateLimitHeaderMode
    /// Path patterns used as the `route` metric label (`SIDECAR_METRICS_ROUTES`).
    var metricsRoutes: [PathPattern]
    /// Time a client has to send complete request headers (`SIDECAR_HEADER_TIMEOUT`).
    var headerTimeout: Duration
    /// Time an idle keep-alive connection stays open (`SIDECAR_IDLE_TIMEOUT`).
    var idleTimeout: Duration
    /// Time the upstream has to start its response (`SIDECAR_UPSTREAM_TIMEOUT`).
    var upstreamTimeout: Duration
    /// Largest request head accepted (`SIDECAR_MAX_HEADER_BYTES`).
    var maxHeaderBytes: Int
    /// Largest request body accepted; `nil` for no limit (`SIDECAR_MAX_BODY_BYTES`).
    var maxBodyBytes: Int?
    /// Largest number of open client connections (`SIDECAR_MAX_CONNECTIONS`).
    var maxConnections: Int
    /// Upstream connections per event loop at most (`SIDECAR_UPSTREAM_MAX_CONNECTIONS`).
    var upstreamMaxConnections: Int = UpstreamPool.defaultMaxConnections
    /// Concurrent HTTP/2 streams per connection (`SIDECAR_H2_MAX_STREAMS`).
    var h2MaxStreams: Int
    /// Drain time after SIGTERM (`SIDECAR_SHUTDOWN_GRACE`).
    var shutdownGrace: Duration
    /// Event loop threads (`SIDECAR_EVENT_LOOPS`).
    var eventLoops: Int
    /// Log level (`SIDECAR_LOG_LEVEL`).
    var logLevel: Logger.Level
    /// Access log format (`SIDECAR_ACCESS_LOG`).
    var accessLog: AccessLogFormat
    /// Application log format (`SIDECAR_LOG_FORMAT`).
    var logFormat: LogFormat = .text
    /// Whether the plain-HTTP listener also accepts HTTP/2 with prior knowledge (`SIDECAR_H2C`).
    var h2c: Bool = false
    /// What happens to `%2F` and `%5C` in request paths (`SIDECAR_ENCODED_SLASHES`).
    var encodedSlashes: EncodedSeparators = .reject
    /// The file `redis` was read from (`SIDECAR_REDIS_URL_FILE`), so that no secret sits in the environment.
    var redisURLFile: String? = nil
    /// How the addresses of `redis` are used (`SIDECAR_REDIS_MODE`).
    var redisMode: RedisMode = .standalone
    /// The master set the sentinels are asked for (`SIDECAR_REDIS_SENTINEL_MASTER`).
    var redisSentinelMaster: String? = nil
    /// The file holding the sentinels' own password (`SIDECAR_REDIS_SENTINEL_PASSWORD_FILE`).
    var redisSentinelPasswordFile: String? = nil
    /// The sentinels' password, read from that file.
    var redisSentinelPassword: String? = nil
}

/// Certificate, key and optional client CA for TLS termination.
struct TLSFiles: Sendable, Hashable {
    var certificateFile: String
    var keyFile: String
    var clientCAFile: String?
}

/// `SIDECAR_REDIS_FAILURE_MODE`.
enum RedisFailureMode: String, Sendable, Hashable, CaseIterable, ConfigurationChoice {
    case local, open, closed
}

/// `SIDECAR_RATELIMIT_HEADERS`.
enum RateLimitHeaderMode: String, Sendable, Hashable, CaseIterable, ConfigurationChoice {
    case draft, legacy, both, off
}

/// `SIDECAR_ACCESS_LOG`.
enum AccessLogFormat: String, Sendable, Hashable, CaseIterable, ConfigurationChoice {
    case off, json
}

/// `SIDECAR_LOG_FORMAT`: swift-log's plain text, or one JSON object per line.
enum LogFormat: String, Sendable, Hashable, CaseIterable, ConfigurationChoice {
    case text, json

    /// `text` when standard error is a terminal (a person reads it), else `json` (a collector does).
    static var forStandardError: LogFormat { isatty(STDERR_FILENO) == 1 ? .text : .json }
}
