import Foundation
import Limiter
import NIOCore
import Testing

@testable import Sidecar

/// A directory of throwaway files for the TLS and JWT variables, removed when released.
final class TemporaryFiles {
    let directory: URL

    init() throws {
        directory = FileManager.default.temporaryDirectory.appendingPathComponent("sidecar-config-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
    }

    deinit { try? FileManager.default.removeItem(at: directory) }

    func file(_ name: String, contents: String = "-----BEGIN TEST-----\n") throws -> String {
        let url = directory.appendingPathComponent(name)
        try contents.write(to: url, atomically: true, encoding: .utf8)
        return url.path
    }
}

private func problems(_ environment: [String: String]) async -> [String] {
    do {
        _ = try await SidecarConfiguration.load(environment: environment)
        return []
    } catch {
        return error.problems
    }
}

@Suite struct ConfigurationTests {
    @Test func loadsDefaults() async throws {
        let configuration = try await SidecarConfiguration.load(environment: [:])
        #expect(configuration.listen == ListenAddress(host: "0.0.0.0", port: 8080))
        #expect(configuration.upstream == .tcp(host: "127.0.0.1", port: 8000))
        #expect(configuration.tls == nil)
        #expect(configuration.adminListen == ListenAddress(host: "0.0.0.0", port: 9464))
        #expect(configuration.redis == nil)
        #expect(configuration.redisTimeout == .milliseconds(50))
        #expect(configuration.redisFailureMode == .local)
        #expect(configuration.replicas == nil)
        #expect(configuration.trustedProxies.isEmpty)
        #expect(configuration.jwtHS256SecretFile == nil && configuration.jwtPublicKeyFile == nil)
        #expect(configuration.rules.isEmpty)
        #expect(configuration.rateLimitHeaders == .draft)
        #expect(configuration.metricsRoutes.isEmpty)
        #expect(configuration.headerTimeout == .seconds(10))
        #expect(configuration.idleTimeout == .seconds(60))
        #expect(configuration.upstreamTimeout == .seconds(60))
        #expect(configuration.maxHeaderBytes == 32 * 1024)
        #expect(configuration.maxBodyBytes == nil)
        #expect(configuration.maxConnections == 10_000)
        #expect(configuration.upstreamMaxConnections == 256)
        #expect(configuration.h2MaxStreams == 100)
        #expect(configuration.h2c == false)
        #expect(configuration.shutdownGrace == .seconds(25))
        #expect(configuration.eventLoops == min(System.coreCount, 256))
        #expect(configuration.logLevel == .info)
        #expect(configuration.accessLog == .off)
    }

    @Test func effectiveLinesOfDefaults() async throws {
        let lines = try await SidecarConfiguration.load(environment: [:]).effectiveLines()
        #expect(
            lines == [
                "SIDECAR_LISTEN=0.0.0.0:8080",
                "SIDECAR_UPSTREAM=http://127.0.0.1:8000",
                "SIDECAR_TLS_CERT_FILE= (unset: plain HTTP)",
                "SIDECAR_TLS_KEY_FILE= (unset: plain HTTP)",
                "SIDECAR_TLS_CLIENT_CA_FILE= (unset: no client certificate required)",
                "SIDECAR_ADMIN_LISTEN=0.0.0.0:9464",
                "SIDECAR_REDIS_URL= (unset: in-process limits)",
                "SIDECAR_REDIS_URL_FILE= (unset: not used)",
                "SIDECAR_REDIS_TIMEOUT=50ms",
                "SIDECAR_REDIS_FAILURE_MODE=local",
                "SIDECAR_REDIS_MODE=standalone",
                "SIDECAR_REDIS_SENTINEL_MASTER= (unset: not sentinel mode)",
                "SIDECAR_REDIS_SENTINEL_PASSWORD_FILE= (unset: the sentinels need no password)",
                "SIDECAR_REPLICAS= (unset: from Redis heartbeats, else 1)",
                "SIDECAR_TRUSTED_PROXIES= (unset: no proxy is trusted)",
                "SIDECAR_IPV6_PREFIX=64",
                "SIDECAR_JWT_HS256_SECRET_FILE= (unset: no HS256 verification)",
                "SIDECAR_JWT_PUBLIC_KEY_FILE= (unset: no public-key verification)",
                "SIDECAR_RATELIMIT_HEADERS=draft",
                "SIDECAR_METRICS_ROUTES= (unset: every route is labelled other)",
                "SIDECAR_HEADER_TIMEOUT=10s",
                "SIDECAR_IDLE_TIMEOUT=60s",
                "SIDECAR_UPSTREAM_TIMEOUT=60s",
                "SIDECAR_MAX_HEADER_BYTES=32KiB",
                "SIDECAR_MAX_BODY_BYTES= (unset: no limit)",
                "SIDECAR_MAX_CONNECTIONS=10000",
                "SIDECAR_UPSTREAM_MAX_CONNECTIONS=256",
                "SIDECAR_H2_MAX_STREAMS=100",
                "SIDECAR_H2C=off",
                "SIDECAR_ENCODED_SLASHES=reject",
                "SIDECAR_SHUTDOWN_GRACE=25s",
                "SIDECAR_EVENT_LOOPS=\(min(System.coreCount, 256))",
                "SIDECAR_LOG_LEVEL=info",
                "SIDECAR_ACCESS_LOG=off",
                "SIDECAR_LOG_FORMAT=\(LogFormat.forStandardError.rawValue)",
            ]
        )
    }

