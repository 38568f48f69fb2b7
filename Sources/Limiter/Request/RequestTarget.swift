/// A request target reduced to the one form the gateway routes and the rules match.
///
/// ``RequestTargetNormalizer`` makes it from what the client sent (RFC 9112 §3.2): absolute-form
/// becomes origin-form, unreserved characters sent percent-encoded are decoded, dot segments are
/// resolved (RFC 3986 §5.2.4), repeated slashes merged, and characters that may not appear raw
/// are percent-encoded. The result is forwarded, so the gateway routes exactly what was limited.
public struct RequestTarget: Sendable, Hashable {
    /// The target to forward: ``path``, then `?` and the query when the client sent one.
    public var target: String
    /// The normalised path, percent-encoded as forwarded; `*` for an asterisk-form `OPTIONS`.
    public var path: Substring {
        target.utf8.firstIndex(of: UInt8(ascii: "?")).map { target[..<$0] } ?? target[...]
    }
    /// The path rules match: ``path``, except that with ``EncodedSeparators/keep`` the kept
    /// `%2F` and `%5C` are decoded here, as the gateway will decode them.
    public var matchPath: String?
    /// The authority of an absolute-form target (`host[:port]`), compared with `Host`.
    public var authority: Substring?
    /// The scheme of an absolute-form target, lower-cased.
    public var scheme: String?

    public init(target: String, matchPath: String? = nil, authority: Substring? = nil, scheme: String? = nil) {
        self.target = target
        self.matchPath = matchPath
        self.authority = authority
        self.scheme = scheme
    }

    /// The path rule patterns are matched against.
    public var pathForRules: Substring {
        matchPath.map { $0[...] } ?? path
    }
}

/// Why a request target is refused (answered 400).
public enum RequestTargetError: Error, Sendable, Hashable, CustomStringConvertible {
    /// A `#`: fragments are never sent in a request (RFC 9110 §7.1).
    case fragment
    /// `%2F` or `%5C` in the path, which the gateway would decode into a separator.
    case encodedSeparator
    /// `%00` anywhere in the target.
    case encodedNul
    /// A `%` not followed by two hexadecimal digits.
    case malformedPercentEncoding
    /// A raw byte no target may hold (control characters, space, backslash in the path).
    case invalidCharacter
    /// Neither origin-form, absolute-form with `http`/`https`, nor `*` for `OPTIONS`.
    case unsupportedForm
    /// An absolute-form target with user information or an empty host.
    case invalidAuthority

    public var description: String {
        switch self {
        case .fragment: "The request target has a fragment (#), which is never sent to a server."
        case .encodedSeparator: "The request path has an encoded slash or backslash (%2F or %5C)."
        case .encodedNul: "The request target has an encoded NUL (%00)."
        case .malformedPercentEncoding: "The request target has a % not followed by two hexadecimal digits."
        case .invalidCharacter: "The request target has a character that is not allowed there."
        case .unsupportedForm:
            "The request target must be a path starting with /, an http(s) URL, or * for OPTIONS."
        case .invalidAuthority: "The request target's URL has user information or no host."
        }
    }
}

/// What happens to `%2F` and `%5C` in a request path.
public enum EncodedSeparators: String, Sendable, Hashable, CaseIterable {
    /// Refused with 400 (the default): the gateway would decode them into a path separator.
    case reject
    /// Forwarded undecoded; rules match the path with them decoded, as the gateway sees it.
    case keep
}

/// Normalises request targets (see ``RequestTarget``); one per listener, used on any loop.
public struct RequestTargetNormalizer: Sendable, Hashable {
    /// What happens to `%2F` and `%5C` in a path (`SIDECAR_ENCODED_SLASHES`).
    public var encodedSeparators: EncodedSeparators

    public init(encodedSeparators: EncodedSeparators = .reject) {
        self.encodedSeparators = encodedSeparators
    }

