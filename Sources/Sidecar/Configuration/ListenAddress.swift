/// A `host:port` to listen on; `host` is an IP literal or a name, IPv6 without brackets.
struct ListenAddress: Sendable, Hashable, CustomStringConvertible {
    var host: String
    var port: Int

    var description: String { host.contains(":") ? "[\(host)]:\(port)" : "\(host):\(port)" }
}

extension ListenAddress {
    /// `host:port`, `[::1]:port` or `:port` (all IPv4 interfaces); port 0 (ephemeral) to 65535.
    init(parsing text: String) throws(ValueProblem) {
        let expectation = "expected host:port such as 0.0.0.0:8080, [::1]:8080 or :8080"
        guard let address = HostAndPort(parsing: text, defaultPort: nil) else { throw ValueProblem(expectation) }
        guard let port = address.port, (0...65535).contains(port) else {
            throw ValueProblem("\(expectation), with a port from 0 to 65535")
        }
        self.init(host: address.host.isEmpty ? "0.0.0.0" : address.host, port: port)
    }
}
