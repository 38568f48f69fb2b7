import Crypto

/// SHA-1 in lower-case hex, through swift-crypto: the name Redis gives a script, and bucket hashes.
enum SHA1Hex {
    /// The hex digest of `bytes`, cut to its first `bytes` bytes when `prefix` is given.
    static func of(_ bytes: [UInt8], prefix: Int = Insecure.SHA1.byteCount) -> String {
        let digits: [UInt8] = Array("0123456789abcdef".utf8)
        var hex: [UInt8] = []
        hex.reserveCapacity(prefix * 2)
        for byte in Insecure.SHA1.hash(data: bytes).prefix(prefix) {
            hex.append(digits[Int(byte >> 4)])
            hex.append(digits[Int(byte & 0x0F)])
        }
        return String(decoding: hex, as: UTF8.self)
    }
}