    /// A valid value and the effective line it produces.
    @Test(arguments: [
        ("SIDECAR_LISTEN", "127.0.0.1:9000", "127.0.0.1:9000"),
        ("SIDECAR_LISTEN", ":8081", "0.0.0.0:8081"),
        ("SIDECAR_LISTEN", "[::1]:8080", "[::1]:8080"),
        ("SIDECAR_LISTEN", "[::]:0", "[::]:0"),
        ("SIDECAR_LISTEN", "localhost:65535", "localhost:65535"),
        ("SIDECAR_LISTEN", " 0.0.0.0:80 ", "0.0.0.0:80"),
        ("SIDECAR_UPSTREAM", "http://gateway:9000", "http://gateway:9000"),
        ("SIDECAR_UPSTREAM", "http://127.0.0.1", "http://127.0.0.1:80"),
        ("SIDECAR_UPSTREAM", "HTTP://127.0.0.1:8000/", "http://127.0.0.1:8000"),
        ("SIDECAR_UPSTREAM", "http://[::1]:8000", "http://[::1]:8000"),
        ("SIDECAR_UPSTREAM", "unix:/run/gateway.sock", "unix:/run/gateway.sock"),
        ("SIDECAR_UPSTREAM", "unix:///run/gateway.sock", "unix:/run/gateway.sock"),
        ("SIDECAR_ADMIN_LISTEN", "127.0.0.1:9465", "127.0.0.1:9465"),
        ("SIDECAR_REDIS_URL", "redis://localhost", "redis://localhost:6379/0"),
        ("SIDECAR_REDIS_URL", "redis://redis:6380/3", "redis://redis:6380/3"),
        ("SIDECAR_REDIS_URL", "rediss://cache.internal:6379/", "rediss://cache.internal:6379/0"),
        ("SIDECAR_REDIS_URL", "redis://[::1]:6379/15", "redis://[::1]:6379/15"),
        ("SIDECAR_REDIS_URL", "redis://app:s3cret@redis:6379/1", "redis://app:<redacted>@redis:6379/1"),
        ("SIDECAR_REDIS_URL", "redis://:s3cret@redis", "redis://:<redacted>@redis:6379/0"),
        ("SIDECAR_REDIS_TIMEOUT", "250us", "250us"),
        ("SIDECAR_REDIS_TIMEOUT", "1.5s", "1500ms"),
        ("SIDECAR_REDIS_TIMEOUT", "100ms", "100ms"),
        ("SIDECAR_REDIS_TIMEOUT", "2µs", "2us"),
        ("SIDECAR_REDIS_FAILURE_MODE", "open", "open"),
        ("SIDECAR_REDIS_FAILURE_MODE", "CLOSED", "closed"),
        ("SIDECAR_REPLICAS", "3", "3"),
        ("SIDECAR_TRUSTED_PROXIES", "10.0.0.0/8, fd00::/8,192.168.1.1", "10.0.0.0/8,fd00::/8,192.168.1.1/32"),
        ("SIDECAR_TRUSTED_PROXIES", "10.1.2.3/8,", "10.0.0.0/8"),
        ("SIDECAR_TRUSTED_PROXIES", "::ffff:10.0.0.0/104", "10.0.0.0/8"),
        ("SIDECAR_IPV6_PREFIX", "56", "56"),
        ("SIDECAR_IPV6_PREFIX", "128", "128"),
        ("SIDECAR_IPV6_PREFIX", "1", "1"),
        ("SIDECAR_RATELIMIT_HEADERS", "legacy", "legacy"),
        ("SIDECAR_RATELIMIT_HEADERS", "both", "both"),
        ("SIDECAR_RATELIMIT_HEADERS", "off", "off"),
        ("SIDECAR_METRICS_ROUTES", "/jobs/*, /health", "/jobs/*,/health"),
        ("SIDECAR_HEADER_TIMEOUT", "2m", "120s"),
        ("SIDECAR_IDLE_TIMEOUT", "2h", "7200s"),
        ("SIDECAR_UPSTREAM_TIMEOUT", "5s", "5s"),
        ("SIDECAR_MAX_HEADER_BYTES", "64KiB", "64KiB"),
        ("SIDECAR_MAX_HEADER_BYTES", "512", "512"),
        ("SIDECAR_MAX_HEADER_BYTES", "10KB", "10000"),
        ("SIDECAR_MAX_BODY_BYTES", "1MiB", "1MiB"),
        ("SIDECAR_MAX_BODY_BYTES", "1GiB", "1GiB"),
        ("SIDECAR_MAX_BODY_BYTES", "10MB", "10000000"),
        ("SIDECAR_MAX_BODY_BYTES", "0", "0"),
        ("SIDECAR_MAX_CONNECTIONS", "500", "500"),
        ("SIDECAR_UPSTREAM_MAX_CONNECTIONS", "2", "2"),
        ("SIDECAR_UPSTREAM_MAX_CONNECTIONS", " 1024 ", "1024"),
        ("SIDECAR_H2_MAX_STREAMS", "2147483647", "2147483647"),
        ("SIDECAR_H2C", "on", "on"),
        ("SIDECAR_H2C", "OFF", "off"),
        ("SIDECAR_SHUTDOWN_GRACE", "1m", "60s"),
        ("SIDECAR_EVENT_LOOPS", "256", "256"),
        ("SIDECAR_LOG_LEVEL", "DEBUG", "debug"),
        ("SIDECAR_LOG_LEVEL", "critical", "critical"),
        ("SIDECAR_ACCESS_LOG", "json", "json"),
        ("SIDECAR_LOG_FORMAT", "json", "json"),
        ("SIDECAR_LOG_FORMAT", "TEXT", "text"),
    ])
    func validValue(variable: String, value: String, effective: String) async throws {
        let lines = try await SidecarConfiguration.load(environment: [variable: value]).effectiveLines()
        #expect(lines.contains("\(variable)=\(effective)"))
    }

