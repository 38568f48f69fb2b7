/// The networks whose `X-Forwarded-For` entries are believed, and the walk that finds the client.
public struct TrustedProxies: Sendable, Hashable {
    /// The trusted networks; empty trusts nobody.
    public var networks: [IPNetwork]

    public init(_ networks: [IPNetwork]) {
        self.networks = networks
    }

    /// Whether `address` lies in a trusted network.
    public func isTrusted(_ address: IPAddress) -> Bool {
        for network in networks where network.contains(address) { return true }
        return false
    }

    /// The client's address: walks `X-Forwarded-For` right to left from `peer` while the hop is trusted.
    ///
    /// `forwardedFor` holds the header's values in order; each may list several comma-separated hops,
    /// each an address with an optional port or brackets (see ``IPAddress/init(forwardedForEntry:)``).
    /// The walk stops at the first hop that is not trusted: that hop is the client. An entry that is
    /// not an address (`unknown`, a name, garbage) cannot be the client and stops the walk too: the
    /// client is then the last address read, the trusted proxy that passed the garbage on. Empty
    /// entries (`a,,b`) are skipped.
    public func clientAddress(peer: IPAddress, forwardedFor: [String]) -> IPAddress {
        guard isTrusted(peer) else { return peer }
        var client = peer
        for value in forwardedFor.reversed() {
            var rest = Substring(value)
            while !rest.isEmpty {
                let entry: Substring
                if let comma = rest.utf8.lastIndex(of: UInt8(ascii: ",")) {
                    entry = rest[rest.utf8.index(after: comma)...]
                    rest = rest[..<comma]
                } else {
                    entry = rest
                    rest = rest[rest.endIndex...]
                }
                if entry.utf8.allSatisfy({ $0 == UInt8(ascii: " ") || $0 == UInt8(ascii: "\t") }) { continue }
                guard let hop = IPAddress(forwardedForEntry: entry) else { return client }
                client = hop
                if !isTrusted(hop) { return client }
            }
        }
        return client
    }
}

extension Substring {
    /// The text without leading and trailing spaces and tabs.
    public func trimmingSpaces() -> Substring {
        var result = self
        while let first = result.first, first == " " || first == "\t" { result.removeFirst() }
        while let last = result.last, last == " " || last == "\t" { result.removeLast() }
        return result
    }
}
