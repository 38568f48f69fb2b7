import Configuration
import Foundation
import Limiter
import Logging
import NIOCore

extension SidecarConfiguration {
    /// Reads and validates every `SIDECAR_*` variable of `environment`, reporting all problems at once.
    static func load(environment: [String: String]) async throws(ConfigurationError) -> SidecarConfiguration {
        var loader = ConfigurationLoader(environment: environment)
        let configuration = await loader.load()
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
                value: value,
                isSecret: ConfigurationVariable(rawValue: variable)?.isSecret ?? false,
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

    /// The entries of the comma-separated `variable`, split and trimmed by swift-configuration, each
    /// parsed; empty when unset or when an entry is invalid (then one problem names every such entry).
    mutating func list<Element>(
        _ variable: ConfigurationVariable,
        expected expectation: String,
        _ parse: (String) -> Element?
    ) -> [Element] {
        guard raw(variable) != nil, let entries = reader.stringArray(forKey: variable.configKey) else { return [] }
        do {
            return try [Element](parsingEntries: entries, expected: expectation, parse)
        } catch {
            report(variable.rawValue, value: environment[variable.rawValue] ?? "", error.expected)
            return []
        }
    }

    /// The text of the secret file that `fileVariable` names, read by swift-configuration's
    /// `FileProvider` as the value of `key`; `nil` when unset or unreadable (then a problem is recorded).
    mutating func secret(_ key: ConfigKey, fromFileIn fileVariable: ConfigurationVariable) async -> String? {
        guard let path = raw(fileVariable) else { return nil }
        do throws(ValueProblem) {
            _ = try ReadableFile.secretPath(path)
        } catch {
            report(fileVariable.rawValue, value: path, error.expected)
            return nil
        }
        do {
            let file = try await SecretFileSnapshot.provider(path: path, key: key)
            return ConfigReader(provider: file).string(forKey: key, isSecret: true)
        } catch is SecretFileSnapshot.NotUTF8Text {
            report(fileVariable.rawValue, value: path, "expected a file of UTF-8 text")
        } catch {
            report(fileVariable.rawValue, value: path, "expected a readable file: \(error)")
        }
        return nil
    }

    /// `SIDECAR_REDIS_URL`, or the URL held by the file `SIDECAR_REDIS_URL_FILE` names (a mounted secret).
    mutating func loadRedisURL(mode: RedisMode) async -> RedisURL? {
        func parse(_ text: String) throws(ValueProblem) -> RedisURL {
            try RedisURL(parsing: text, defaultPort: mode.defaultPort)
        }
        guard let path = raw(.redisURLFile) else { return optional(.redisURL, parse) }
        let variable = ConfigurationVariable.redisURLFile.rawValue
        if raw(.redisURL) != nil {
            report(variable, value: path, "set SIDECAR_REDIS_URL or SIDECAR_REDIS_URL_FILE, not both")
            return nil
        }
        guard let text = await secret(ConfigurationVariable.redisURL.configKey, fromFileIn: .redisURLFile) else {
            return nil
        }
        do {
            return try parse(text)
        } catch {
            report(variable, value: path, "the file must hold \(error.expected)")
            return nil
        }
    }

    mutating func load() async -> SidecarConfiguration {
        reportUnknownVariables()

        let tls = loadTLS()
        let redisMode = value(.redisMode, default: .standalone, RedisMode.init(parsing:))
        let defaultListen = ListenAddress(host: "0.0.0.0", port: tls == nil && !tlsRequested ? 8080 : 8443)
        let maxInt32 = Int(Int32.max)
        func int(_ range: ClosedRange<Int>) -> (String) throws(ValueProblem) -> Int {
            { text throws(ValueProblem) in try Int(parsing: text, in: range) }
        }
        func byteCount(allowZero: Bool) -> (String) throws(ValueProblem) -> Int {
            { text throws(ValueProblem) in try Int(parsingByteCount: text, allowZero: allowZero) }
        }

        var configuration = SidecarConfiguration(
            listen: value(.listen, default: defaultListen, ListenAddress.init(parsing:)),
            upstream: value(.upstream, default: .tcp(host: "127.0.0.1", port: 8000), UpstreamAddress.init(parsing:)),
            tls: tls,
            adminListen: value(
                .adminListen,
                default: ListenAddress(host: "0.0.0.0", port: 9464),
                ListenAddress.init(parsing:)
            ),
            redis: await loadRedisURL(mode: redisMode),
            redisTimeout: value(.redisTimeout, default: .milliseconds(50), Duration.init(parsing:)),
            redisFailureMode: value(.redisFailureMode, default: .local, RedisFailureMode.init(parsing:)),
            replicas: optional(.replicas, int(1...Int.max)),
            trustedProxies: list(
                .trustedProxies,
                expected: "comma-separated CIDRs such as 10.0.0.0/8, fd00::/8 or 192.168.1.1",
                IPNetwork.init(parsing:)
            ),
            ipv6PrefixLength: value(.ipv6Prefix, default: ClientAddress.defaultIPv6PrefixLength) {
                text throws(ValueProblem) in
                guard let length = try? Int(parsing: text, in: 1...128) else {
                    throw ValueProblem(
                        "expected an IPv6 prefix length from 1 to 128, such as 64 (one bucket per /64) or 128 (one per address)"
                    )
                }
                return length
            },
            jwtHS256SecretFile: optional(.jwtHS256SecretFile, ReadableFile.path),
            jwtPublicKeyFile: optional(.jwtPublicKeyFile, ReadableFile.path),
            rules: loadRules(),
            rateLimitHeaders: value(.rateLimitHeaders, default: .draft, RateLimitHeaderMode.init(parsing:)),
            metricsRoutes: list(
                .metricsRoutes,
                expected: "comma-separated paths such as /jobs/*, /health (a trailing * matches a prefix)"
            ) { try? PathPattern(parsing: $0) },
            headerTimeout: value(.headerTimeout, default: .seconds(10), Duration.init(parsing:)),
            idleTimeout: value(.idleTimeout, default: .seconds(60), Duration.init(parsing:)),
            upstreamTimeout: value(.upstreamTimeout, default: .seconds(60), Duration.init(parsing:)),
            maxHeaderBytes: value(.maxHeaderBytes, default: 32 * 1024, byteCount(allowZero: false)),
            maxBodyBytes: optional(.maxBodyBytes, byteCount(allowZero: true)),
            maxConnections: value(.maxConnections, default: 10_000, int(1...maxInt32)),
            h2MaxStreams: value(.h2MaxStreams, default: 100, int(1...maxInt32)),
            shutdownGrace: value(.shutdownGrace, default: .seconds(25), Duration.init(parsing:)),
            eventLoops: value(.eventLoops, default: min(max(System.coreCount, 1), 256), int(1...256)),
            logLevel: value(.logLevel, default: .info, Logger.Level.init(parsing:)),
            accessLog: value(.accessLog, default: .off, AccessLogFormat.init(parsing:))
        )
        configuration.logFormat = value(.logFormat, default: LogFormat.forStandardError, LogFormat.init(parsing:))
        configuration.upstreamMaxConnections = value(
            .upstreamMaxConnections,
            default: UpstreamPool.defaultMaxConnections,
            int(1...maxInt32)
        )
        configuration.h2c = value(.h2c, default: false, Bool.init(parsingOnOff:))
        configuration.encodedSlashes = value(.encodedSlashes, default: .reject, EncodedSeparators.init(parsing:))
        configuration.redisURLFile = raw(.redisURLFile)
        await loadRedisTopology(into: &configuration)
        return configuration
    }

    /// `SIDECAR_REDIS_MODE` and what goes with it: one address in standalone mode; in sentinel
    /// mode the master set's name (required) and the sentinels' password file (optional), which
    /// are errors in any other mode.
    mutating func loadRedisTopology(into configuration: inout SidecarConfiguration) async {
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
            configuration.redisSentinelPasswordFile = raw(.redisSentinelPasswordFile)
            let password = await secret(Self.sentinelPasswordKey, fromFileIn: .redisSentinelPasswordFile)
            configuration.redisSentinelPassword = password?.isEmpty == false ? password : nil
        }
    }

    /// The key the sentinels' password file stands in for.
    static let sentinelPasswordKey = ConfigKey(["sidecar", "redis", "sentinel", "password"])

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
        let checkedCertificate = optional(.tlsCertFile, ReadableFile.path)
        let checkedKey = optional(.tlsKeyFile, ReadableFile.path)
        let checkedClientCA = optional(.tlsClientCAFile, ReadableFile.path)
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
