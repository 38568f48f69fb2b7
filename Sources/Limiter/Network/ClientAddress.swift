/// The client a request came from, as `by ip` counts it: its address and the IPv6 prefix that groups it.
///
/// IPv4 clients count one bucket per address. IPv6 clients count one bucket per network of
/// `ipv6PrefixLength` bits (`SIDECAR_IPV6_PREFIX`, 64 by default): a host given a /64 cannot rotate
/// through its addresses to get fresh buckets. At 128 every IPv6 address is its own bucket.
public struct ClientAddress: Sendable, Hashable, CustomStringConvertible {
    /// The address itself, IPv4-mapped IPv6 folded to IPv4.
    public var address: IPAddress
    /// The prefix length that groups IPv6 clients, from 1 to 128.
    public var ipv6PrefixLength: Int

    /// The client at `address`, IPv6 grouped by `ipv6PrefixLength` bits (clamped to 1...128).
    public init(_ address: IPAddress, ipv6PrefixLength: Int = ClientAddress.defaultIPv6PrefixLength) {
        self.address = address
        self.ipv6PrefixLength = min(max(ipv6PrefixLength, 1), 128)
    }

    /// The default grouping of IPv6 clients: the /64 of one subnet, as an ISP hands out at the least.
    public static let defaultIPv6PrefixLength = 64

    /// What `by ip` counts under: the IPv4 address (`203.0.113.7`), the IPv6 network in CIDR form
    /// (`2001:db8:1:2::/64`), or at prefix 128 the IPv6 address (`2001:db8::1`).
    public var keyText: String {
        guard address.family == .ipv6, ipv6PrefixLength < 128 else { return address.description }
        return "\(address.masked(toPrefixLength: ipv6PrefixLength))/\(ipv6PrefixLength)"
    }

    /// The address in canonical text, as the access log shows it.
    public var description: String { address.description }
}
