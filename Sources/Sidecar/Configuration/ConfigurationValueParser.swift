import Limiter
import Logging

#if canImport(FoundationEssentials)
import FoundationEssentials
#else
import Foundation
#endif
#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#elseif canImport(Darwin)
import Darwin
#endif

/// What a value should have looked like; the text after `VARIABLE="value": `.
struct ValueProblem: Error, Sendable, Hashable {
    var expected: String

    init(_ expected: String) {
        self.expected = expected
    }
}

/// Parsers for the value syntaxes of `SIDECAR_*` variables; each throws what it expected.
enum ConfigurationValueParser {
    static let durationExpectation = "expected a duration such as 50ms, 10s or 1m"

    // MARK: Durations and sizes

    /// `250us`, `50ms`, `1.5s`, `1m`, `2h` (also `ns`, `µs`); greater than zero.
    static func duration(_ text: String) throws(ValueProblem) -> Duration {
        let (number, unit) = splitNumber(text)
        guard !number.isEmpty else { throw ValueProblem(durationExpectation) }
        guard !unit.isEmpty else {
            throw ValueProblem("\(durationExpectation): a unit is required (ns, us, ms, s, m or h)")
        }
        let nanosecondsPerUnit: Int64
        switch unit.lowercased() {
        case "ns": nanosecondsPerUnit = 1
        case "us", "µs": nanosecondsPerUnit = 1_000
        case "ms": nanosecondsPerUnit = 1_000_000
        case "s": nanosecondsPerUnit = 1_000_000_000
        case "m": nanosecondsPerUnit = 60_000_000_000
        case "h": nanosecondsPerUnit = 3_600_000_000_000
        default:
            throw ValueProblem("\(durationExpectation): unknown unit \"\(unit)\" (use ns, us, ms, s, m or h)")
        }
        guard let nanoseconds = scaled(number, by: nanosecondsPerUnit) else {
            throw ValueProblem(durationExpectation)
        }
        guard nanoseconds <= 100 * 365 * 86_400 * 1_000_000_000 else {
            throw ValueProblem("\(durationExpectation): at most 100 years")
        }
        guard nanoseconds > 0 else {
            throw ValueProblem("\(durationExpectation), greater than zero")
        }
        return .nanoseconds(nanoseconds)
    }

    /// `512`, `32KiB`, `1MiB`, `1GiB` (binary), `10KB`, `10MB`, `1GB` (decimal), `512B`.
    static func size(_ text: String, allowZero: Bool) throws(ValueProblem) -> Int {
        let expectation = "expected a size such as 32KiB, 1MiB or 4096 (bytes)"
        let (number, unit) = splitNumber(text)
        guard !number.isEmpty, !number.contains(".") else { throw ValueProblem(expectation) }
        let multiplier: Int64
        switch unit.lowercased() {
        case "", "b": multiplier = 1
        case "kib": multiplier = 1 << 10
        case "mib": multiplier = 1 << 20
        case "gib": multiplier = 1 << 30
        case "kb": multiplier = 1_000
        case "mb": multiplier = 1_000_000
        case "gb": multiplier = 1_000_000_000
        default:
            throw ValueProblem("\(expectation): unknown unit \"\(unit)\" (use B, KiB, MiB, GiB, KB, MB or GB)")
        }
        guard let bytes = scaled(number, by: multiplier), bytes <= Int64(Int32.max) * 1024 else {
            throw ValueProblem("\(expectation): too large")
        }
        guard allowZero || bytes > 0 else { throw ValueProblem("\(expectation), greater than zero") }
        return Int(bytes)
    }

    /// Splits `12.5ms` into `12.5` and `ms`.
    private static func splitNumber(_ text: String) -> (number: String, unit: String) {
        let number = text.prefix { $0.isASCII && ($0.isNumber || $0 == ".") }
        return (String(number), String(text.dropFirst(number.count)))
    }

