extension IPAddress {
    /// Parses an IP literal: dotted IPv4 (`203.0.113.7`) or IPv6 with `::` and an embedded IPv4 tail.
    ///
    /// IPv4-mapped IPv6 becomes IPv4. `nil` for anything else: leading zeros in IPv4 (some resolvers
    /// read them as octal), zone indices (`fe80::1%eth0`), brackets, ports or surrounding spaces.
    public init?(parsing text: some StringProtocol) {
        guard let (family, bits) = Self.parseBits(text) else { return nil }
        if family == .ipv4 {
            self.init(ipv4: UInt32(truncatingIfNeeded: bits))
        } else {
            self.init(ipv6: bits)
        }
    }

    /// Parses one entry of `X-Forwarded-For`: an IP literal with optional spaces around it, and
    /// optionally a port (`203.0.113.7:5678`) or brackets (`[2001:db8::1]`, `[2001:db8::1]:443`).
    ///
    /// `nil` for anything else (`unknown`, a name, an obfuscated identifier, a bad port).
    public init?(forwardedForEntry entry: Substring) {
        let text = entry.trimmingSpaces()
        let utf8 = text.utf8
        guard let first = utf8.first else { return nil }
        var address = text
        if first == UInt8(ascii: "[") {
            // `[v6]` or `[v6]:port`: only IPv6 is written in brackets.
            guard let close = utf8.firstIndex(of: UInt8(ascii: "]")) else { return nil }
            address = text[utf8.index(after: utf8.startIndex)..<close]
            let rest = text[utf8.index(after: close)...]
            if !rest.isEmpty {
                guard rest.utf8.first == UInt8(ascii: ":"), Self.isPort(rest.dropFirst()) else { return nil }
            }
            guard let (family, bits) = Self.parseBits(address), family == .ipv6 else { return nil }
            self.init(ipv6: bits)
            return
        }
        if let colon = utf8.firstIndex(of: UInt8(ascii: ":")),
            utf8[utf8.index(after: colon)...].firstIndex(of: UInt8(ascii: ":")) == nil
        {
            // One colon: `a.b.c.d:port` (bare IPv6 always has two or more).
            guard Self.isPort(text[utf8.index(after: colon)...]) else { return nil }
            address = text[..<colon]
            guard let (family, bits) = Self.parseBits(address), family == .ipv4 else { return nil }
            self.init(ipv4: UInt32(truncatingIfNeeded: bits))
            return
        }
        self.init(parsing: address)
    }

    /// A TCP port: 1 to 5 digits, at most 65535.
    private static func isPort(_ text: Substring) -> Bool {
        let utf8 = text.utf8
        guard (1...5).contains(utf8.count) else { return false }
        var value = 0
        for byte in utf8 {
            guard byte >= UInt8(ascii: "0"), byte <= UInt8(ascii: "9") else { return false }
            value = value * 10 + Int(byte - UInt8(ascii: "0"))
        }
        return value <= 65535
    }

    /// The family and bits of an IP literal, IPv4-mapped IPv6 not folded; `nil` if malformed.
    static func parseBits(_ text: some StringProtocol) -> (Family, UInt128)? {
        let parsed = text.utf8.withContiguousStorageIfAvailable { parseBits(bytes: $0) }
        if let parsed { return parsed }
        return Array(text.utf8).withUnsafeBufferPointer { parseBits(bytes: $0) }
    }

    private static func parseBits(bytes: UnsafeBufferPointer<UInt8>) -> (Family, UInt128)? {
        if bytes.contains(UInt8(ascii: ":")) {
            return parseIPv6(bytes).map { (.ipv6, $0) }
        }
        return parseIPv4(bytes[...]).map { (.ipv4, UInt128($0)) }
    }

    /// Four decimal parts of 1 to 3 digits, each at most 255, without leading zeros.
    private static func parseIPv4(_ bytes: Slice<UnsafeBufferPointer<UInt8>>) -> UInt32? {
        var result: UInt32 = 0
        var parts = 0
        var value: UInt32 = 0
        var digits = 0
        var leadingZero = false
        for byte in bytes {
            if byte == UInt8(ascii: ".") {
                guard digits > 0, parts < 3 else { return nil }
                result = result << 8 | value
                parts += 1
                value = 0
                digits = 0
                continue
            }
            guard byte >= UInt8(ascii: "0"), byte <= UInt8(ascii: "9"), digits < 3, !(digits == 1 && leadingZero)
            else { return nil }
            if digits == 0 { leadingZero = byte == UInt8(ascii: "0") }
            value = value * 10 + UInt32(byte - UInt8(ascii: "0"))
            digits += 1
            guard value <= 255 else { return nil }
        }
        guard digits > 0, parts == 3 else { return nil }
        return result << 8 | value
    }

    /// Up to eight groups of 1 to 4 hex digits, at most one `::`, optionally ending in dotted IPv4.
    private static func parseIPv6(_ bytes: UnsafeBufferPointer<UInt8>) -> UInt128? {
        let count = bytes.count
        var head: UInt128 = 0
        var headGroups = 0
        var tail: UInt128 = 0
        var tailGroups = 0
        var compressed = false
        var index = 0

        func append(_ group: UInt128, width: Int) -> Bool {
            if compressed {
                tail = tail << UInt128(16 * width) | group
                tailGroups += width
            } else {
                head = head << UInt128(16 * width) | group
                headGroups += width
            }
            return headGroups + tailGroups <= 8
        }

        guard count >= 2 else { return nil }
        if bytes[0] == UInt8(ascii: ":") {
            guard bytes[1] == UInt8(ascii: ":") else { return nil }
            compressed = true
            index = 2
        }
        while index < count {
            let start = index
            var value: UInt128 = 0
            var digits = 0
            while index < count, let digit = asciiHexValue(bytes[index]) {
                guard digits < 4 else { return nil }
                value = value << 4 | UInt128(digit)
                digits += 1
                index += 1
            }
            if index < count, bytes[index] == UInt8(ascii: ".") {
                // A dotted IPv4 tail fills the last two groups.
                guard let ipv4 = parseIPv4(bytes[start..<count]), append(UInt128(ipv4), width: 2) else { return nil }
                index = count
                break
            }
            guard digits > 0, append(value, width: 1) else { return nil }
            if index == count { break }
            guard bytes[index] == UInt8(ascii: ":") else { return nil }
            index += 1
            guard index < count else { return nil }
            if bytes[index] == UInt8(ascii: ":") {
                guard !compressed else { return nil }
                compressed = true
                index += 1
            }
        }
        if compressed {
            guard headGroups + tailGroups <= 7 else { return nil }
            return (headGroups == 0 ? 0 : head << UInt128(16 * (8 - headGroups))) | tail
        }
        return headGroups == 8 ? head : nil
    }

}
