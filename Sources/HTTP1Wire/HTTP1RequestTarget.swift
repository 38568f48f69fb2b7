/// The grammar of request targets (RFC 9112 §3.2), stricter than llhttp: no fragment, no userinfo.
enum HTTP1RequestTarget {
    /// The form of `range`, or nil when it fits none allowed for the method.
    static func form(of range: Range<Int>, in bytes: UnsafeRawBufferPointer, isConnect: Bool) -> HTTP1TargetForm? {
        if isConnect {
            return isAuthority(range, in: bytes, requiresPort: true) ? .authority : nil
        }
        let first = bytes[range.lowerBound]
        if first == UInt8(ascii: "/") {
            return isPathAndQuery(range, in: bytes) ? .origin : nil
        }
        if first == UInt8(ascii: "*") {
            return range.count == 1 ? .asterisk : nil
        }
        return isAbsolute(range, in: bytes) ? .absolute : nil
    }

    /// Visible ASCII without `#`.
    private static func isPathAndQuery(_ range: Range<Int>, in bytes: UnsafeRawBufferPointer) -> Bool {
        for offset in range {
            let byte = bytes[offset]
            guard HTTP1ByteClass.isVisible(byte), byte != UInt8(ascii: "#") else { return false }
        }
        return true
    }

    /// `ALPHA+ "://" authority [ ("/" / "?") path-and-query ]`.
    private static func isAbsolute(_ range: Range<Int>, in bytes: UnsafeRawBufferPointer) -> Bool {
        var offset = range.lowerBound
        guard isAlpha(bytes[offset]) else { return false }
        // Letters only, as llhttp (enough for http and https).
        while offset < range.upperBound, isAlpha(bytes[offset]) { offset += 1 }
        guard range.upperBound - offset >= 3, bytes.equals(offset..<(offset + 3), "://") else { return false }
        let authorityStart = offset + 3
        offset = authorityStart
        while offset < range.upperBound, bytes[offset] != UInt8(ascii: "/"), bytes[offset] != UInt8(ascii: "?") {
            offset += 1
        }
        guard isAuthority(authorityStart..<offset, in: bytes, requiresPort: false) else { return false }
        return isPathAndQuery(offset..<range.upperBound, in: bytes)
    }

    /// `host [":" port]`: unreserved, sub-delims, `%`, `[`, `]`, `:`; no userinfo.
    private static func isAuthority(
        _ range: Range<Int>,
        in bytes: UnsafeRawBufferPointer,
        requiresPort: Bool
    ) -> Bool {
        guard !range.isEmpty else { return false }
        var lastColon: Int?
        for offset in range {
            let byte = bytes[offset]
            switch byte {
            case UInt8(ascii: ":"): lastColon = offset
            case UInt8(ascii: "a")...UInt8(ascii: "z"), UInt8(ascii: "A")...UInt8(ascii: "Z"),
                UInt8(ascii: "0")...UInt8(ascii: "9"):
                break
            case UInt8(ascii: "-"), UInt8(ascii: "."), UInt8(ascii: "_"), UInt8(ascii: "~"), UInt8(ascii: "!"),
                UInt8(ascii: "$"), UInt8(ascii: "&"), UInt8(ascii: "'"), UInt8(ascii: "("), UInt8(ascii: ")"),
                UInt8(ascii: "*"), UInt8(ascii: "+"), UInt8(ascii: ","), UInt8(ascii: ";"), UInt8(ascii: "="),
                UInt8(ascii: "%"), UInt8(ascii: "["), UInt8(ascii: "]"):
                break
            default:
                return false
            }
        }
        guard requiresPort else { return true }
        guard let lastColon, lastColon > range.lowerBound, lastColon + 1 < range.upperBound else { return false }
        for offset in (lastColon + 1)..<range.upperBound {
            guard bytes[offset] >= UInt8(ascii: "0"), bytes[offset] <= UInt8(ascii: "9") else { return false }
        }
        return true
    }

    private static func isAlpha(_ byte: UInt8) -> Bool {
        (byte >= UInt8(ascii: "a") && byte <= UInt8(ascii: "z"))
            || (byte >= UInt8(ascii: "A") && byte <= UInt8(ascii: "Z"))
    }
}