    @Test func emptyValueCountsAsUnset() async throws {
        let configuration = try await SidecarConfiguration.load(environment: [
            "SIDECAR_REDIS_URL": "", "SIDECAR_LISTEN": " ",
        ])
        #expect(configuration.redis == nil)
        #expect(configuration.listen.port == 8080)
    }

    @Test func parsedValuesInTheStruct() async throws {
        let configuration = try await SidecarConfiguration.load(environment: [
            "SIDECAR_REDIS_URL": "rediss://user:p%40ss%3Aword@redis.internal:6390/2",
            "SIDECAR_UPSTREAM": "unix:/run/gw.sock",
            "SIDECAR_TRUSTED_PROXIES": "10.0.0.0/8",
            "SIDECAR_METRICS_ROUTES": "/jobs/*,/health",
            "SIDECAR_REDIS_TIMEOUT": "1.5s",
            "SIDECAR_MAX_BODY_BYTES": "10MB",
            "SIDECAR_LOG_LEVEL": "warning",
        ])
        #expect(
            configuration.redis
                == RedisURL(
                    useTLS: true,
                    host: "redis.internal",
                    port: 6390,
                    username: "user",
                    password: "p@ss:word",
                    database: 2
                )
        )
        #expect(configuration.upstream == .unix(path: "/run/gw.sock"))
        #expect(configuration.trustedProxies == [IPNetwork(parsing: "10.0.0.0/8")!])
        #expect(
            configuration.metricsRoutes
                == [PathPattern(path: "/jobs/", isPrefix: true), PathPattern(path: "/health", isPrefix: false)]
        )
        #expect(configuration.redisTimeout == .milliseconds(1500))
        #expect(configuration.maxBodyBytes == 10_000_000)
        #expect(configuration.logLevel == .warning)
    }

    /// An invalid value and a fragment of its problem line.
    @Test(arguments: [
        ("SIDECAR_LISTEN", "8080", "expected host:port such as 0.0.0.0:8080, [::1]:8080 or :8080"),
        ("SIDECAR_LISTEN", "0.0.0.0:65536", "with a port from 0 to 65535"),
        ("SIDECAR_LISTEN", "::1:8080", "expected host:port"),
        ("SIDECAR_LISTEN", "0.0.0.0:http", "expected host:port"),
        ("SIDECAR_LISTEN", "300.0.0.1:80", "expected host:port"),
        ("SIDECAR_UPSTREAM", "https://127.0.0.1:8000", "upstream TLS is not supported"),
        ("SIDECAR_UPSTREAM", "http://127.0.0.1:8000/api", "no path other than /"),
        ("SIDECAR_UPSTREAM", "127.0.0.1:8000", "expected http://host[:port] or unix:/path.sock"),
        ("SIDECAR_UPSTREAM", "http://:8000", "expected http://host[:port]"),
        ("SIDECAR_UPSTREAM", "http://gw:0", "port from 1 to 65535"),
        ("SIDECAR_UPSTREAM", "unix:run/gw.sock", "the socket path must be absolute"),
        ("SIDECAR_ADMIN_LISTEN", "admin", "expected host:port"),
        ("SIDECAR_REDIS_URL", "localhost:6379", "expected redis://[user:password@]host:port[,host:port...][/db]"),
        ("SIDECAR_REDIS_URL", "redis://redis:6379/16", "database number from 0 to 15"),
        ("SIDECAR_REDIS_URL", "redis://redis:99999", "expected redis://"),
        ("SIDECAR_REDIS_URL", "redis://redis:6379/0?x=1", "no query"),
        ("SIDECAR_REDIS_TIMEOUT", "fast", "expected a duration such as 50ms, 10s or 1m"),
        ("SIDECAR_REDIS_TIMEOUT", "50", "a unit is required"),
        ("SIDECAR_REDIS_TIMEOUT", "0ms", "greater than zero"),
        ("SIDECAR_REDIS_TIMEOUT", "5d", "unknown unit \"d\""),
        ("SIDECAR_REDIS_TIMEOUT", "-5s", "expected a duration"),
        ("SIDECAR_REDIS_FAILURE_MODE", "fail", "expected one of local, open, closed"),
        ("SIDECAR_REPLICAS", "0", "expected a whole number of at least 1"),
        ("SIDECAR_REPLICAS", "two", "expected a whole number"),
        ("SIDECAR_TRUSTED_PROXIES", "10.0.0.0/8, 10.0.0.0/33, x", #"not valid: "10.0.0.0/33", "x""#),
        ("SIDECAR_IPV6_PREFIX", "0", "expected an IPv6 prefix length from 1 to 128"),
        ("SIDECAR_IPV6_PREFIX", "129", "expected an IPv6 prefix length from 1 to 128"),
        ("SIDECAR_IPV6_PREFIX", "/64", "expected an IPv6 prefix length from 1 to 128"),
        ("SIDECAR_JWT_HS256_SECRET_FILE", "/nonexistent/secret", "expected a readable file: no such file"),
        ("SIDECAR_JWT_PUBLIC_KEY_FILE", "/", "expected a readable file: this is a directory"),
        ("SIDECAR_JWT_PUBLIC_KEY_FILE", "/dev/zero", "expected a regular file, not a device or a pipe"),
        ("SIDECAR_JWT_HS256_SECRET_FILE", "/dev/urandom", "expected a regular file, not a device or a pipe"),
        ("SIDECAR_RATELIMIT_HEADERS", "ietf", "expected one of draft, legacy, both, off"),
        ("SIDECAR_METRICS_ROUTES", "/jobs/*, health", #"not valid: "health""#),
        ("SIDECAR_HEADER_TIMEOUT", "10", "a unit is required"),
        ("SIDECAR_IDLE_TIMEOUT", "1.s", "expected a duration"),
        ("SIDECAR_UPSTREAM_TIMEOUT", "soon", "expected a duration"),
        ("SIDECAR_MAX_HEADER_BYTES", "0", "greater than zero"),
        ("SIDECAR_MAX_HEADER_BYTES", "32kb2", "unknown unit"),
        ("SIDECAR_MAX_HEADER_BYTES", "1.5KiB", "expected a size such as 32KiB, 1MiB or 4096 (bytes)"),
        ("SIDECAR_MAX_BODY_BYTES", "lots", "expected a size"),
        ("SIDECAR_MAX_BODY_BYTES", "99999999999GiB", "too large"),
        ("SIDECAR_MAX_CONNECTIONS", "0", "expected a whole number from 1 to 2147483647"),
        ("SIDECAR_UPSTREAM_MAX_CONNECTIONS", "0", "expected a whole number from 1 to 2147483647"),
        ("SIDECAR_UPSTREAM_MAX_CONNECTIONS", "-5", "expected a whole number from 1 to 2147483647"),
        ("SIDECAR_UPSTREAM_MAX_CONNECTIONS", "many", "expected a whole number from 1 to 2147483647"),
        ("SIDECAR_H2_MAX_STREAMS", "2147483648", "expected a whole number from 1 to 2147483647"),
        ("SIDECAR_H2C", "yes", "expected on or off"),
        ("SIDECAR_ENCODED_SLASHES", "decode", "expected one of reject, keep"),
        ("SIDECAR_SHUTDOWN_GRACE", "25", "a unit is required"),
        ("SIDECAR_EVENT_LOOPS", "257", "expected a whole number from 1 to 256"),
        ("SIDECAR_EVENT_LOOPS", "0", "expected a whole number from 1 to 256"),
        ("SIDECAR_LOG_LEVEL", "verbose", "expected one of trace, debug, info, notice, warning, error, critical"),
        ("SIDECAR_ACCESS_LOG", "text", "expected one of off, json"),
        ("SIDECAR_LOG_FORMAT", "logfmt", "expected one of text, json"),
        ("SIDECAR_LIMIT_API", "lots/s", #"expected "<count>/<period>""#),
        ("SIDECAR_LIMIT_", "10/s", "expected a rule name"),
        ("SIDECAR_LIMIT_A-B", "10/s", "expected a rule name of letters, digits and _"),
    ])
    func invalidValue(variable: String, value: String, expected: String) async {
        let found = await problems([variable: value])
        #expect(found.count == 1)
        let line = found.first ?? ""
        #expect(line.hasPrefix("\(variable)=\"\(value)\": "), "\(line)")
        #expect(line.contains(expected), "\(line)")
    }

    @Test func ruleNamesDifferingOnlyInCaseAreRefusedBoth() async {
        let found = await problems([
            "SIDECAR_LIMIT_jobs": "2/m", "SIDECAR_LIMIT_JOBS": "3/m", "SIDECAR_LIMIT_OTHER": "1/s",
        ])
        #expect(
            found == [
                #"SIDECAR_LIMIT_JOBS="3/m": rule name "jobs" is also defined by SIDECAR_LIMIT_jobs: rule names are case-insensitive; keep one"#,
                #"SIDECAR_LIMIT_jobs="2/m": rule name "jobs" is also defined by SIDECAR_LIMIT_JOBS: rule names are case-insensitive; keep one"#,
            ]
        )
    }

    @Test func encodedSlashesChoice() async throws {
        #expect(
            try await SidecarConfiguration.load(environment: ["SIDECAR_ENCODED_SLASHES": "KEEP"]).encodedSlashes
                == .keep
        )
    }

    @Test func problemLineFormat() async {
        #expect(
            await problems(["SIDECAR_REDIS_TIMEOUT": "fast"]) == [
                #"SIDECAR_REDIS_TIMEOUT="fast": expected a duration such as 50ms, 10s or 1m"#
            ]
        )
    }

    @Test func everyProblemAtOnceSortedByVariable() async {
        let found = await problems([
            "SIDECAR_UPSTREAM": "https://gw",
            "SIDECAR_ACCESS_LOG": "text",
            "SIDECAR_REDIS_TIMEOUT": "fast",
            "SIDECAR_LIMIT_JOBS": "10/m cost 11",
            "SIDECAR_LISTN": ":80",
            "SIDECAR_EVENT_LOOPS": "0",
        ])
        #expect(found.count == 6)
        let variables = found.map { String($0.prefix { $0 != "=" }) }
        #expect(
            variables == [
                "SIDECAR_ACCESS_LOG", "SIDECAR_EVENT_LOOPS", "SIDECAR_LIMIT_JOBS", "SIDECAR_LISTN",
                "SIDECAR_REDIS_TIMEOUT", "SIDECAR_UPSTREAM",
            ]
        )
    }

    @Test func quotesInValuesAreEscaped() async {
        #expect(
            await problems(["SIDECAR_LOG_LEVEL": "\"loud\""]) == [
                #"SIDECAR_LOG_LEVEL="\"loud\"": expected one of trace, debug, info, notice, warning, error, critical"#
            ]
        )
    }

    @Test(arguments: [
        "redis://app:hunter2@redis:6379/99",
        "redis://app:hunter2@",
        "redis://hunter2@redis:6379",
        "redis://:hunter2@redis:6379/0?tls=1",
        "http://app:hunter2@redis:6379",
        "redis://app:hunter2%zz@redis",
        "app:hunter2@redis:6379",
    ])
    func redisPasswordNeverAppearsInProblems(value: String) async {
        let found = await problems(["SIDECAR_REDIS_URL": value])
        #expect(found.count == 1)
        #expect(!found.joined().contains("hunter2"), "\(found)")
        #expect(found.joined().contains("<redacted>"), "\(found)")
    }

    @Test func redisPasswordNeverAppearsInEffectiveLines() async throws {
        let configuration = try await SidecarConfiguration.load(environment: [
            "SIDECAR_REDIS_URL": "redis://app:hunter2@redis:6379/1"
        ])
        #expect(configuration.redis?.password == "hunter2")
        let lines = configuration.effectiveLines()
        #expect(!lines.joined().contains("hunter2"))
        #expect(lines.contains("SIDECAR_REDIS_URL=redis://app:<redacted>@redis:6379/1"))
    }

    @Test func secretInAMistypedVariableIsRedacted() async {
        let found = await problems(["SIDECAR_REDIS_UR": "redis://:hunter2@redis"])
        #expect(
            found == [
                #"SIDECAR_REDIS_UR="redis://:<redacted>@redis": unknown variable; did you mean SIDECAR_REDIS_URL?"#
            ]
        )
    }

    @Test(arguments: [
        ("SIDECAR_LISTN", "SIDECAR_LISTEN"),
        ("SIDECAR_REDIS_TIMEOUTS", "SIDECAR_REDIS_TIMEOUT"),
        ("SIDECAR_MAX_BODY_BYTE", "SIDECAR_MAX_BODY_BYTES"),
        ("SIDECAR_RATE_LIMIT_HEADERS", "SIDECAR_RATELIMIT_HEADERS"),
        ("SIDECAR_H2_MAX_STREAM", "SIDECAR_H2_MAX_STREAMS"),
        ("SIDECAR_LIMITS_API", "SIDECAR_LIMIT_<NAME>"),
    ])
    func unknownVariableSuggestsClosestName(variable: String, suggestion: String) async {
        #expect(await problems([variable: "x"]) == ["\(variable)=\"x\": unknown variable; did you mean \(suggestion)?"])
    }

    @Test func pathsWithAtSignsAreShownAsIs() async {
        #expect(
            await problems(["SIDECAR_JWT_PUBLIC_KEY_FILE": "/nonexistent/keys@v1/public.pem"]) == [
                #"SIDECAR_JWT_PUBLIC_KEY_FILE="/nonexistent/keys@v1/public.pem": expected a readable file: no such file"#
            ]
        )
    }

    @Test func unknownVariableWithoutCloseName() async {
        let found = await problems(["SIDECAR_COMPLETELY_DIFFERENT": "1"])
        #expect(found.count == 1)
        #expect(found[0].contains("unknown variable") && !found[0].contains("did you mean"))
    }

    @Test func otherVariablesAreIgnored() async throws {
        _ = try await SidecarConfiguration.load(environment: ["PATH": "/bin", "sidecar_listen": "x", "HOME": "/root"])
    }

    @Test func rulesAreNamedAndSorted() async throws {
        let configuration = try await SidecarConfiguration.load(environment: [
            "SIDECAR_LIMIT_PER_USER": "100/s burst 200 by jwt:sub|ip",
            "SIDECAR_LIMIT_JOBS": "10/m by jwt:sub on POST /jobs",
            "SIDECAR_LIMIT_FLEET": "5000/s",
        ])
        #expect(configuration.rules.map(\.name) == ["fleet", "jobs", "per_user"])
        #expect(configuration.rules[2].burst == 200)
        let lines = configuration.effectiveLines()
        let ruleLines = lines.filter { $0.hasPrefix("SIDECAR_LIMIT_") }
        #expect(
            ruleLines == [
                "SIDECAR_LIMIT_FLEET=5000/s",
                "SIDECAR_LIMIT_JOBS=10/m by jwt:sub|ip on POST /jobs",
                "SIDECAR_LIMIT_PER_USER=100/s burst 200 by jwt:sub|ip",
            ]
        )
        // Rules sit after the JWT variables, as in the reference table.
        let jwtIndex = try #require(lines.firstIndex { $0.hasPrefix("SIDECAR_JWT_PUBLIC_KEY_FILE=") })
        #expect(lines[jwtIndex + 1] == "SIDECAR_LIMIT_FLEET=5000/s")
    }

    @Test func tlsSwitchesTheDefaultListener() async throws {
        let files = try TemporaryFiles()
        let certificate = try files.file("cert.pem")
        let key = try files.file("key.pem")
        let configuration = try await SidecarConfiguration.load(environment: [
            "SIDECAR_TLS_CERT_FILE": certificate, "SIDECAR_TLS_KEY_FILE": key,
        ])
        #expect(configuration.listen == ListenAddress(host: "0.0.0.0", port: 8443))
        #expect(configuration.tls == TLSFiles(certificateFile: certificate, keyFile: key, clientCAFile: nil))
        #expect(configuration.effectiveLines().contains("SIDECAR_TLS_CERT_FILE=\(certificate)"))

        let explicit = try await SidecarConfiguration.load(environment: [
            "SIDECAR_TLS_CERT_FILE": certificate, "SIDECAR_TLS_KEY_FILE": key, "SIDECAR_LISTEN": ":9443",
        ])
        #expect(explicit.listen == ListenAddress(host: "0.0.0.0", port: 9443))
    }

    @Test func mutualTLS() async throws {
        let files = try TemporaryFiles()
        let environment = [
            "SIDECAR_TLS_CERT_FILE": try files.file("cert.pem"),
            "SIDECAR_TLS_KEY_FILE": try files.file("key.pem"),
            "SIDECAR_TLS_CLIENT_CA_FILE": try files.file("ca.pem"),
        ]
        let configuration = try await SidecarConfiguration.load(environment: environment)
        #expect(configuration.tls?.clientCAFile == environment["SIDECAR_TLS_CLIENT_CA_FILE"])
    }

    @Test func certificateWithoutKeyNamesBoth() async throws {
        let files = try TemporaryFiles()
        let certificate = try files.file("cert.pem")
        let found = await problems(["SIDECAR_TLS_CERT_FILE": certificate])
        #expect(found.count == 1)
        #expect(found[0].hasPrefix("SIDECAR_TLS_CERT_FILE=\"\(certificate)\": "))
        #expect(found[0].contains("SIDECAR_TLS_KEY_FILE must be set too"))
        #expect(
            await problems(["SIDECAR_TLS_KEY_FILE": certificate])[0].contains("SIDECAR_TLS_CERT_FILE must be set too")
        )
    }

    @Test func clientCAWithoutTLS() async throws {
        let files = try TemporaryFiles()
        let found = await problems(["SIDECAR_TLS_CLIENT_CA_FILE": try files.file("ca.pem")])
        #expect(found.count == 1)
        #expect(found[0].contains("need TLS: set SIDECAR_TLS_CERT_FILE and SIDECAR_TLS_KEY_FILE too"))
    }

    @Test func missingTLSFilesAreEachReported() async {
        let found = await problems([
            "SIDECAR_TLS_CERT_FILE": "/nonexistent/cert.pem",
            "SIDECAR_TLS_KEY_FILE": "/nonexistent/key.pem",
            "SIDECAR_TLS_CLIENT_CA_FILE": "/nonexistent/ca.pem",
        ])
        #expect(
            found == [
                #"SIDECAR_TLS_CERT_FILE="/nonexistent/cert.pem": expected a readable file: no such file"#,
                #"SIDECAR_TLS_CLIENT_CA_FILE="/nonexistent/ca.pem": expected a readable file: no such file"#,
                #"SIDECAR_TLS_KEY_FILE="/nonexistent/key.pem": expected a readable file: no such file"#,
            ]
        )
    }

    @Test func jwtFiles() async throws {
        let files = try TemporaryFiles()
        let secret = try files.file("hs256.key", contents: "secret")
        let publicKey = try files.file("public.pem")
        let configuration = try await SidecarConfiguration.load(environment: [
            "SIDECAR_JWT_HS256_SECRET_FILE": secret, "SIDECAR_JWT_PUBLIC_KEY_FILE": publicKey,
        ])
        #expect(configuration.jwtHS256SecretFile == secret)
        #expect(configuration.jwtPublicKeyFile == publicKey)
    }

    @Test func durationAndSizeFormatting() async {
        #expect(SidecarConfiguration.durationText(.milliseconds(1500)) == "1500ms")
        #expect(SidecarConfiguration.durationText(.nanoseconds(7)) == "7ns")
        #expect(SidecarConfiguration.sizeText(3 * 1024 * 1024) == "3MiB")
        #expect(SidecarConfiguration.sizeText(1000) == "1000")
    }
}

