/// An IPv4 or IPv6 address as bits: compared, hashed and masked as a number, never as text.
///
/// Parsing folds IPv4-mapped IPv6 (`::ffff:203.0.113.7`) to IPv4 (`203.0.113.7`), so the two
/// spellings of one client are one address. The value is 17 bytes inline: no allocation to parse,
/// compare or mask it.
public struct IPAddress: Sendable, Hashable, CustomStringConvertible {
    /// Which protocol the address belongs to.
    public enum Family: Sendable, Hashable {
        /// IPv4: 32 bits.
        case ipv4
        /// IPv6: 128 bits, never IPv4-mapped once parsed.
        case ipv6
    }

    /// The address family.
    public let family: Family
    /// The address bits, right-aligned: an IPv4 address occupies the low 32 bits.
    public let bits: UInt128

    /// The IPv4 address with these 32 bits (`0xCB00_7107` is `203.0.113.7`).
    public init(ipv4 bits: UInt32) {
        self.family = .ipv4
        self.bits = UInt128(bits)
    }

    /// The IPv6 address with these 128 bits; an IPv4-mapped one becomes its IPv4 address.
    public init(ipv6 bits: UInt128) {
        if bits >> 32 == Self.ipv4MappedPrefix {
            self.init(ipv4: UInt32(truncatingIfNeeded: bits))
        } else {
            self.init(unfolded: .ipv6, bits: bits)
        }
    }

    /// An address exactly as given, IPv4-mapped IPv6 kept as IPv6 (for network prefixes).
    init(unfolded family: Family, bits: UInt128) {
        self.family = family
        self.bits = bits
    }

    /// `0000:0000:0000:0000:0000:ffff`: the 96 bits in front of an IPv4-mapped IPv6 address.
    static let ipv4MappedPrefix: UInt128 = 0xFFFF

    /// The number of bits: 32 or 128.
    public var bitWidth: Int { family == .ipv4 ? 32 : 128 }

    /// The address with every bit after the first `prefixLength` cleared (the network of that prefix).
    public func masked(toPrefixLength prefixLength: Int) -> IPAddress {
        IPAddress(unfolded: family, bits: bits & Self.mask(prefixLength: prefixLength, bitWidth: bitWidth))
    }

    /// The IPv6 bits of this address: an IPv4 address in its IPv4-mapped form.
    var ipv6Bits: UInt128 {
        family == .ipv6 ? bits : Self.ipv4MappedPrefix << 32 | bits
    }

    /// A mask of `prefixLength` leading one bits in a `bitWidth`-bit number; the prefix is clamped to the width.
    static func mask(prefixLength: Int, bitWidth: Int) -> UInt128 {
        let ones = min(max(prefixLength, 0), bitWidth)
        if ones == 0 { return 0 }
        let all: UInt128 = bitWidth == 128 ? .max : (1 << UInt128(bitWidth)) - 1
        return all & ~(all >> UInt128(ones))
    }

    /// The canonical text: dotted IPv4, or RFC 5952 IPv6 (lower-case, the longest run of zero groups as `::`).
    public var description: String {
        switch family {
        case .ipv4:
            let value = UInt32(truncatingIfNeeded: bits)
            return "\(value >> 24).\(value >> 16 & 0xFF).\(value >> 8 & 0xFF).\(value & 0xFF)"
        case .ipv6:
            if bits >> 32 == Self.ipv4MappedPrefix {
                return "::ffff:" + IPAddress(ipv4: UInt32(truncatingIfNeeded: bits)).description
            }
            return Self.ipv6Text(bits)
        }
    }

    private static func ipv6Text(_ bits: UInt128) -> String {
        func group(_ index: Int) -> UInt16 { UInt16(truncatingIfNeeded: bits >> UInt128(112 - 16 * index)) }
        var bestStart = -1
        var bestLength = 0
        var index = 0
        while index < 8 {
            guard group(index) == 0 else {
                index += 1
                continue
            }
            var end = index
            while end < 8, group(end) == 0 { end += 1 }
            if end - index > bestLength {
                bestStart = index
                bestLength = end - index
            }
            index = end
        }
        func hex(_ range: Range<Int>) -> String {
            range.map { String(group($0), radix: 16) }.joined(separator: ":")
        }
        guard bestLength >= 2 else { return hex(0..<8) }
        return hex(0..<bestStart) + "::" + hex((bestStart + bestLength)..<8)
    }
}
