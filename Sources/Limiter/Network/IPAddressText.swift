/// IP literal text as bytes, for callers that need the family of a literal as written (listen addresses).
///
/// Parsing is ``IPAddress``'s; this keeps IPv4-mapped IPv6 as 16 bytes rather than folding it.
public enum IPAddressText {
    /// The 4 (IPv4) or 16 (IPv6) bytes of an address such as `10.0.0.1`, `::1` or `::ffff:10.0.0.1`; `nil` if malformed.
    public static func bytes(parsing text: Substring) -> [UInt8]? {
        guard let (family, bits) = IPAddress.parseBits(text) else { return nil }
        let count = family == .ipv4 ? 4 : 16
        return (0..<count).map { UInt8(truncatingIfNeeded: bits >> UInt128(8 * (count - 1 - $0))) }
    }
}