    /// The normal form of `target`, as sent with `method`.
    ///
    /// `allowsAbsoluteForm` is `false` for HTTP/2's `:path`, which is origin-form or `*` only.
    /// Allocates nothing when the target is already in normal form.
    public func normalize(
        _ target: String,
        method: some StringProtocol,
        allowsAbsoluteForm: Bool = true
    ) throws(RequestTargetError) -> RequestTarget {
        var target = target
        if target.withUTF8({ Self.isAlreadyNormal($0) }) {
            return RequestTarget(target: target)
        }
        let result = target.withUTF8 { bytes -> Result<RequestTarget, RequestTargetError> in
            do throws(RequestTargetError) {
                return .success(try self.normalize(bytes, method: method, allowsAbsoluteForm: allowsAbsoluteForm))
            } catch {
                return .failure(error)
            }
        }
        return try result.get()
    }

    private func normalize(
        _ bytes: UnsafeBufferPointer<UInt8>,
        method: some StringProtocol,
        allowsAbsoluteForm: Bool
    ) throws(RequestTargetError) -> RequestTarget {
        guard let first = bytes.first else { throw .unsupportedForm }
        for byte in bytes {
            if byte == UInt8(ascii: "#") { throw .fragment }
            if byte <= 0x20 || byte == 0x7F { throw .invalidCharacter }
        }
        if bytes.count == 1 && first == UInt8(ascii: "*") {
            guard method == "OPTIONS" else { throw .unsupportedForm }
            return RequestTarget(target: "*")
        }
        var start = 0
        var authority: Substring?
        var scheme: String?
        if first != UInt8(ascii: "/") {
            guard allowsAbsoluteForm, let parsed = try Self.absoluteFormPrefix(bytes) else { throw .unsupportedForm }
            scheme = parsed.scheme
            authority = parsed.authority
            start = parsed.pathStart
        }
        let queryStart = bytes[start...].firstIndex(of: UInt8(ascii: "?")) ?? bytes.count
        var path: [UInt8] = []
        path.reserveCapacity(queryStart - start + 1)
        var keptSeparator = false
        var index = start
        while index < queryStart {
            let byte = bytes[index]
            if byte == UInt8(ascii: "%") {
                let value = try Self.percentDecoded(bytes, at: index)
                index += 3
                if value == 0 { throw .encodedNul }
                if value == UInt8(ascii: "/") || value == UInt8(ascii: "\\") {
                    guard encodedSeparators == .keep else { throw .encodedSeparator }
                    keptSeparator = true
                    Self.appendEncoded(value, to: &path)
                } else if Self.isUnreserved(value) {
                    path.append(value)
                } else {
                    Self.appendEncoded(value, to: &path)
                }
                continue
            }
            if byte == UInt8(ascii: "\\") { throw .invalidCharacter }
            if Self.isPathCharacter(byte) {
                path.append(byte)
            } else {
                Self.appendEncoded(byte, to: &path)
            }
            index += 1
        }
        if path.first != UInt8(ascii: "/") { path.insert(UInt8(ascii: "/"), at: 0) }
        path = Self.removingDotSegments(path)

        var result = path
        if queryStart < bytes.count {
            result.append(UInt8(ascii: "?"))
            var index = queryStart + 1
            while index < bytes.count {
                let byte = bytes[index]
                if byte == UInt8(ascii: "%") {
                    let value = try Self.percentDecoded(bytes, at: index)
                    if value == 0 { throw .encodedNul }
                    result.append(contentsOf: bytes[index..<(index + 3)])
                    index += 3
                    continue
                }
                if Self.isQueryCharacter(byte) {
                    result.append(byte)
                } else {
                    Self.appendEncoded(byte, to: &result)
                }
                index += 1
            }
        }
        var matchPath: String?
        if keptSeparator {
            matchPath = String(decoding: Self.removingDotSegments(Self.decodingSeparators(path)), as: UTF8.self)
        }
        return RequestTarget(
            target: String(decoding: result, as: UTF8.self),
            matchPath: matchPath,
            authority: authority,
            scheme: scheme
        )
    }