@Test func redisURLFromAFileKeepsThePasswordOutOfTheEnvironment() async throws {
    let path = "/tmp/sidecar-redis-url-\(UInt32.random(in: 0...UInt32.max))"
    try "redis://sidecar:s3cret@redis:6380/2\n".write(toFile: path, atomically: true, encoding: .utf8)
    defer { try? FileManager.default.removeItem(atPath: path) }
    let configuration = try await SidecarConfiguration.load(environment: ["SIDECAR_REDIS_URL_FILE": path])
    #expect(configuration.redis?.password == "s3cret")
    #expect(configuration.redis?.port == 6380)
    #expect(!configuration.effectiveLines().joined().contains("s3cret"))
    await #expect(throws: ConfigurationError.self) {
        try await SidecarConfiguration.load(environment: [
            "SIDECAR_REDIS_URL_FILE": path, "SIDECAR_REDIS_URL": "redis://x:1",
        ])
    }
    await #expect(throws: ConfigurationError.self) {
        try await SidecarConfiguration.load(environment: ["SIDECAR_REDIS_URL_FILE": "/nonexistent/url"])
    }
}

@Test func sentinelModeListsTheSentinelsAndNamesTheMaster() async throws {
    let path = "/tmp/sidecar-sentinel-password-\(UInt32.random(in: 0...UInt32.max))"
    try "sentinel-s3cret\n".write(toFile: path, atomically: true, encoding: .utf8)
    defer { try? FileManager.default.removeItem(atPath: path) }
    let configuration = try await SidecarConfiguration.load(environment: [
        "SIDECAR_REDIS_MODE": "sentinel",
        "SIDECAR_REDIS_URL": "rediss://app:pw@10.0.0.1,10.0.0.2:26380,[fd00::3]/1",
        "SIDECAR_REDIS_SENTINEL_MASTER": "mymaster",
        "SIDECAR_REDIS_SENTINEL_PASSWORD_FILE": path,
    ])
    #expect(configuration.redisMode == .sentinel)
    // Sentinels listen on 26379 unless the address says otherwise.
    #expect(
        configuration.redis?.addresses == [
            RedisAddress(host: "10.0.0.1", port: 26379), RedisAddress(host: "10.0.0.2", port: 26380),
            RedisAddress(host: "fd00::3", port: 26379),
        ]
    )
    #expect(configuration.redisSentinelMaster == "mymaster")
    #expect(configuration.redisSentinelPassword == "sentinel-s3cret")
    let lines = configuration.effectiveLines()
    #expect(lines.contains("SIDECAR_REDIS_URL=rediss://app:<redacted>@10.0.0.1:26379,10.0.0.2:26380,[fd00::3]:26379/1"))
    #expect(lines.contains("SIDECAR_REDIS_MODE=sentinel"))
    #expect(lines.contains("SIDECAR_REDIS_SENTINEL_MASTER=mymaster"))
    #expect(!lines.joined().contains("s3cret"))
    let sentinel = try #require(RateLimiters.sentinel(configuration, url: configuration.redis!))
    #expect(sentinel.masterName == "mymaster")
    #expect(sentinel.sentinels.map(\.port) == [26379, 26380, 26379])
    #expect(sentinel.sentinels.allSatisfy { $0.password == "sentinel-s3cret" && $0.useTLS })
    // Standalone keeps 6379 as the default port.
    #expect(try await SidecarConfiguration.load(environment: ["SIDECAR_REDIS_URL": "redis://r"]).redis?.port == 6379)
}

