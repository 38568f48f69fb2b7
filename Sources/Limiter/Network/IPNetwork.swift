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

    /// Parses `address/prefix` or a bare address (a /32 or /128); host bits beyond the prefix are cleared.
    public init?(parsing text: String) {
        let parts = text.split(separator: "/", maxSplits: 1, omittingEmptySubsequences: false)
        guard let bytes = IPAddressText.bytes(parsing: parts[0]) else { return nil }
        let maximum = bytes.count * 8
        var prefix = maximum
        if parts.count == 2 {
            let digits = parts[1]
            guard !digits.isEmpty, digits.utf8.count <= 3,
                digits.utf8.allSatisfy({ $0 >= UInt8(ascii: "0") && $0 <= UInt8(ascii: "9") }),
                let value = Int(digits), value <= maximum
            else { return nil }
            prefix = value
        }
        self.init(address: Self.masked(bytes, prefixLength: prefix), prefixLength: prefix)
    }

    /// The network in canonical CIDR form, such as `10.0.0.0/8` or `fd00::/8`.
    public var description: String {
        "\(IPAddressText.format(Self.masked(address, prefixLength: prefixLength)))/\(prefixLength)"
    }

    /// Whether the address (4 or 16 bytes) lies in this network; IPv4-mapped IPv6 matches IPv4 networks.
    public func contains(_ addressBytes: [UInt8]) -> Bool {
        var candidate = addressBytes
        if address.count == 4, candidate.count == 16 {
            guard IPAddressText.isIPv4Mapped(candidate) else { return false }
            candidate = Array(candidate[12..<16])
        } else if address.count == 16, candidate.count == 4 {
            candidate = IPAddressText.ipv4Mapped(candidate)
        }
        guard candidate.count == address.count, prefixLength >= 0, prefixLength <= address.count * 8 else {
            return false
        }
        var bits = prefixLength
        var index = 0
        while bits >= 8 {
            if candidate[index] != address[index] { return false }
            index += 1
            bits -= 8
        }
        if bits > 0 {
            let mask = UInt8(0xFF) << UInt8(8 - bits)
            return candidate[index] & mask == address[index] & mask
        }
        return true
    }

    /// Whether the textual IPv4 or IPv6 address lies in this network; `false` when it does not parse.
    public func contains(ipAddressText text: String) -> Bool {
        guard let bytes = IPAddressText.bytes(parsing: Substring(text)) else { return false }
        return contains(bytes)
    }

    /// `bytes` with every bit after the first `prefixLength` cleared.
    static func masked(_ bytes: [UInt8], prefixLength: Int) -> [UInt8] {
        var result = bytes
        for index in result.indices {
            let firstBit = index * 8
            if firstBit >= prefixLength {
                result[index] = 0
            } else if firstBit + 8 > prefixLength {
                result[index] &= UInt8(0xFF) << UInt8(firstBit + 8 - prefixLength)
            }
        }
        return result
    }
}
