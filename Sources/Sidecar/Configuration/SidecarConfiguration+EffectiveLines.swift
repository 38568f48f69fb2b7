import Limiter

extension SidecarConfiguration {
    /// The effective configuration as `VARIABLE=value` lines, secrets redacted, for `sidecar check`.
    ///
    /// Every variable appears in the reference table's order, defaults included; an unset optional
    /// one shows what that means, as in `SIDECAR_TLS_CERT_FILE= (unset: plain HTTP)`. Each rule follows
    /// as `SIDECAR_LIMIT_<NAME>=<rule>` as it applies (``RateLimitRule/effectiveDescription``): its key
    /// chain written out to the implicit `|ip`, `GET` with the `HEAD` it covers.
    func effectiveLines() -> [String] {
        var lines: [String] = []
        for variable in ConfigurationVariable.allCases {
            let shown: String
            switch variable {
            case .listen: shown = listen.description
            case .upstream: shown = upstream.description
            case .tlsCertFile: shown = tls?.certificateFile ?? Self.unset("plain HTTP")
            case .tlsKeyFile: shown = tls?.keyFile ?? Self.unset("plain HTTP")
            case .tlsClientCAFile: shown = tls?.clientCAFile ?? Self.unset("no client certificate required")
            case .adminListen: shown = adminListen.description
            case .redisURL:
                shown =
                    redisURLFile != nil
                    ? Self.unset("read from SIDECAR_REDIS_URL_FILE")
                    : redis?.description ?? Self.unset("in-process limits")
            case .redisURLFile:
                shown = redisURLFile.map { "\($0) (\(redis?.description ?? "?"))" } ?? Self.unset("not used")
            case .redisTimeout: shown = Self.durationText(redisTimeout)
            case .redisFailureMode: shown = redisFailureMode.rawValue
            case .redisMode: shown = redisMode.rawValue
            case .redisSentinelMaster: shown = redisSentinelMaster ?? Self.unset("not sentinel mode")
            case .redisSentinelPasswordFile:
                shown = redisSentinelPasswordFile ?? Self.unset("the sentinels need no password")
            case .replicas: shown = replicas.map(String.init) ?? Self.unset("from Redis heartbeats, else 1")
            case .trustedProxies:
                shown =
                    trustedProxies.isEmpty
                    ? Self.unset("no proxy is trusted") : trustedProxies.map(\.description).joined(separator: ",")
            case .ipv6Prefix: shown = String(ipv6PrefixLength)
            case .jwtHS256SecretFile: shown = jwtHS256SecretFile ?? Self.unset("no HS256 verification")
            case .jwtPublicKeyFile: shown = jwtPublicKeyFile ?? Self.unset("no public-key verification")
            case .rateLimitHeaders: shown = rateLimitHeaders.rawValue
            case .metricsRoutes:
                shown =
                    metricsRoutes.isEmpty
                    ? Self.unset("every route is labelled other")
                    : metricsRoutes.map(\.patternText).joined(separator: ",")
            case .headerTimeout: shown = Self.durationText(headerTimeout)
            case .idleTimeout: shown = Self.durationText(idleTimeout)
            case .upstreamTimeout: shown = Self.durationText(upstreamTimeout)
            case .maxHeaderBytes: shown = Self.sizeText(maxHeaderBytes)
            case .maxBodyBytes: shown = maxBodyBytes.map(Self.sizeText) ?? Self.unset("no limit")
            case .maxConnections: shown = String(maxConnections)
            case .upstreamMaxConnections: shown = String(upstreamMaxConnections)
            case .h2MaxStreams: shown = String(h2MaxStreams)
            case .h2c: shown = h2c ? "on" : "off"
            case .encodedSlashes: shown = encodedSlashes.rawValue
            case .shutdownGrace: shown = Self.durationText(shutdownGrace)
            case .eventLoops: shown = String(eventLoops)
            case .logLevel: shown = logLevel.rawValue
            case .accessLog: shown = accessLog.rawValue
            case .logFormat: shown = logFormat.rawValue
            }
            lines.append("\(variable.rawValue)=\(shown)")
            // Rules sit where the reference table lists them.
            if variable == .jwtPublicKeyFile {
                for rule in rules {
                    lines.append(
                        "\(ConfigurationVariable.rulePrefix)\(rule.name.uppercased())=\(rule.effectiveDescription)"
                    )
                }
            }
        }
        return lines
    }

    private static func unset(_ meaning: String) -> String { " (unset: \(meaning))" }

    /// A duration in the largest of `s`, `ms`, `us`, `ns` that writes it whole, such as `50ms` or `60s`.
    static func durationText(_ duration: Duration) -> String {
        let (seconds, attoseconds) = duration.components
        let nanoseconds = seconds * 1_000_000_000 + attoseconds / 1_000_000_000
        for (unit, size) in [("s", Int64(1_000_000_000)), ("ms", 1_000_000), ("us", 1_000)]
        where nanoseconds % size == 0 {
            return "\(nanoseconds / size)\(unit)"
        }
        return "\(nanoseconds)ns"
    }

    /// A size in the largest of `GiB`, `MiB`, `KiB` that writes it whole, else in bytes.
    static func sizeText(_ bytes: Int) -> String {
        for (unit, size) in [("GiB", 1 << 30), ("MiB", 1 << 20), ("KiB", 1 << 10)] where bytes > 0 && bytes % size == 0
        {
            return "\(bytes / size)\(unit)"
        }
        return String(bytes)
    }
}