    /// `number` (digits, at most one `.`) times `unit`, truncated to a whole number; `nil` when malformed or too large.
    private static func scaled(_ number: String, by unit: Int64) -> Int64? {
        let parts = number.split(separator: ".", omittingEmptySubsequences: false)
        guard parts.count <= 2, !parts[0].isEmpty, let whole = Int64(parts[0]) else { return nil }
        let (wholeScaled, overflow) = whole.multipliedReportingOverflow(by: unit)
        guard !overflow else { return nil }
        guard parts.count == 2 else { return wholeScaled }
        let fractionDigits = parts[1].prefix(15)
        guard !parts[1].isEmpty, parts[1].allSatisfy(\.isNumber), let fraction = Int64(fractionDigits) else {
            return nil
        }
        var denominator: Int64 = 1
        for _ in fractionDigits { denominator *= 10 }
        // unit ≤ 3.6e12 and fraction < 1e15: split the product to stay in range.
        let fractionScaled = (unit / denominator) * fraction + (unit % denominator) * fraction / denominator
        let (total, totalOverflow) = wholeScaled.addingReportingOverflow(fractionScaled)
        return totalOverflow ? nil : total
    }

    // MARK: Numbers and choices

    /// A whole number in `range`.
    static func integer(_ text: String, in range: ClosedRange<Int>) throws(ValueProblem) -> Int {
        guard text.allSatisfy({ $0.isASCII && $0.isNumber }), let value = Int(text), range.contains(value) else {
            if range.upperBound == Int.max {
                throw ValueProblem("expected a whole number of at least \(range.lowerBound)")
            }
            throw ValueProblem("expected a whole number from \(range.lowerBound) to \(range.upperBound)")
        }
        return value
    }

    /// One of an enumeration's raw values, case-insensitively.
    static func choice<Choice: RawRepresentable & CaseIterable>(
        _ text: String,
        of type: Choice.Type
    ) throws(ValueProblem) -> Choice where Choice.RawValue == String {
        guard let value = Choice(rawValue: text.lowercased()) else {
            throw ValueProblem("expected one of \(Choice.allCases.map(\.rawValue).joined(separator: ", "))")
        }
        return value
    }

    /// `trace`, `debug`, `info`, `notice`, `warning`, `error` or `critical`.
    static func logLevel(_ text: String) throws(ValueProblem) -> Logger.Level {
        guard let level = Logger.Level(rawValue: text.lowercased()) else {
            throw ValueProblem(
                "expected one of \(Logger.Level.allCases.map(\.rawValue).joined(separator: ", "))"
            )
        }
        return level
    }

    /// `on` or `off`.
    static func onOff(_ text: String) throws(ValueProblem) -> Bool {
        switch text.lowercased() {
        case "on": return true
        case "off": return false
        default: throw ValueProblem("expected on or off")
        }
    }

    // MARK: Addresses

    /// `host:port`, `[::1]:port` or `:port` (all IPv4 interfaces); port 0 (ephemeral) to 65535.
    static func listenAddress(_ text: String) throws(ValueProblem) -> ListenAddress {
        let expectation = "expected host:port such as 0.0.0.0:8080, [::1]:8080 or :8080"
        guard let (host, port) = hostAndPort(text, defaultPort: nil) else { throw ValueProblem(expectation) }
        guard let port, (0...65535).contains(port) else {
            throw ValueProblem("\(expectation), with a port from 0 to 65535")
        }
        return ListenAddress(host: host.isEmpty ? "0.0.0.0" : host, port: port)
    }

    /// `http://host[:port][/]` (port 80 by default) or `unix:/absolute/path.sock`.
    static func upstream(_ text: String) throws(ValueProblem) -> UpstreamAddress {
        let expectation = "expected http://host[:port] or unix:/path.sock"
        let lowered = text.lowercased()
        if lowered.hasPrefix("unix:") {
            var path = text.dropFirst("unix:".count)
            if path.hasPrefix("//") { path = path.dropFirst(2) }
            guard path.hasPrefix("/"), path.count > 1 else {
                throw ValueProblem("\(expectation): the socket path must be absolute, as in unix:/run/gateway.sock")
            }
            return .unix(path: String(path))
        }
        if lowered.hasPrefix("https://") {
            throw ValueProblem(
                "\(expectation): upstream TLS is not supported; the gateway is reached over plain HTTP on loopback"
            )
        }
        guard lowered.hasPrefix("http://") else { throw ValueProblem(expectation) }
        let rest = text.dropFirst("http://".count)
        let authority = rest.prefix { $0 != "/" }
        let path = rest.dropFirst(authority.count)
        guard path.isEmpty || path == "/" else {
            throw ValueProblem("\(expectation): no path other than /")
        }
        guard !authority.contains("@"), let (host, port) = hostAndPort(String(authority), defaultPort: 80),
            !host.isEmpty
        else { throw ValueProblem(expectation) }
        guard let port, (1...65535).contains(port) else {
            throw ValueProblem("\(expectation), with a port from 1 to 65535")
        }
        return .tcp(host: host, port: port)
    }

