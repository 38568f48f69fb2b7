import JWTKit

#if canImport(FoundationEssentials)
import FoundationEssentials
#else
import Foundation
#endif

/// The top-level claims of a verified token that can be keys: strings, numbers and booleans, as text.
public struct JWTClaims: Sendable, Hashable {
    /// Claim name to its value as text (`42`, `true`, `alice`).
    public var values: [String: String]
    /// `exp`, in seconds since 1970, when present.
    public var expiresAt: Double?

    public init(values: [String: String], expiresAt: Double? = nil) {
        self.values = values
        self.expiresAt = expiresAt
    }
}

/// Decodes any payload into ``JWTClaims`` and checks `exp` and `nbf`.
struct JWTClaimsPayload: JWTPayload {
    var claims: JWTClaims
    var notBefore: Double?

    private struct Name: CodingKey {
        var stringValue: String
        var intValue: Int? { nil }
        init(stringValue: String) { self.stringValue = stringValue }
        init?(intValue: Int) { nil }
    }

    init(from decoder: any Decoder) throws {
        let container = try decoder.container(keyedBy: Name.self)
        var values: [String: String] = [:]
        var expiresAt: Double?
        var notBefore: Double?
        for name in container.allKeys {
            if let text = try? container.decode(String.self, forKey: name) {
                values[name.stringValue] = text
            } else if let integer = try? container.decode(Int64.self, forKey: name) {
                values[name.stringValue] = String(integer)
                if name.stringValue == "exp" { expiresAt = Double(integer) }
                if name.stringValue == "nbf" { notBefore = Double(integer) }
            } else if let number = try? container.decode(Double.self, forKey: name) {
                values[name.stringValue] = String(number)
                if name.stringValue == "exp" { expiresAt = number }
                if name.stringValue == "nbf" { notBefore = number }
            } else if let flag = try? container.decode(Bool.self, forKey: name) {
                values[name.stringValue] = flag ? "true" : "false"
            }
        }
        self.claims = JWTClaims(values: values, expiresAt: expiresAt)
        self.notBefore = notBefore
    }

    func encode(to encoder: any Encoder) throws {
        var container = encoder.container(keyedBy: Name.self)
        for (name, value) in claims.values { try container.encode(value, forKey: Name(stringValue: name)) }
    }

    func verify(using algorithm: some JWTAlgorithm) async throws {
        let now = Date().timeIntervalSince1970
        if let expiresAt = claims.expiresAt, expiresAt <= now { throw JWTClaimsError.expired }
        if let notBefore, notBefore > now { throw JWTClaimsError.notYetValid }
    }
}

/// Why verified claims were refused.
enum JWTClaimsError: Error {
    case expired, notYetValid
}
