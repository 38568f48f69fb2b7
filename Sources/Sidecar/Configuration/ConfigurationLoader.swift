import Configuration
import Limiter
import NIOCore

/// Every problem found in the environment, one line each, sorted by variable name.
struct ConfigurationError: Error, Sendable, Equatable, CustomStringConvertible {
    /// One line each: the variable, the value (redacted where secret) and what is expected.
    var problems: [String]

    var description: String { problems.joined(separator: "\n") }
}

extension SidecarConfiguration {
    /// Reads and validates every `SIDECAR_*` variable of `environment`, reporting all problems at once.
    static func load(environment: [String: String]) throws(ConfigurationError) -> SidecarConfiguration {
        var loader = ConfigurationLoader(environment: environment)
        let configuration = loader.load()
        guard loader.problems.isEmpty else {
            let sorted = loader.problems.enumerated().sorted { lhs, rhs in
                lhs.element.variable == rhs.element.variable
                    ? lhs.offset < rhs.offset : lhs.element.variable < rhs.element.variable
            }
            throw ConfigurationError(problems: sorted.map(\.element.line))
        }
        return configuration
    }
}

/// One bad value: rendered as `VARIABLE="value": expected ...`.
struct ConfigurationProblem: Sendable, Hashable {
    var variable: String
    /// The value as shown: credentials already redacted.
    var shownValue: String
    var message: String

    var line: String {
        let escaped = shownValue.replacingOccurrences(of: "\\", with: "\\\\")
            .replacingOccurrences(of: "\"", with: "\\\"")
            .replacingOccurrences(of: "\n", with: "\\n")
        return "\(variable)=\"\(escaped)\": \(message)"
    }
}

/// Reads the environment through swift-configuration and collects every problem on the way.
struct ConfigurationLoader {
    /// The raw environment, scanned for `SIDECAR_LIMIT_*` and unknown `SIDECAR_*` names.
    let environment: [String: String]
    /// Reads the known variables; the Redis URL is marked secret so access reporting redacts it.
    let reader: ConfigReader
    private(set) var problems: [ConfigurationProblem] = []

    init(environment: [String: String]) {
        self.environment = environment
        let provider = EnvironmentVariablesProvider(
            environmentVariables: environment,
            secretsSpecifier: .specific(Set(ConfigurationVariable.allCases.filter(\.isSecret).map(\.rawValue)))
        )
        self.reader = ConfigReader(provider: provider)
    }

    /// The value of `variable`, trimmed; an empty value counts as unset.
    func raw(_ variable: ConfigurationVariable) -> String? {
        guard let value = reader.string(forKey: variable.configKey, isSecret: variable.isSecret) else { return nil }
        let trimmed = value.trimmingCharacters(in: .whitespacesAndNewlines)
        return trimmed.isEmpty ? nil : trimmed
    }

    mutating func report(_ variable: String, value: String, _ message: String) {
        problems.append(
            ConfigurationProblem(
                variable: variable,
                shownValue: ConfigurationValueParser.redacted(
                    value,
                    isSecret: ConfigurationVariable(rawValue: variable)?.isSecret ?? false
                ),
                message: message
            )
        )
    }

    /// The parsed value of `variable`, or `nil` when unset or invalid (then a problem is recorded).
    mutating func optional<Value>(
        _ variable: ConfigurationVariable,
        _ parse: (String) throws(ValueProblem) -> Value
    ) -> Value? {
        guard let text = raw(variable) else { return nil }
        do {
            return try parse(text)
        } catch {
            report(variable.rawValue, value: environment[variable.rawValue] ?? text, error.expected)
            return nil
        }
    }

    /// The parsed value of `variable`, or `defaultValue` when unset or invalid.
    mutating func value<Value>(
        _ variable: ConfigurationVariable,
        default defaultValue: Value,
        _ parse: (String) throws(ValueProblem) -> Value
    ) -> Value {
        optional(variable, parse) ?? defaultValue
    }