    /// `redis://[user:password@]host[:port][/db]` or `rediss://` (TLS); port 6379 and db 0 by default.
    static func redisURL(_ text: String, defaultPort: Int = 6379) throws(ValueProblem) -> RedisURL {
        let expectation =
            "expected redis://[user:password@]host:port[,host:port...][/db] or rediss://... for TLS"
        let lowered = text.lowercased()
        let useTLS: Bool
        let rest: Substring
        if lowered.hasPrefix("redis://") {
            useTLS = false
            rest = text.dropFirst("redis://".count)
        } else if lowered.hasPrefix("rediss://") {
            useTLS = true
            rest = text.dropFirst("rediss://".count)
        } else {
            throw ValueProblem(expectation)
        }
        var username: String?
        var password: String?
        var location = rest
        if let at = rest.lastIndex(of: "@") {
            let userInfo = rest[..<at]
            location = rest[rest.index(after: at)...]
            guard let colon = userInfo.firstIndex(of: ":") else {
                throw ValueProblem("\(expectation): a password follows a colon, as in redis://:password@host")
            }
            guard let user = percentDecoded(userInfo[..<colon]),
                let secret = percentDecoded(userInfo[userInfo.index(after: colon)...])
            else {
                throw ValueProblem("\(expectation): user and password may use %XX escapes only for UTF-8 bytes")
            }
            username = user.isEmpty ? nil : user
            password = secret.isEmpty ? nil : secret
        }
        guard !location.contains("?"), !location.contains("#") else {
            throw ValueProblem("\(expectation): no query or fragment")
        }
        let authority = location.prefix { $0 != "/" }
        let path = location.dropFirst(authority.count)
        var addresses: [RedisAddress] = []
        for item in authority.split(separator: ",", omittingEmptySubsequences: false) {
            guard let (host, port) = hostAndPort(String(item), defaultPort: defaultPort), !host.isEmpty else {
                throw ValueProblem(expectation)
            }
            guard let port, (1...65535).contains(port) else {
                throw ValueProblem("\(expectation), with a port from 1 to 65535")
            }
            addresses.append(RedisAddress(host: host, port: port))
        }
        var database = 0
        if path.count > 1 {
            guard path.dropFirst().allSatisfy({ $0.isASCII && $0.isNumber }), let value = Int(path.dropFirst()),
                (0...15).contains(value)
            else {
                throw ValueProblem("\(expectation), with a database number from 0 to 15")
            }
            database = value
        }
        return RedisURL(
            useTLS: useTLS,
            addresses: addresses,
            username: username,
            password: password,
            database: database
        )
    }

    /// Splits `host:port`, `[v6]:port` or `host` (with a default port); the host is an IP literal or a DNS name.
    ///
    /// Returns `nil` when malformed; the port is `nil` when missing without a default or out of `Int` range.
    private static func hostAndPort(_ text: String, defaultPort: Int?) -> (String, Int?)? {
        var host: Substring
        var portText: Substring?
        if text.hasPrefix("[") {
            guard let close = text.firstIndex(of: "]") else { return nil }
            host = text[text.index(after: text.startIndex)..<close]
            guard let bytes = IPAddressText.bytes(parsing: host), bytes.count == 16 else { return nil }
            let after = text[text.index(after: close)...]
            if !after.isEmpty {
                guard after.first == ":" else { return nil }
                portText = after.dropFirst()
            }
        } else if let colon = text.lastIndex(of: ":") {
            host = text[..<colon]
            portText = text[text.index(after: colon)...]
            // An IPv6 address needs brackets to be told apart from its port.
            guard !host.contains(":") else { return nil }
        } else {
            host = Substring(text)
        }
        if !host.isEmpty, !host.hasPrefix(":"), !host.contains(":") {
            let looksNumeric = host.allSatisfy { $0 == "." || ($0.isASCII && $0.isNumber) }
            if looksNumeric {
                guard IPAddressText.bytes(parsing: host) != nil else { return nil }
            } else {
                guard isDNSName(host) else { return nil }
            }
        }
        guard let portText else { return (String(host), defaultPort) }
        guard !portText.isEmpty, portText.count <= 5, portText.allSatisfy({ $0.isASCII && $0.isNumber }) else {
            return nil
        }
        return (String(host), Int(portText))
    }