    /// Whether `bytes` is an origin-form target with nothing to change: no `%`, no `#`, no dot
    /// segment, no repeated slash, no backslash and only characters allowed raw.
    static func isAlreadyNormal(_ bytes: UnsafeBufferPointer<UInt8>) -> Bool {
        guard bytes.first == UInt8(ascii: "/") else { return false }
        var previous: UInt8 = 0
        var inQuery = false
        for byte in bytes {
            if inQuery {
                guard isQueryCharacter(byte), byte != UInt8(ascii: "%") else { return false }
                continue
            }
            switch byte {
            case UInt8(ascii: "?"):
                if previous == UInt8(ascii: ".") { return false }
                inQuery = true
            case UInt8(ascii: "/"):
                if previous == UInt8(ascii: "/") || previous == UInt8(ascii: ".") { return false }
            case UInt8(ascii: "."):
                if previous == UInt8(ascii: "/") { return false }
            case UInt8(ascii: "%"):
                return false
            default:
                guard isPathCharacter(byte) else { return false }
            }
            previous = byte
        }
        return inQuery || previous != UInt8(ascii: ".")
    }

    /// `http://authority` or `https://authority` at the start of `bytes`, and where the path begins.
    private static func absoluteFormPrefix(
        _ bytes: UnsafeBufferPointer<UInt8>
    ) throws(RequestTargetError) -> (scheme: String, authority: Substring, pathStart: Int)? {
        guard let colon = bytes.firstIndex(of: UInt8(ascii: ":")), colon > 0,
            bytes.count >= colon + 3, bytes[colon + 1] == UInt8(ascii: "/"), bytes[colon + 2] == UInt8(ascii: "/")
        else { return nil }
        let scheme = String(decoding: bytes[..<colon], as: UTF8.self).lowercased()
        guard scheme == "http" || scheme == "https" else { return nil }
        let authorityStart = colon + 3
        var authorityEnd = authorityStart
        while authorityEnd < bytes.count, bytes[authorityEnd] != UInt8(ascii: "/"),
            bytes[authorityEnd] != UInt8(ascii: "?")
        {
            authorityEnd += 1
        }
        let authorityBytes = bytes[authorityStart..<authorityEnd]
        guard !authorityBytes.isEmpty, !authorityBytes.contains(UInt8(ascii: "@")),
            authorityBytes.first != UInt8(ascii: ":")
        else { throw .invalidAuthority }
        return (scheme, Substring(String(decoding: authorityBytes, as: UTF8.self)), authorityEnd)
    }

    /// The byte a `%XX` at `index` stands for.
    private static func percentDecoded(
        _ bytes: UnsafeBufferPointer<UInt8>,
        at index: Int
    ) throws(RequestTargetError) -> UInt8 {
        guard index + 2 < bytes.count, let high = asciiHexValue(bytes[index + 1]),
            let low = asciiHexValue(bytes[index + 2])
        else {
            throw .malformedPercentEncoding
        }
        return high << 4 | low
    }

    private static func appendEncoded(_ byte: UInt8, to output: inout [UInt8]) {
        let digits: StaticString = "0123456789ABCDEF"
        output.append(UInt8(ascii: "%"))
        output.append(digits.utf8Start[Int(byte >> 4)])
        output.append(digits.utf8Start[Int(byte & 0x0F)])
    }

    /// RFC 3986 `unreserved`: letters, digits, `-`, `.`, `_`, `~`.
    public static func isUnreserved(_ byte: UInt8) -> Bool {
        switch byte {
        case UInt8(ascii: "a")...UInt8(ascii: "z"), UInt8(ascii: "A")...UInt8(ascii: "Z"),
            UInt8(ascii: "0")...UInt8(ascii: "9"), UInt8(ascii: "-"), UInt8(ascii: "."), UInt8(ascii: "_"),
            UInt8(ascii: "~"):
            true
        default: false
        }
    }

