import Foundation
import NIOCore

/// A `host[:port]` authority: an IP literal (IPv6 in brackets) or a DNS name, and a port.
struct HostAndPort: Sendable, Hashable {
    /// The host as written, IPv6 without its brackets; empty for `:port`.
    var host: String
    /// The port; `nil` when none is written and there is no default.
    var port: Int?

    /// Parses `host:port`, `[v6]:port`, `:port` or `host` (with `defaultPort`); `nil` when malformed.
    init?(parsing text: some StringProtocol, defaultPort: Int?) {
        guard let components = URLComponents(validating: "//" + text), components.percentEncodedUser == nil,
            components.percentEncodedPassword == nil, components.percentEncodedPath.isEmpty,
            components.percentEncodedQuery == nil, components.percentEncodedFragment == nil
        else { return nil }
        self.init(authorityOf: components, defaultPort: defaultPort)
    }

    /// The host and port of a URL that Foundation's `URLComponents` has split; `nil` unless the
    /// host is an IP literal (checked by NIO's parser) or a DNS name, which a URL's looser
    /// "registered name" does not require. An empty port is the default one, as RFC 3986 has it.
    init?(authorityOf components: URLComponents, defaultPort: Int?) {
        guard let written = components.encodedHost, let host = Self.validatedHost(written) else {
            return nil
        }
        self.host = host
        self.port = components.port ?? defaultPort
    }

    /// `host` without IPv6 brackets, if it is an IP literal or a DNS name (or empty).
    private static func validatedHost(_ host: String) -> String? {
        if host.hasPrefix("[") {
            guard host.hasSuffix("]") else { return nil }
            let literal = String(host.dropFirst().dropLast())
            guard case .v6 = try? SocketAddress(ipAddress: literal, port: 0) else { return nil }
            return literal
        }
        if host.allSatisfy({ $0 == "." || ($0.isASCII && $0.isNumber) }), !host.isEmpty {
            guard case .v4 = try? SocketAddress(ipAddress: host, port: 0) else { return nil }
            return host
        }
        return host.isEmpty || isDNSName(host) ? host : nil
    }

    /// Letters, digits, `-` and `_` in dot-separated labels of 1 to 63 characters, 253 at most in all.
    private static func isDNSName(_ text: String) -> Bool {
        guard text.count <= 253 else { return false }
        return text.split(separator: ".", omittingEmptySubsequences: false).allSatisfy { label in
            !label.isEmpty && label.count <= 63 && label.first != "-" && label.last != "-"
                && label.allSatisfy { $0.isASCII && ($0.isLetter || $0.isNumber || $0 == "-" || $0 == "_") }
        }
    }
}

extension URLComponents {
    /// The parts of `text`, or `nil` if it is not a URL as RFC 3986 has it: Foundation's
    /// `URLComponents(string:)` would escape a stray `%` or space instead of refusing it.
    init?(validating text: String) {
        guard let url = URL(string: text, encodingInvalidCharacters: false) else { return nil }
        self.init(url: url, resolvingAgainstBaseURL: false)
    }
}
