import JWTKit
import NIOCore
import Synchronization

#if canImport(FoundationEssentials)
import FoundationEssentials
#else
import Foundation
#endif

/// Verifies bearer tokens for `jwt:` keys with jwt-kit, remembering each token's outcome.
///
/// jwt-kit verifies asynchronously (its key collection is an actor), so a token seen for the first
/// time is verified off the event loop once; later requests with the same token find its claims
/// (or its refusal) in a cache, synchronously, until the token expires (at most 10 minutes; a
/// refusal for 1 minute). An unverifiable token counts as absent.
public final class JWTClaimVerifier: Sendable {
    /// What is known of a request's token.
    public enum Lookup: Sendable {
        /// No bearer token.
        case absent
        /// Verified before: its claims, or `nil` when it was refused.
        case known(JWTClaims?)
        /// Being verified; the claims (or `nil`) once done.
        case pending(EventLoopFuture<JWTClaims?>)
    }

    private struct Entry: Sendable {
        var claims: JWTClaims?
        var until: Double
    }

    private let keys: JWTKeyCollection
    private let cache = Mutex<[String: Entry]>([:])
    private let capacity: Int

    private init(keys: JWTKeyCollection, capacity: Int) {
        self.keys = keys
        self.capacity = capacity
    }

    /// A verifier for an HS256 secret and/or a PEM public key (ES256, ES384, RS256 or EdDSA).
    public static func make(
        hs256Secret: [UInt8]?,
        publicKeyPEM: String?,
        capacity: Int = 50_000
    ) async throws(JWTKeyError)
        -> JWTClaimVerifier
    {
        let keys = JWTKeyCollection()
        if let hs256Secret {
            guard !hs256Secret.isEmpty else { throw .emptySecret }
            await keys.add(hmac: HMACKey(from: hs256Secret), digestAlgorithm: .sha256, kid: "hs256")
        }
        if let publicKeyPEM {
            if let key = try? ES256PublicKey(pem: publicKeyPEM) {
                await keys.add(ecdsa: key, kid: "public")
            } else if let key = try? ES384PublicKey(pem: publicKeyPEM) {
                await keys.add(ecdsa: key, kid: "public")
            } else if let key = try? Insecure.RSA.PublicKey(pem: publicKeyPEM) {
                await keys.add(rsa: key, digestAlgorithm: .sha256, kid: "public")
            } else if let key = try? EdDSA.PublicKey(pem: publicKeyPEM) {
                await keys.add(eddsa: key, kid: "public")
            } else {
                throw .unsupportedPublicKey
            }
        }
        return JWTClaimVerifier(keys: keys, capacity: capacity)
    }

    /// The claims of the bearer token in `authorization` (an `Authorization` header value).
    public func lookup(authorization: String?, on eventLoop: any EventLoop) -> Lookup {
        guard let token = Self.bearerToken(authorization) else { return .absent }
        let now = Date().timeIntervalSince1970
        if let entry = cache.withLock({ $0[token] }), entry.until > now {
            return .known(entry.claims)
        }
        let promise = eventLoop.makePromise(of: JWTClaims?.self)
        let keys = self.keys
        Task {
            let claims = try? await keys.verify(token, as: JWTClaimsPayload.self, iteratingKeys: true).claims
            self.remember(token, claims: claims)
            promise.succeed(claims)
        }
        return .pending(promise.futureResult)
    }

    private func remember(_ token: String, claims: JWTClaims?) {
        let now = Date().timeIntervalSince1970
        let until = claims.map { min($0.expiresAt ?? .infinity, now + 600) } ?? now + 60
        cache.withLock { cache in
            if cache.count >= capacity {
                cache = cache.filter { $0.value.until > now }
                if cache.count >= capacity { cache.removeAll() }
            }
            cache[token] = Entry(claims: claims, until: until)
        }
    }

    /// The token of `Bearer <token>`, scheme case-insensitive; `nil` otherwise.
    static func bearerToken(_ authorization: String?) -> String? {
        guard let authorization else { return nil }
        let utf8 = authorization.utf8
        guard utf8.count > 7 else { return nil }
        let scheme = authorization.prefix(7)
        guard scheme.lowercased() == "bearer " else { return nil }
        let token = authorization.dropFirst(7).trimmingSpaces()
        return token.isEmpty ? nil : String(token)
    }
}

/// A key for `jwt:` rules that cannot be used.
public enum JWTKeyError: Error, Sendable, Equatable, CustomStringConvertible {
    case emptySecret
    case unsupportedPublicKey

    public var description: String {
        switch self {
        case .emptySecret: "the HS256 secret file is empty"
        case .unsupportedPublicKey: "expected a PEM public key of type EC P-256, EC P-384, RSA or Ed25519"
        }
    }
}