    /// `SIDECAR_REDIS_URL`, or the URL held by the file `SIDECAR_REDIS_URL_FILE` names (a mounted secret).
    mutating func loadRedisURL(mode: RedisMode) -> RedisURL? {
        guard let path = raw(.redisURLFile) else {
            return optional(.redisURL) { text throws(ValueProblem) in
                try ConfigurationValueParser.redisURL(text, defaultPort: mode.defaultPort)
            }
        }
        let variable = ConfigurationVariable.redisURLFile.rawValue
        if raw(.redisURL) != nil {
            report(variable, value: path, "set SIDECAR_REDIS_URL or SIDECAR_REDIS_URL_FILE, not both")
            return nil
        }
        guard let contents = try? String(contentsOfFile: path, encoding: .utf8) else {
            report(variable, value: path, "expected a readable file holding the Redis URL")
            return nil
        }
        do {
            return try ConfigurationValueParser.redisURL(
                contents.trimmingCharacters(in: .whitespacesAndNewlines),
                defaultPort: mode.defaultPort
            )
        } catch {
            report(variable, value: path, "the file must hold \(error.expected)")
            return nil
        }
    }

    mutating func load() -> SidecarConfiguration {
        typealias Parse = ConfigurationValueParser
        reportUnknownVariables()

        let tls = loadTLS()
        let redisMode = value(.redisMode, default: .standalone) { text throws(ValueProblem) in
            try Parse.choice(text, of: RedisMode.self)
        }
        let defaultListen = ListenAddress(host: "0.0.0.0", port: tls == nil && !tlsRequested ? 8080 : 8443)
        let maxInt32 = Int(Int32.max)

        var configuration = SidecarConfiguration(
            listen: value(.listen, default: defaultListen, Parse.listenAddress),
            upstream: value(.upstream, default: .tcp(host: "127.0.0.1", port: 8000), Parse.upstream),
            tls: tls,
            adminListen: value(.adminListen, default: ListenAddress(host: "0.0.0.0", port: 9464), Parse.listenAddress),
            redis: loadRedisURL(mode: redisMode),
            redisTimeout: value(.redisTimeout, default: .milliseconds(50), Parse.duration),
            redisFailureMode: value(.redisFailureMode, default: .local) { text throws(ValueProblem) in
                try Parse.choice(text, of: RedisFailureMode.self)
            },
            replicas: optional(.replicas) { text throws(ValueProblem) in try Parse.integer(text, in: 1...Int.max) },
            trustedProxies: value(.trustedProxies, default: [], Parse.networks),
            ipv6PrefixLength: value(.ipv6Prefix, default: ClientAddress.defaultIPv6PrefixLength) {
                text throws(ValueProblem) in
                guard let length = try? Parse.integer(text, in: 1...128) else {
                    throw ValueProblem(
                        "expected an IPv6 prefix length from 1 to 128, such as 64 (one bucket per /64) or 128 (one per address)"
                    )
                }
                return length
            },
            jwtHS256SecretFile: optional(.jwtHS256SecretFile, Parse.readableFile),
            jwtPublicKeyFile: optional(.jwtPublicKeyFile, Parse.readableFile),
            rules: loadRules(),
            rateLimitHeaders: value(.rateLimitHeaders, default: .draft) { text throws(ValueProblem) in
                try Parse.choice(text, of: RateLimitHeaderMode.self)
            },
            metricsRoutes: value(.metricsRoutes, default: [], Parse.pathPatterns),
            headerTimeout: value(.headerTimeout, default: .seconds(10), Parse.duration),
            idleTimeout: value(.idleTimeout, default: .seconds(60), Parse.duration),
            upstreamTimeout: value(.upstreamTimeout, default: .seconds(60), Parse.duration),
            maxHeaderBytes: value(.maxHeaderBytes, default: 32 * 1024) { text throws(ValueProblem) in
                try Parse.size(text, allowZero: false)
            },
            maxBodyBytes: optional(.maxBodyBytes) { text throws(ValueProblem) in try Parse.size(text, allowZero: true)
            },
            maxConnections: value(.maxConnections, default: 10_000) { text throws(ValueProblem) in
                try Parse.integer(text, in: 1...maxInt32)
            },
            h2MaxStreams: value(.h2MaxStreams, default: 100) { text throws(ValueProblem) in
                try Parse.integer(text, in: 1...maxInt32)
            },
            shutdownGrace: value(.shutdownGrace, default: .seconds(25), Parse.duration),
            eventLoops: value(.eventLoops, default: min(max(System.coreCount, 1), 256)) { text throws(ValueProblem) in
                try Parse.integer(text, in: 1...256)
            },
            logLevel: value(.logLevel, default: .info, Parse.logLevel),
            accessLog: value(.accessLog, default: .off) { text throws(ValueProblem) in
                try Parse.choice(text, of: AccessLogFormat.self)
            }
        )
        configuration.logFormat = value(.logFormat, default: LogFormat.forStandardError) { text throws(ValueProblem) in
            try Parse.choice(text, of: LogFormat.self)
        }
        configuration.upstreamMaxConnections = value(
            .upstreamMaxConnections,
            default: UpstreamPool.defaultMaxConnections
        ) { text throws(ValueProblem) in
            try Parse.integer(text, in: 1...maxInt32)
        }
        configuration.h2c = value(.h2c, default: false, Parse.onOff)
        configuration.encodedSlashes = value(.encodedSlashes, default: .reject) { text throws(ValueProblem) in
            try Parse.choice(text, of: EncodedSeparators.self)
        }
        configuration.redisURLFile = raw(.redisURLFile)
        loadRedisTopology(into: &configuration)
        return configuration
    }