@Test func clusterModeListsSeedNodesWithOneSetOfCredentials() async throws {
    let configuration = try await SidecarConfiguration.load(environment: [
        "SIDECAR_REDIS_MODE": "cluster",
        "SIDECAR_REDIS_URL": "rediss://app:pw@10.0.0.1,10.0.0.2:7001",
    ])
    #expect(configuration.redisMode == .cluster)
    #expect(
        configuration.redis?.addresses == [
            RedisAddress(host: "10.0.0.1", port: 6379), RedisAddress(host: "10.0.0.2", port: 7001),
        ]
    )
    #expect(configuration.effectiveLines().contains("SIDECAR_REDIS_MODE=cluster"))
    let cluster = try #require(RateLimiters.cluster(configuration, url: configuration.redis!))
    #expect(cluster.seeds.map(\.port) == [6379, 7001])
    #expect(cluster.seeds.allSatisfy { $0.username == "app" && $0.password == "pw" && $0.useTLS })
    #expect(RateLimiters.sentinel(configuration, url: configuration.redis!) == nil)
}

@Test func redisModeCombinationsThatCannotWorkAreRefusedOneLineEach() async {
    let twoAddresses = await problems(["SIDECAR_REDIS_URL": "redis://a:6379,b:6379"])
    #expect(twoAddresses.count == 1)
    #expect(twoAddresses.first?.contains("SIDECAR_REDIS_URL") == true)
    #expect(twoAddresses.first?.contains("standalone mode takes one") == true)

    let noMaster = await problems(["SIDECAR_REDIS_MODE": "sentinel", "SIDECAR_REDIS_URL": "redis://s1,s2"])
    #expect(noMaster.count == 1)
    #expect(noMaster.first?.hasPrefix("SIDECAR_REDIS_SENTINEL_MASTER") == true)

    let masterElsewhere = await problems([
        "SIDECAR_REDIS_URL": "redis://r", "SIDECAR_REDIS_SENTINEL_MASTER": "m",
        "SIDECAR_REDIS_SENTINEL_PASSWORD_FILE": "/etc/hostname",
    ])
    #expect(masterElsewhere.count == 2)
    #expect(masterElsewhere.allSatisfy { $0.contains("only applies with SIDECAR_REDIS_MODE=sentinel") })

    // A cluster has one database; the sentinel variables belong to sentinel mode.
    let cluster = await problems([
        "SIDECAR_REDIS_MODE": "cluster", "SIDECAR_REDIS_URL": "redis://r1,r2/2", "SIDECAR_REDIS_SENTINEL_MASTER": "m",
    ])
    #expect(cluster.count == 2)
    #expect(cluster.contains { $0.hasPrefix("SIDECAR_REDIS_URL") && $0.contains("only database 0") })
    #expect(cluster.contains { $0.hasPrefix("SIDECAR_REDIS_SENTINEL_MASTER") })

    let modeWithoutRedis = await problems(["SIDECAR_REDIS_MODE": "sentinel", "SIDECAR_REDIS_SENTINEL_MASTER": "m"])
    #expect(modeWithoutRedis.count == 1)
    #expect(modeWithoutRedis.first?.hasPrefix("SIDECAR_REDIS_MODE") == true)

    let unreadable = await problems([
        "SIDECAR_REDIS_MODE": "sentinel", "SIDECAR_REDIS_URL": "redis://s1", "SIDECAR_REDIS_SENTINEL_MASTER": "m",
        "SIDECAR_REDIS_SENTINEL_PASSWORD_FILE": "/nonexistent/password",
    ])
    #expect(unreadable.count == 1)
    #expect(unreadable.first?.hasPrefix("SIDECAR_REDIS_SENTINEL_PASSWORD_FILE") == true)
}

