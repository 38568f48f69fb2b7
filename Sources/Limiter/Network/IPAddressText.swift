/// Conversion between IP address text and bytes: dotted IPv4, and IPv6 with `::` and embedded IPv4.
public enum IPAddressText {
    /// The 4 (IPv4) or 16 (IPv6) bytes of an address such as `10.0.0.1`, `::1` or `::ffff:10.0.0.1`; `nil` if malformed.
    public static func bytes(parsing text: Substring) -> [UInt8]? {
        if text.utf8.contains(UInt8(ascii: ":")) { return ipv6(text) }
        return ipv4(text)
    }

    /// The canonical text of 4 or 16 address bytes (RFC 5952 for IPv6: lower-case, longest zero run as `::`).
    public static func format(_ bytes: [UInt8]) -> String {
        if bytes.count == 4 { return bytes.map { String($0) }.joined(separator: ".") }
        guard bytes.count == 16 else { return bytes.map { String($0) }.joined(separator: ".") }
        if isIPv4Mapped(bytes) { return "::ffff:" + format(Array(bytes[12..<16])) }
        let groups = (0..<8).map { UInt16(bytes[2 * $0]) << 8 | UInt16(bytes[2 * $0 + 1]) }
        var bestStart = -1
        var bestLength = 0
        var index = 0
        while index < 8 {
            guard groups[index] == 0 else {
                index += 1
                continue
            }
            var end = index
            while end < 8, groups[end] == 0 { end += 1 }
            if end - index > bestLength {
                bestStart = index
                bestLength = end - index
            }
            index = end
        }
        func hex(_ range: Range<Int>) -> String {
            range.map { String(groups[$0], radix: 16) }.joined(separator: ":")
        }
        guard bestLength >= 2 else { return hex(0..<8) }
        return hex(0..<bestStart) + "::" + hex((bestStart + bestLength)..<8)
    }

    /// Whether 16 bytes are an IPv4-mapped IPv6 address (`::ffff:a.b.c.d`).
    public static func isIPv4Mapped(_ bytes: [UInt8]) -> Bool {
        bytes.count == 16 && bytes[0..<10].allSatisfy { $0 == 0 } && bytes[10] == 0xFF && bytes[11] == 0xFF
    }

    /// The IPv4-mapped IPv6 form (`::ffff:a.b.c.d`) of 4 IPv4 bytes.
    static func ipv4Mapped(_ bytes: [UInt8]) -> [UInt8] {
        [UInt8](repeating: 0, count: 10) + [0xFF, 0xFF] + bytes
    }

    private static func ipv4(_ text: Substring) -> [UInt8]? {
        let parts = text.split(separator: ".", omittingEmptySubsequences: false)
        guard parts.count == 4 else { return nil }
        var result: [UInt8] = []
        result.reserveCapacity(4)
        for part in parts {
            let utf8 = part.utf8
            // Leading zeros are rejected: some resolvers read them as octal.
            guard (1...3).contains(utf8.count), utf8.allSatisfy(isDigit),
                utf8.count == 1 || utf8.first != UInt8(ascii: "0"),
                let value = UInt8(part)
            else { return nil }
            result.append(value)
        }
        return result
    }

    private static func ipv6(_ text: Substring) -> [UInt8]? {
        let utf8 = Array(text.utf8)
        var compression: Int?
        var index = 0
        while index + 1 < utf8.count {
            if utf8[index] == UInt8(ascii: ":"), utf8[index + 1] == UInt8(ascii: ":") {
                guard compression == nil else { return nil }
                compression = index
                index += 2
            } else {
                index += 1
            }
        }
        let groups: [UInt16]
        if let compression {
            let headText = String(decoding: utf8[0..<compression], as: UTF8.self)
            let tailText = String(decoding: utf8[(compression + 2)...], as: UTF8.self)
            guard let head = groupList(Substring(headText), allowIPv4: false),
                let tail = groupList(Substring(tailText), allowIPv4: true),
                head.count + tail.count <= 7
            else { return nil }
            groups = head + [UInt16](repeating: 0, count: 8 - head.count - tail.count) + tail
        } else {
            guard let all = groupList(text, allowIPv4: true), all.count == 8 else { return nil }
            groups = all
        }
        return groups.flatMap { [UInt8($0 >> 8), UInt8($0 & 0xFF)] }
    }

    /// The 16-bit groups of colon-separated text; a last dotted IPv4 part counts as two groups.
    private static func groupList(_ text: Substring, allowIPv4: Bool) -> [UInt16]? {
        if text.isEmpty { return [] }
        let parts = text.split(separator: ":", omittingEmptySubsequences: false)
        var groups: [UInt16] = []
        for (position, part) in parts.enumerated() {
            if allowIPv4, position == parts.count - 1, part.utf8.contains(UInt8(ascii: ".")) {
                guard let v4 = ipv4(part) else { return nil }
                groups.append(UInt16(v4[0]) << 8 | UInt16(v4[1]))
                groups.append(UInt16(v4[2]) << 8 | UInt16(v4[3]))
                continue
            }
            guard (1...4).contains(part.utf8.count), let value = UInt16(part, radix: 16),
                part.utf8.allSatisfy(isHexDigit)
            else { return nil }
            groups.append(value)
        }
        return groups
    }

    private static func isDigit(_ byte: UInt8) -> Bool {
        byte >= UInt8(ascii: "0") && byte <= UInt8(ascii: "9")
    }

    private static func isHexDigit(_ byte: UInt8) -> Bool {
        isDigit(byte) || (byte >= UInt8(ascii: "a") && byte <= UInt8(ascii: "f"))
            || (byte >= UInt8(ascii: "A") && byte <= UInt8(ascii: "F"))
    }
}