    /// `SIDECAR_REDIS_MODE` and what goes with it: one address in standalone mode; in sentinel
    /// mode the master set's name (required) and the sentinels' password file (optional), which
    /// are errors in any other mode.
    mutating func loadRedisTopology(into configuration: inout SidecarConfiguration) {
        let modeText = raw(.redisMode)
        // An invalid mode was reported already; what goes with a mode is not checked against a guess.
        guard let mode = modeText.map({ RedisMode(rawValue: $0.lowercased()) }) ?? .standalone else { return }
        configuration.redisMode = mode
        let hasURL = raw(.redisURL) != nil || raw(.redisURLFile) != nil
        if let text = modeText, !hasURL {
            report(
                ConfigurationVariable.redisMode.rawValue,
                value: text,
                "needs SIDECAR_REDIS_URL (or _FILE) to be set"
            )
        }
        let master = raw(.redisSentinelMaster)
        let passwordFile = raw(.redisSentinelPasswordFile)
        switch mode {
        case .standalone, .cluster:
            if mode == .standalone, let redis = configuration.redis, redis.addresses.count > 1 {
                report(
                    ConfigurationVariable.redisURL.rawValue,
                    value: environment[ConfigurationVariable.redisURL.rawValue] ?? redis.description,
                    "lists \(redis.addresses.count) addresses; standalone mode takes one (set SIDECAR_REDIS_MODE=sentinel for a list of sentinels, or cluster for a cluster's seed nodes)"
                )
            }
            if mode == .cluster, let redis = configuration.redis, redis.database != 0 {
                report(
                    ConfigurationVariable.redisURL.rawValue,
                    value: environment[ConfigurationVariable.redisURL.rawValue] ?? redis.description,
                    "names database \(redis.database); a Redis Cluster has only database 0 (drop the /\(redis.database))"
                )
            }
            for (variable, value) in [
                (ConfigurationVariable.redisSentinelMaster, master), (.redisSentinelPasswordFile, passwordFile),
            ] {
                if let value {
                    report(variable.rawValue, value: value, "only applies with SIDECAR_REDIS_MODE=sentinel")
                }
            }
        case .sentinel:
            if master == nil, hasURL {
                report(
                    ConfigurationVariable.redisSentinelMaster.rawValue,
                    value: "",
                    "required with SIDECAR_REDIS_MODE=sentinel: the master set's name, as in `sentinel monitor <name>`"
                )
            }
            configuration.redisSentinelMaster = master
            if let path = optional(.redisSentinelPasswordFile, ConfigurationValueParser.readableFile) {
                configuration.redisSentinelPasswordFile = path
                guard let contents = try? String(contentsOfFile: path, encoding: .utf8) else {
                    report(
                        ConfigurationVariable.redisSentinelPasswordFile.rawValue,
                        value: path,
                        "expected a readable file"
                    )
                    return
                }
                let password = contents.trimmingCharacters(in: .whitespacesAndNewlines)
                configuration.redisSentinelPassword = password.isEmpty ? nil : password
            }
        }
    }

    /// Whether either TLS file variable is set, valid or not: the listener default follows it.
    var tlsRequested: Bool { raw(.tlsCertFile) != nil || raw(.tlsKeyFile) != nil }