    private static func isDNSName(_ text: Substring) -> Bool {
        guard text.count <= 253 else { return false }
        let labels = text.split(separator: ".", omittingEmptySubsequences: false)
        return labels.allSatisfy { label in
            !label.isEmpty && label.count <= 63 && label.first != "-" && label.last != "-"
                && label.allSatisfy { $0.isASCII && ($0.isLetter || $0.isNumber || $0 == "-" || $0 == "_") }
        }
    }

    /// Decodes `%XX` escapes; `nil` when an escape is malformed or the bytes are not UTF-8.
    private static func percentDecoded(_ text: Substring) -> String? {
        var bytes: [UInt8] = []
        var iterator = Array(text.utf8).makeIterator()
        while let byte = iterator.next() {
            guard byte == UInt8(ascii: "%") else {
                bytes.append(byte)
                continue
            }
            guard let high = iterator.next(), let low = iterator.next(),
                let value = UInt8(String(decoding: [high, low], as: UTF8.self), radix: 16)
            else { return nil }
            bytes.append(value)
        }
        return String(validating: bytes, as: UTF8.self)
    }

    // MARK: Lists and files

    /// Comma-separated CIDRs (spaces allowed), such as `10.0.0.0/8, fd00::/8`.
    static func networks(_ text: String) throws(ValueProblem) -> [IPNetwork] {
        var networks: [IPNetwork] = []
        var invalid: [String] = []
        for entry in listEntries(text) {
            if let network = IPNetwork(parsing: entry) { networks.append(network) } else { invalid.append(entry) }
        }
        guard invalid.isEmpty else {
            throw ValueProblem(
                "expected comma-separated CIDRs such as 10.0.0.0/8, fd00::/8 or 192.168.1.1; not valid: "
                    + invalid.map { "\"\($0)\"" }.joined(separator: ", ")
            )
        }
        return networks
    }

    /// Comma-separated path patterns (spaces allowed), such as `/jobs/*, /health`.
    static func pathPatterns(_ text: String) throws(ValueProblem) -> [PathPattern] {
        var patterns: [PathPattern] = []
        var invalid: [String] = []
        for entry in listEntries(text) {
            do throws(RuleParseError) {
                patterns.append(try PathPattern(parsing: entry))
            } catch {
                invalid.append(entry)
            }
        }
        guard invalid.isEmpty else {
            throw ValueProblem(
                "expected comma-separated paths such as /jobs/*, /health (a trailing * matches a prefix); not valid: "
                    + invalid.map { "\"\($0)\"" }.joined(separator: ", ")
            )
        }
        return patterns
    }

    private static func listEntries(_ text: String) -> [String] {
        text.split(separator: ",").map { $0.trimmingCharacters(in: .whitespaces) }.filter { !$0.isEmpty }
    }

    /// A path to an existing, readable file (symbolic links followed, as mounted secrets use them).
    static func readableFile(_ path: String) throws(ValueProblem) -> String {
        var status = stat()
        guard stat(path, &status) == 0 else {
            throw ValueProblem(
                errno == EACCES
                    ? "expected a readable file: permission denied" : "expected a readable file: no such file"
            )
        }
        guard status.st_mode & S_IFMT != S_IFDIR else {
            throw ValueProblem("expected a readable file: this is a directory")
        }
        guard access(path, R_OK) == 0 else { throw ValueProblem("expected a readable file: permission denied") }
        return path
    }

    // MARK: Display

    /// `value` with the password of a `scheme://user:password@` part replaced by `<redacted>`.
    ///
    /// Without `://` the value is left alone (a path may hold `@`) unless `isSecret`.
    static func redacted(_ value: String, isSecret: Bool) -> String {
        guard let at = value.lastIndex(of: "@") else { return value }
        let scheme = value.range(of: "://")
        guard scheme != nil || isSecret else { return value }
        let start = scheme?.upperBound ?? value.startIndex
        guard start <= at else { return value }
        let userInfo = value[start..<at]
        let shown = userInfo.firstIndex(of: ":").map { userInfo[..<$0] + ":<redacted>" } ?? "<redacted>"
        return value[..<start] + shown + value[at...]
    }
}
