import Foundation
import JWTKit
import Limiter
import NIOCore
import NIOPosix
import Testing

/// Tokens signed here with jwt-kit, verified by the sidecar's verifier.
@Suite("JWTClaimVerifier")
struct JWTClaimVerifierTests {
    struct Payload: JWTPayload {
        var sub: String
        var tier: Int
        var exp: ExpirationClaim

        func verify(using algorithm: some JWTAlgorithm) async throws {}
    }

    static let secret = Array("an HS256 secret of enough length!".utf8)

    private func sign(_ payload: Payload, secret: [UInt8] = Self.secret) async throws -> String {
        let keys = JWTKeyCollection()
        await keys.add(hmac: HMACKey(from: secret), digestAlgorithm: .sha256)
        return try await keys.sign(payload)
    }

    private func claims(_ lookup: JWTClaimVerifier.Lookup) async throws -> JWTClaims?? {
        switch lookup {
        case .absent: return .none
        case .known(let claims): return .some(claims)
        case .pending(let future): return .some(try await future.get())
        }
    }

    @Test func verifiesThenRemembersAToken() async throws {
        let verifier = try await JWTClaimVerifier.make(hs256Secret: Self.secret, publicKeyPEM: nil)
        let loop = MultiThreadedEventLoopGroup.singleton.next()
        let token = try await sign(Payload(sub: "alice", tier: 2, exp: .init(value: Date().addingTimeInterval(300))))
        let first = verifier.lookup(authorization: "Bearer \(token)", on: loop)
        guard case .pending = first else {
            Issue.record("a new token is verified asynchronously, got \(first)")
            return
        }
        let verified = try await claims(first)
        #expect(verified??.values["sub"] == "alice")
        #expect(verified??.values["tier"] == "2")
        guard case .known(let cached) = verifier.lookup(authorization: "bearer \(token)", on: loop) else {
            Issue.record("a verified token is remembered")
            return
        }
        #expect(cached?.values["sub"] == "alice")
    }

    @Test func refusesForgedAndExpiredTokens() async throws {
        let verifier = try await JWTClaimVerifier.make(hs256Secret: Self.secret, publicKeyPEM: nil)
        let loop = MultiThreadedEventLoopGroup.singleton.next()
        let forged = try await sign(
            Payload(sub: "mallory", tier: 9, exp: .init(value: Date().addingTimeInterval(300))),
            secret: Array("another secret entirely, not ours".utf8)
        )
        #expect(try await claims(verifier.lookup(authorization: "Bearer \(forged)", on: loop)) == .some(nil))
        let expired = try await sign(Payload(sub: "bob", tier: 1, exp: .init(value: Date().addingTimeInterval(-5))))
        #expect(try await claims(verifier.lookup(authorization: "Bearer \(expired)", on: loop)) == .some(nil))
        #expect(try await claims(verifier.lookup(authorization: "Bearer not.a.jwt", on: loop)) == .some(nil))
    }

    @Test func onlyBearerTokensCount() async throws {
        let verifier = try await JWTClaimVerifier.make(hs256Secret: Self.secret, publicKeyPEM: nil)
        let loop = MultiThreadedEventLoopGroup.singleton.next()
        for header in [nil, "Basic dXNlcjpwYXNz", "Bearer ", "Bearer"] {
            guard case .absent = verifier.lookup(authorization: header, on: loop) else {
                Issue.record("\(header ?? "nil") is not a bearer token")
                continue
            }
        }
    }

    @Test func refusesKeysItCannotUse() async throws {
        await #expect(throws: JWTKeyError.emptySecret) {
            _ = try await JWTClaimVerifier.make(hs256Secret: [], publicKeyPEM: nil)
        }
        await #expect(throws: JWTKeyError.unsupportedPublicKey) {
            _ = try await JWTClaimVerifier.make(hs256Secret: nil, publicKeyPEM: "-----BEGIN NONSENSE-----")
        }
    }
}
