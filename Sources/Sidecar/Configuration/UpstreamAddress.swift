import Foundation

/// Where the gateway listens.
enum UpstreamAddress: Sendable, Hashable, CustomStringConvertible {
    /// `http://host:port`; `host` is what the upstream sees as its authority.
    case tcp(host: String, port: Int)
    /// `unix:/path.sock`.
    case unix(path: String)

    var description: String {
        switch self {
        case .tcp(let host, let port): host.contains(":") ? "http://[\(host)]:\(port)" : "http://\(host):\(port)"
        case .unix(let path): "unix:\(path)"
        }
    }
}

extension UpstreamAddress {
    /// `http://host[:port][/]` (port 80 by default) or `unix:/absolute/path.sock`.
    init(parsing text: String) throws(ValueProblem) {
        let expectation = "expected http://host[:port] or unix:/path.sock"
        if text.lowercased().hasPrefix("unix:") {
            var path = text.dropFirst("unix:".count)
            if path.hasPrefix("//") { path = path.dropFirst(2) }
            guard path.hasPrefix("/"), path.count > 1 else {
                throw ValueProblem("\(expectation): the socket path must be absolute, as in unix:/run/gateway.sock")
            }
            self = .unix(path: String(path))
            return
        }
        guard let url = URLComponents(validating: text), let scheme = url.scheme?.lowercased() else {
            throw ValueProblem(expectation)
        }
        if scheme == "https" {
            throw ValueProblem(
                "\(expectation): upstream TLS is not supported; the gateway is reached over plain HTTP on loopback"
            )
        }
        guard scheme == "http", url.percentEncodedUser == nil, url.percentEncodedPassword == nil,
            url.percentEncodedQuery == nil, url.percentEncodedFragment == nil,
            let address = HostAndPort(authorityOf: url, defaultPort: 80), !address.host.isEmpty
        else { throw ValueProblem(expectation) }
        guard url.percentEncodedPath.isEmpty || url.percentEncodedPath == "/" else {
            throw ValueProblem("\(expectation): no path other than /")
        }
        guard let port = address.port, (1...65535).contains(port) else {
            throw ValueProblem("\(expectation), with a port from 1 to 65535")
        }
        self = .tcp(host: address.host, port: port)
    }
}
