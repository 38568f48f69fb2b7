import Crypto
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
/// refusal for 1 minute). An unverifiable token counts as absent: a rule keyed on it counts the
/// request under its client address.
///
/// Nothing a client sends grows memory without bound (see ``Limits``): tokens are remembered by
/// their SHA-256 digest, never their text; verified claims are kept within a byte budget, refusals
/// in a separate, smaller cache, so a flood of forged tokens never pushes out valid claims; at most
/// a fixed number of verifications run at once, and a new token beyond that, or one longer than the
/// length limit, counts as absent for that request without being verified.
public final class JWTClaimVerifier: Sendable {
    /// What is known of a request's token.
    public enum Lookup: Sendable {
        /// No bearer token, or one not verified for this request: longer than
        /// ``Limits/maximumTokenBytes``, or new while ``Limits/maximumConcurrentVerifications`` run.
        case absent
        /// Verified before: its claims, or `nil` when it was refused.
        case known(JWTClaims?)
        /// Being verified; the claims (or `nil`) once done.
        case pending(EventLoopFuture<JWTClaims?>)
    }

    /// The bounds on what the verifier holds and does at once.
    public struct Limits: Sendable, Hashable {
        /// The longest token verified, in bytes (8 KiB); a longer one counts as absent. Identity
        /// providers issue tokens of 1 to 2 KiB; nginx's default header buffer is 8 KiB.
        public var maximumTokenBytes: Int
        /// What the claims cache may hold, in bytes as estimated from each entry's digest, claim
        /// names and values and a fixed overhead (16 MiB: some 40,000 typical tokens).
        public var maximumClaimBytes: Int
        /// Refused tokens remembered (10,000), each costing a digest and an expiry time.
        public var maximumRefusals: Int
        /// Verifications running at once (64); each runs in its own task.
        public var maximumConcurrentVerifications: Int

        public init(
            maximumTokenBytes: Int = 8 * 1024,
            maximumClaimBytes: Int = 16 << 20,
            maximumRefusals: Int = 10_000,
            maximumConcurrentVerifications: Int = 64
        ) {
            self.maximumTokenBytes = maximumTokenBytes
            self.maximumClaimBytes = maximumClaimBytes
            self.maximumRefusals = maximumRefusals
            self.maximumConcurrentVerifications = maximumConcurrentVerifications
        }
    }

    private struct State: Sendable {
        var claims: TokenCache<JWTClaims>
        var refusals: TokenCache<Bool>
        var verifying: [SHA256Digest: EventLoopFuture<JWTClaims?>] = [:]
        var verificationsStarted = 0
    }

    /// What ``lookup(authorization:on:)`` does next, decided under the lock.
    private enum Step {
        case known(JWTClaims?)
        case join(EventLoopFuture<JWTClaims?>)
        case verify(EventLoopPromise<JWTClaims?>)
        case busy
    }

    private let verify: @Sendable (String) async -> JWTClaims?
    private let limits: Limits
    private let state: Mutex<State>

    /// A verifier whose verification is `verify` (the claims of a token, or `nil` when refused).
    init(limits: Limits, verify: @escaping @Sendable (String) async -> JWTClaims?) {
        self.verify = verify
        self.limits = limits
        self.state = Mutex(
            State(
                claims: TokenCache(budget: limits.maximumClaimBytes),
                refusals: TokenCache(budget: limits.maximumRefusals)
            )
        )
    }

    /// A verifier for an HS256 secret and/or a PEM public key (ES256, ES384, RS256 or EdDSA).
    public static func make(
        hs256Secret: [UInt8]?,
        publicKeyPEM: String?,
        limits: Limits = Limits()
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
        return JWTClaimVerifier(limits: limits) { token in
            try? await keys.verify(token, as: JWTClaimsPayload.self, iteratingKeys: true).claims
        }
    }

    /// The claims of the bearer token in `authorization` (an `Authorization` header value).
    public func lookup(authorization: String?, on eventLoop: any EventLoop) -> Lookup {
        guard let token = Self.bearerToken(authorization), token.utf8.count <= limits.maximumTokenBytes else {
            return .absent
        }
        let digest = Self.digest(of: token)
        let now = Date().timeIntervalSince1970
        let step = state.withLock { state -> Step in
            if let claims = state.claims.value(for: digest, now: now) { return .known(claims) }
            if state.refusals.value(for: digest, now: now) != nil { return .known(nil) }
            if let verification = state.verifying[digest] { return .join(verification) }
            guard state.verifying.count < limits.maximumConcurrentVerifications else { return .busy }
            let promise = eventLoop.makePromise(of: JWTClaims?.self)
            state.verifying[digest] = promise.futureResult
            state.verificationsStarted += 1
            return .verify(promise)
        }
        switch step {
        case .known(let claims):
            return .known(claims)
        case .busy:
            return .absent
        case .join(let verification):
            return .pending(verification.hop(to: eventLoop))
        case .verify(let promise):
            Task {
                let claims = await self.verify(token)
                self.remember(digest, claims: claims)
                promise.succeed(claims)
            }
            return .pending(promise.futureResult)
        }
    }

    /// What the caches hold and how many verifications ran, for tests.
    var statistics: (claimCount: Int, claimBytes: Int, refusalCount: Int, verifying: Int, verificationsStarted: Int) {
        state.withLock { state in
            (
                state.claims.count, state.claims.cost, state.refusals.count, state.verifying.count,
                state.verificationsStarted
            )
        }
    }

    private func remember(_ digest: SHA256Digest, claims: JWTClaims?) {
        let now = Date().timeIntervalSince1970
        state.withLock { state in
            state.verifying[digest] = nil
            if let claims {
                let until = min(claims.expiresAt ?? .infinity, now + 600)
                state.claims.insert(claims, for: digest, until: until, cost: Self.estimatedBytes(of: claims))
            } else {
                state.refusals.insert(true, for: digest, until: now + 60, cost: 1)
            }
        }
    }

    /// The SHA-256 digest of a token's bytes: what the caches are keyed by.
    static func digest(of token: String) -> SHA256Digest {
        var token = token
        var hasher = SHA256()
        token.withUTF8 { hasher.update(bufferPointer: UnsafeRawBufferPointer($0)) }
        return hasher.finalize()
    }

    /// An estimate of the memory one cache entry holds: the digest, the expiry, dictionary and
    /// string overheads, and the text of every claim.
    static func estimatedBytes(of claims: JWTClaims) -> Int {
        claims.values.reduce(96) { total, claim in total + 48 + claim.key.utf8.count + claim.value.utf8.count }
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