    /// Certificate and key must come together; each file must be readable; a client CA needs both.
    mutating func loadTLS() -> TLSFiles? {
        let certificate = raw(.tlsCertFile)
        let key = raw(.tlsKeyFile)
        let clientCA = raw(.tlsClientCAFile)
        let pair = "\(ConfigurationVariable.tlsCertFile.rawValue) and \(ConfigurationVariable.tlsKeyFile.rawValue)"
        var valid = true
        switch (certificate, key) {
        case (let certificate?, nil):
            report(
                ConfigurationVariable.tlsCertFile.rawValue,
                value: certificate,
                "\(ConfigurationVariable.tlsKeyFile.rawValue) must be set too: TLS needs both \(pair), or neither for plain HTTP"
            )
            valid = false
        case (nil, let key?):
            report(
                ConfigurationVariable.tlsKeyFile.rawValue,
                value: key,
                "\(ConfigurationVariable.tlsCertFile.rawValue) must be set too: TLS needs both \(pair), or neither for plain HTTP"
            )
            valid = false
        default:
            break
        }
        if let clientCA, certificate == nil || key == nil {
            report(
                ConfigurationVariable.tlsClientCAFile.rawValue,
                value: clientCA,
                "client certificates (mTLS) need TLS: set \(pair) too"
            )
            valid = false
        }
        let checkedCertificate = optional(.tlsCertFile, ConfigurationValueParser.readableFile)
        let checkedKey = optional(.tlsKeyFile, ConfigurationValueParser.readableFile)
        let checkedClientCA = optional(.tlsClientCAFile, ConfigurationValueParser.readableFile)
        guard valid, let checkedCertificate, let checkedKey, (clientCA == nil) == (checkedClientCA == nil) else {
            return nil
        }
        return TLSFiles(certificateFile: checkedCertificate, keyFile: checkedKey, clientCAFile: checkedClientCA)
    }

    /// Every `SIDECAR_LIMIT_<NAME>` variable, parsed and sorted by name.
    mutating func loadRules() -> [RateLimitRule] {
        var rules: [RateLimitRule] = []
        // Variables by rule name: two spellings of one name (`SIDECAR_LIMIT_jobs`, `SIDECAR_LIMIT_JOBS`)
        // would share one bucket, so they are refused, both named.
        var variablesByName: [String: [String]] = [:]
        for variable in environment.keys where variable.hasPrefix(ConfigurationVariable.rulePrefix) {
            let name = variable.dropFirst(ConfigurationVariable.rulePrefix.count).lowercased()
            variablesByName[name, default: []].append(variable)
        }
        for (name, variables) in variablesByName.sorted(by: { $0.key < $1.key }) where variables.count > 1 {
            let sorted = variables.sorted()
            for variable in sorted {
                let others = sorted.filter { $0 != variable }.joined(separator: ", ")
                report(
                    variable,
                    value: environment[variable] ?? "",
                    "rule name \"\(name)\" is also defined by \(others): rule names are case-insensitive; keep one"
                )
            }
        }
        for (variable, text) in environment where variable.hasPrefix(ConfigurationVariable.rulePrefix) {
            let name = variable.dropFirst(ConfigurationVariable.rulePrefix.count).lowercased()
            if variablesByName[name, default: []].count > 1 { continue }
            guard !name.isEmpty, name.utf8.allSatisfy(Self.isRuleNameCharacter) else {
                report(
                    variable,
                    value: text,
                    "expected a rule name of letters, digits and _ after \(ConfigurationVariable.rulePrefix), as in SIDECAR_LIMIT_PER_USER"
                )
                continue
            }
            do throws(RuleParseError) {
                rules.append(try RuleParser.parse(name: name, text))
            } catch {
                report(variable, value: text, error.message)
            }
        }
        return rules.sorted { $0.name < $1.name }
    }

    /// `SIDECAR_*` names that are neither in the table nor rules: most likely typos.
    mutating func reportUnknownVariables() {
        let known = Set(ConfigurationVariable.allCases.map(\.rawValue))
        for (variable, text) in environment
        where variable.hasPrefix("SIDECAR_") && !known.contains(variable)
            && !variable.hasPrefix(ConfigurationVariable.rulePrefix)
        {
            var message = "unknown variable"
            if let suggestion = ConfigurationVariable.suggestion(for: variable) {
                message += "; did you mean \(suggestion)?"
            } else {
                message += "; see the configuration reference for the known SIDECAR_* names"
            }
            report(variable, value: text, message)
        }
    }

    static func isRuleNameCharacter(_ byte: UInt8) -> Bool {
        (byte >= UInt8(ascii: "a") && byte <= UInt8(ascii: "z"))
            || (byte >= UInt8(ascii: "0") && byte <= UInt8(ascii: "9"))
            || byte == UInt8(ascii: "_")
    }
}