    /// What a path may hold raw: `pchar` and `/` (RFC 3986 §3.3).
    public static func isPathCharacter(_ byte: UInt8) -> Bool {
        if isUnreserved(byte) { return true }
        switch byte {
        case UInt8(ascii: "/"), UInt8(ascii: ":"), UInt8(ascii: "@"), UInt8(ascii: "!"), UInt8(ascii: "$"),
            UInt8(ascii: "&"), UInt8(ascii: "'"), UInt8(ascii: "("), UInt8(ascii: ")"), UInt8(ascii: "*"),
            UInt8(ascii: "+"), UInt8(ascii: ","), UInt8(ascii: ";"), UInt8(ascii: "="):
            return true
        default:
            return false
        }
    }

    /// What a query may hold raw: `pchar`, `/`, `?` and `%` (checked separately).
    static func isQueryCharacter(_ byte: UInt8) -> Bool {
        isPathCharacter(byte) || byte == UInt8(ascii: "?") || byte == UInt8(ascii: "%")
    }

    /// `path` with `%2F` and `%5C` decoded, as a gateway that decodes its path sees it.
    private static func decodingSeparators(_ path: [UInt8]) -> [UInt8] {
        var output: [UInt8] = []
        output.reserveCapacity(path.count)
        var index = 0
        while index < path.count {
            if path[index] == UInt8(ascii: "%"), index + 2 < path.count, path[index + 1] == UInt8(ascii: "2"),
                path[index + 2] == UInt8(ascii: "F")
            {
                output.append(UInt8(ascii: "/"))
                index += 3
            } else if path[index] == UInt8(ascii: "%"), index + 2 < path.count, path[index + 1] == UInt8(ascii: "5"),
                path[index + 2] == UInt8(ascii: "C")
            {
                output.append(UInt8(ascii: "\\"))
                index += 3
            } else {
                output.append(path[index])
                index += 1
            }
        }
        return output
    }

    /// RFC 3986 §5.2.4 on a path starting with `/`, with empty segments merged as nginx's
    /// `merge_slashes` does: `/a/./b/../c//d` is `/a/c/d`; `..` above the root stays at the root.
    static func removingDotSegments(_ path: [UInt8]) -> [UInt8] {
        // Segments between slashes; the path starts with "/".
        var segments: [ArraySlice<UInt8>] = []
        var trailingSlash = false
        var index = 1
        var segmentStart = 1
        while index <= path.count {
            if index == path.count || path[index] == UInt8(ascii: "/") {
                let segment = path[segmentStart..<index]
                let isLast = index == path.count
                if segment.elementsEqual([UInt8(ascii: ".")]) {
                    trailingSlash = isLast
                } else if segment.elementsEqual([UInt8(ascii: "."), UInt8(ascii: ".")]) {
                    if !segments.isEmpty { segments.removeLast() }
                    trailingSlash = isLast
                } else if segment.isEmpty {
                    // An empty segment: merged, but a path ending in "/" keeps its slash.
                    if isLast { trailingSlash = true }
                } else {
                    segments.append(segment)
                    trailingSlash = false
                }
                segmentStart = index + 1
            }
            index += 1
        }
        var output: [UInt8] = []
        output.reserveCapacity(path.count)
        for segment in segments {
            output.append(UInt8(ascii: "/"))
            output.append(contentsOf: segment)
        }
        if output.isEmpty || trailingSlash { output.append(UInt8(ascii: "/")) }
        return output
    }
}

/// The value of an ASCII hexadecimal digit, either case; `nil` for any other byte.
func asciiHexValue(_ byte: UInt8) -> UInt8? {
    switch byte {
    case UInt8(ascii: "0")...UInt8(ascii: "9"): byte - UInt8(ascii: "0")
    case UInt8(ascii: "a")...UInt8(ascii: "f"): byte - UInt8(ascii: "a") + 10
    case UInt8(ascii: "A")...UInt8(ascii: "F"): byte - UInt8(ascii: "A") + 10
    default: nil
    }
}
