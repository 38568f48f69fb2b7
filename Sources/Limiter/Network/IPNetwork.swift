/// An IPv4 or IPv6 network in CIDR notation, such as `10.0.0.0/8` or `fd00::/8`.
///
/// An IPv4-mapped IPv6 network of at least 96 bits is the IPv4 network it maps (`::ffff:10.0.0.0/104`
/// is `10.0.0.0/8`); a shorter IPv6 network that spans the mapped range (`::/0`) contains IPv4 addresses.
public struct IPNetwork: Sendable, Hashable, CustomStringConvertible {
    /// The network address, host bits cleared.
    public let address: IPAddress
    /// The prefix length in bits, from 0 to the address's bit width.
    public let prefixLength: Int

    /// The network of `prefixLength` bits (clamped to the address's width) that holds `address`.
    public init(address: IPAddress, prefixLength: Int) {
        var address = address
        var prefixLength = min(max(prefixLength, 0), address.bitWidth)
        if address.family == .ipv6, prefixLength >= 96, address.bits >> 32 == IPAddress.ipv4MappedPrefix {
            address = IPAddress(ipv4: UInt32(truncatingIfNeeded: address.bits))
            prefixLength -= 96
        }
        self.address = address.masked(toPrefixLength: prefixLength)
        self.prefixLength = prefixLength
    }

    /// Parses `address/prefix` or a bare address (a /32 or /128); host bits beyond the prefix are cleared.
    public init?(parsing text: String) {
        let parts = text.split(separator: "/", maxSplits: 1, omittingEmptySubsequences: false)
        guard let (family, bits) = IPAddress.parseBits(parts[0]) else { return nil }
        let address = IPAddress(unfolded: family, bits: bits)
        var prefix = address.bitWidth
        if parts.count == 2 {
            let digits = parts[1]
            guard !digits.isEmpty, digits.utf8.count <= 3,
                digits.utf8.allSatisfy({ $0 >= UInt8(ascii: "0") && $0 <= UInt8(ascii: "9") }),
                let value = Int(digits), value <= address.bitWidth
            else { return nil }
            prefix = value
        }
        self.init(address: address, prefixLength: prefix)
    }

    /// The network in canonical CIDR form, such as `10.0.0.0/8` or `fd00::/8`.
    public var description: String {
        "\(address)/\(prefixLength)"
    }

    /// Whether `candidate` lies in this network; an IPv4 address is also compared in its IPv4-mapped form
    /// against an IPv6 network.
    public func contains(_ candidate: IPAddress) -> Bool {
        let mask = IPAddress.mask(prefixLength: prefixLength, bitWidth: address.bitWidth)
        switch (address.family, candidate.family) {
        case (.ipv4, .ipv4), (.ipv6, .ipv6):
            return candidate.bits & mask == address.bits
        case (.ipv6, .ipv4):
            return candidate.ipv6Bits & mask == address.bits
        case (.ipv4, .ipv6):
            return false
        }
    }

    /// Whether the textual IPv4 or IPv6 address lies in this network; `false` when it does not parse.
    public func contains(ipAddressText text: String) -> Bool {
        guard let address = IPAddress(parsing: text) else { return false }
        return contains(address)
    }
}
