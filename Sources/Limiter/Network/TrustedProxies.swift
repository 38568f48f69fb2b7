/// The networks whose `X-Forwarded-For` entries are believed, and the walk that finds the client.
public struct TrustedProxies: Sendable, Hashable {
    /// The trusted networks; empty trusts nobody.
    public var networks: [IPNetwork]

    public init(_ networks: [IPNetwork]) {
        self.networks = networks
    }

    /// Whether `address` (an IP literal) lies in a trusted network.
    @inlinable
    public func isTrusted(_ address: some StringProtocol) -> Bool {
        if networks.isEmpty { return false }
        let text = String(address)
        return networks.contains { $0.contains(ipAddressText: text) }
    }

    /// The client's address: walks `X-Forwarded-For` right to left from `peer` while the hop is trusted.
    ///
    /// `forwardedFor` holds the header's values in order; each may list several comma-separated hops.
    public func clientAddress(peer: String, forwardedFor: [String]) -> String {
        guard isTrusted(peer) else { return peer }
        var client = peer
        for value in forwardedFor.reversed() {
            for hop in value.split(separator: ",").reversed() {
                let address = hop.trimmingSpaces()
                if address.isEmpty { continue }
                client = String(address)
                if !isTrusted(address) { return client }
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
