/// An IPv4 or IPv6 network in CIDR notation, such as `10.0.0.0/8` or `fd00::/8`.
public struct IPNetwork: Sendable, Hashable, CustomStringConvertible {
    /// The network address bytes: 4 for IPv4, 16 for IPv6.
    public var address: [UInt8]
    /// The prefix length in bits.
    public var prefixLength: Int

    public init(address: [UInt8], prefixLength: Int) {
        self.address = address
        self.prefixLength = prefixLength
    }

    public var description: String { "TODO" }
}
