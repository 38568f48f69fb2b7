import Foundation

/// A parsed `redis://` or `rediss://` URL.
struct RedisURL: Sendable, Hashable, CustomStringConvertible {
    var useTLS: Bool
    /// The addresses listed, in order: the server in standalone mode, the sentinels in sentinel
    /// mode, seed nodes in cluster mode.
    var addresses: [RedisAddress]
    var username: String?
    var password: String?
    var database: Int

    init(useTLS: Bool, addresses: [RedisAddress], username: String?, password: String?, database: Int) {
        precondition(!addresses.isEmpty, "a Redis URL names at least one address")
        self.useTLS = useTLS
        self.addresses = addresses
        self.username = username
        self.password = password
        self.database = database
    }

    /// A URL of one address.
    init(useTLS: Bool, host: String, port: Int, username: String?, password: String?, database: Int) {
        self.init(
            useTLS: useTLS,
            addresses: [RedisAddress(host: host, port: port)],
            username: username,
            password: password,
            database: database
        )
    }

    /// The first address's host (the only one in standalone mode).
    var host: String { addresses[0].host }
    /// The first address's port.
    var port: Int { addresses[0].port }

    /// The URL with the password redacted.
    var description: String {
        var auth = ""
        if let username { auth = username }
        if password != nil { auth += ":<redacted>" }
        if !auth.isEmpty { auth += "@" }
        let hosts = addresses.map(\.description).joined(separator: ",")
        return "\(useTLS ? "rediss" : "redis")://\(auth)\(hosts)/\(database)"
    }
}

extension RedisURL {
    /// `redis://[user:password@]host[:port][,host[:port]...][/db]` or `rediss://` (TLS); port
    /// `defaultPort` and database 0 when not written.
    ///
    /// Two parts are not URL syntax and are split off first: the user and password, up to the last
    /// `@` (a password may hold `@`, `/` or `#` unescaped, as redis-py also reads it), and the
    /// addresses after the first. Foundation's `URLComponents` parses the rest, and its
    /// `removingPercentEncoding` decodes the user and password.
    init(parsing text: String, defaultPort: Int = 6379) throws(ValueProblem) {
        let expectation = "expected redis://[user:password@]host:port[,host:port...][/db] or rediss://... for TLS"
        guard let parts = Parts(text), let url = URLComponents(validating: parts.url),
            let scheme = url.scheme?.lowercased(), scheme == "redis" || scheme == "rediss"
        else { throw ValueProblem(expectation) }
        guard url.percentEncodedQuery == nil, url.percentEncodedFragment == nil else {
            throw ValueProblem("\(expectation): no query or fragment")
        }
        var username: String?
        var password: String?
        if let userInfo = parts.userInfo {
            guard let colon = userInfo.firstIndex(of: ":") else {
                throw ValueProblem("\(expectation): a password follows a colon, as in redis://:password@host")
            }
            guard let user = userInfo[..<colon].removingPercentEncoding,
                let secret = userInfo[userInfo.index(after: colon)...].removingPercentEncoding
            else {
                throw ValueProblem("\(expectation): user and password may use %XX escapes only for UTF-8 bytes")
            }
            username = user.isEmpty ? nil : user
            password = secret.isEmpty ? nil : secret
        }
        var addresses: [RedisAddress] = []
        let listed =
            [HostAndPort(authorityOf: url, defaultPort: defaultPort)]
            + parts.moreAddresses.map { HostAndPort(parsing: $0, defaultPort: defaultPort) }
        for address in listed {
            guard let address, !address.host.isEmpty, url.percentEncodedUser == nil else {
                throw ValueProblem(expectation)
            }
            guard let port = address.port, (1...65535).contains(port) else {
                throw ValueProblem("\(expectation), with a port from 1 to 65535")
            }
            addresses.append(RedisAddress(host: address.host, port: port))
        }
        var database = 0
        let path = url.percentEncodedPath.dropFirst()
        if !path.isEmpty {
            guard path.allSatisfy({ $0.isASCII && $0.isNumber }), let value = Int(path), (0...15).contains(value)
            else { throw ValueProblem("\(expectation), with a database number from 0 to 15") }
            database = value
        }
        self.init(
            useTLS: scheme == "rediss",
            addresses: addresses,
            username: username,
            password: password,
            database: database
        )
    }

    /// A Redis URL's user information, the URL without it and with its first address only, and the other addresses.
    private struct Parts {
        var userInfo: Substring?
        var url: String
        var moreAddresses: [Substring]

        init?(_ text: String) {
            guard let schemeEnd = text.range(of: "://") else { return nil }
            var location = text[schemeEnd.upperBound...]
            if let at = location.lastIndex(of: "@") {
                userInfo = location[..<at]
                location = location[location.index(after: at)...]
            }
            let hostsEnd = location.firstIndex { "/?#".contains($0) } ?? location.endIndex
            let hosts = location[..<hostsEnd].split(separator: ",", omittingEmptySubsequences: false)
            url = String(text[..<schemeEnd.upperBound] + hosts[0] + location[hostsEnd...])
            moreAddresses = Array(hosts.dropFirst())
        }
    }
}

/// One `host:port` of a Redis URL.
struct RedisAddress: Sendable, Hashable, CustomStringConvertible {
    var host: String
    var port: Int

    var description: String { host.contains(":") ? "[\(host)]:\(port)" : "\(host):\(port)" }
}

/// `SIDECAR_REDIS_MODE`: how the addresses of `SIDECAR_REDIS_URL` are used.
enum RedisMode: String, Sendable, Hashable, CaseIterable, ConfigurationChoice {
    /// One Redis server (or a managed primary endpoint).
    case standalone
    /// Sentinels that name the master of `SIDECAR_REDIS_SENTINEL_MASTER`.
    case sentinel
    /// Seed nodes of a Redis Cluster, asked for its slot map.
    case cluster

    /// The port of an address listed without one.
    var defaultPort: Int { self == .sentinel ? 26379 : 6379 }
}