@Test func secretFilesAreReadThroughTheSymbolicLinksOfAKubernetesSecretVolume() async throws {
    // A Secret volume holds `..data -> ..2026_12_03...` and `redis-url -> ..data/redis-url`.
    let files = try TemporaryFiles()
    let version = files.directory.appendingPathComponent("..2026_12_03_10_00_00.000000001")
    try FileManager.default.createDirectory(at: version, withIntermediateDirectories: true)
    try "rediss://sidecar:s3cret@redis:6380/2\n".write(
        to: version.appendingPathComponent("redis-url"),
        atomically: true,
        encoding: .utf8
    )
    try "sentinel-s3cret".write(to: version.appendingPathComponent("sentinel"), atomically: true, encoding: .utf8)
    let data = files.directory.appendingPathComponent("..data")
    try FileManager.default.createSymbolicLink(atPath: data.path, withDestinationPath: version.lastPathComponent)
    for name in ["redis-url", "sentinel"] {
        try FileManager.default.createSymbolicLink(
            atPath: files.directory.appendingPathComponent(name).path,
            withDestinationPath: "..data/\(name)"
        )
    }
    let configuration = try await SidecarConfiguration.load(environment: [
        "SIDECAR_REDIS_MODE": "sentinel",
        "SIDECAR_REDIS_URL_FILE": files.directory.appendingPathComponent("redis-url").path,
        "SIDECAR_REDIS_SENTINEL_MASTER": "mymaster",
        "SIDECAR_REDIS_SENTINEL_PASSWORD_FILE": files.directory.appendingPathComponent("sentinel").path,
    ])
    #expect(configuration.redis?.password == "s3cret")
    #expect(configuration.redis?.useTLS == true)
    #expect(configuration.redisSentinelPassword == "sentinel-s3cret")
}

@Test func aSecretFileThatCannotServeIsNamedWithWhatItShouldHold() async throws {
    let files = try TemporaryFiles()
    let binary = files.directory.appendingPathComponent("binary")
    try Data([0x72, 0x65, 0xFF, 0xFE]).write(to: binary)
    let wrong = try files.file("wrong", contents: "redis://:hunter2@redis:6379/99\n")
    #expect(
        await problems(["SIDECAR_REDIS_URL_FILE": binary.path]) == [
            "SIDECAR_REDIS_URL_FILE=\"\(binary.path)\": expected a file of UTF-8 text"
        ]
    )
    #expect(
        await problems(["SIDECAR_REDIS_URL_FILE": files.directory.path]) == [
            "SIDECAR_REDIS_URL_FILE=\"\(files.directory.path)\": expected a readable file: this is a directory"
        ]
    )
    // A device would be read without end; a huge file is no secret.
    #expect(
        await problems(["SIDECAR_REDIS_URL_FILE": "/dev/zero"]) == [
            #"SIDECAR_REDIS_URL_FILE="/dev/zero": expected a regular file holding the secret, not a device or a pipe"#
        ]
    )
    let huge = try files.file("huge", contents: String(repeating: "x", count: 65 * 1024))
    #expect(
        await problems(["SIDECAR_REDIS_URL_FILE": huge]) == [
            "SIDECAR_REDIS_URL_FILE=\"\(huge)\": expected a file of at most 64 KiB holding the secret; it has 66560 bytes"
        ]
    )
    let holdsABadURL = await problems(["SIDECAR_REDIS_URL_FILE": wrong])
    #expect(holdsABadURL.count == 1)
    #expect(holdsABadURL.first?.contains("the file must hold expected redis://") == true)
    #expect(holdsABadURL.first?.contains("database number from 0 to 15") == true)
    #expect(holdsABadURL.first?.contains("hunter2") == false)
}
