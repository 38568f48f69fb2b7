import Foundation
import JWTKit
import NIOCore
import NIOPosix
import Testing

@testable import Limiter

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

    // MARK: Bounds

    /// Forged tokens of the same shape as a real one: distinct, each refused.
    private func forgedTokens(_ count: Int, padding: Int = 0) async throws -> [String] {
        let keys = JWTKeyCollection()
        await keys.add(hmac: HMACKey(from: Array("not the gateway's secret, at all!".utf8)), digestAlgorithm: .sha256)
        var tokens: [String] = []
        let filler = String(repeating: "x", count: padding)
        for index in 0..<count {
            tokens.append(
                try await keys.sign(
                    Payload(
                        sub: "mallory-\(index)\(filler)",
                        tier: 0,
                        exp: .init(value: Date().addingTimeInterval(300))
                    )
                )
            )
        }
        return tokens
    }

    @Test func manyForgedTokensKeepTheRefusalCacheWithinItsBound() async throws {
        let verifier = try await JWTClaimVerifier.make(
            hs256Secret: Self.secret,
            publicKeyPEM: nil,
            limits: .init(maximumRefusals: 100)
        )
        let loop = MultiThreadedEventLoopGroup.singleton.next()
        for token in try await forgedTokens(1_000, padding: 4_000) {
            #expect(try await claims(verifier.lookup(authorization: "Bearer \(token)", on: loop)) == .some(nil))
            #expect(verifier.statistics.refusalCount <= 100)
        }
        let statistics = verifier.statistics
        #expect(statistics.refusalCount > 0 && statistics.claimCount == 0 && statistics.verifying == 0)
        #expect(statistics.verificationsStarted == 1_000)
    }

    @Test func claimsStayWithinTheirByteBudget() async throws {
        let budget = 4_096
        let verifier = try await JWTClaimVerifier.make(
            hs256Secret: Self.secret,
            publicKeyPEM: nil,
            limits: .init(maximumClaimBytes: budget)
        )
        let loop = MultiThreadedEventLoopGroup.singleton.next()
        for index in 0..<300 {
            let token = try await sign(
                Payload(sub: "user-\(index)", tier: index, exp: .init(value: Date().addingTimeInterval(300)))
            )
            #expect(
                try await claims(verifier.lookup(authorization: "Bearer \(token)", on: loop))??.values["sub"]
                    == "user-\(index)"
            )
            #expect(verifier.statistics.claimBytes <= budget)
        }
        #expect(verifier.statistics.claimCount > 10)
    }

    @Test func aValidTokensClaimsSurviveAFloodOfRefusals() async throws {
        let verifier = try await JWTClaimVerifier.make(
            hs256Secret: Self.secret,
            publicKeyPEM: nil,
            limits: .init(maximumRefusals: 50)
        )
        let loop = MultiThreadedEventLoopGroup.singleton.next()
        let alice = try await sign(Payload(sub: "alice", tier: 1, exp: .init(value: Date().addingTimeInterval(300))))
        #expect(
            try await claims(verifier.lookup(authorization: "Bearer \(alice)", on: loop))??.values["sub"] == "alice"
        )
        for token in try await forgedTokens(500) {
            _ = try await claims(verifier.lookup(authorization: "Bearer \(token)", on: loop))
        }
        guard case .known(let cached) = verifier.lookup(authorization: "Bearer \(alice)", on: loop) else {
            Issue.record("alice's claims were pushed out by refusals")
            return
        }
        #expect(cached?.values["sub"] == "alice")
        #expect(verifier.statistics.verificationsStarted == 501)
    }

    @Test func anOverLongTokenIsAbsentWithoutAVerification() async throws {
        let verifier = try await JWTClaimVerifier.make(hs256Secret: Self.secret, publicKeyPEM: nil)
        let loop = MultiThreadedEventLoopGroup.singleton.next()
        // Validly signed, but longer than 8 KiB.
        let long = try await sign(
            Payload(
                sub: String(repeating: "a", count: 9_000),
                tier: 1,
                exp: .init(value: Date().addingTimeInterval(300))
            )
        )
        #expect(long.utf8.count > 8 * 1024)
        guard case .absent = verifier.lookup(authorization: "Bearer \(long)", on: loop) else {
            Issue.record("a token over the length limit is absent")
            return
        }
        #expect(verifier.statistics.verificationsStarted == 0)
        // Just under the limit is verified.
        let fits = try await sign(
            Payload(
                sub: String(repeating: "a", count: 5_000),
                tier: 1,
                exp: .init(value: Date().addingTimeInterval(300))
            )
        )
        #expect(
            try await claims(verifier.lookup(authorization: "Bearer \(fits)", on: loop))??.values["sub"]?.count == 5_000
        )
    }

    /// Holds verifications until opened.
    actor Gate {
        private var isOpen = false
        private var waiters: [CheckedContinuation<Void, Never>] = []
        private(set) var arrived = 0

        func wait() async {
            arrived += 1
            if isOpen { return }
            await withCheckedContinuation { waiters.append($0) }
        }

        func open() {
            isOpen = true
            for waiter in waiters { waiter.resume() }
            waiters = []
        }
    }

    @Test func verificationsBeyondTheBoundCountAsAbsent() async throws {
        let gate = Gate()
        let verifier = JWTClaimVerifier(limits: .init(maximumConcurrentVerifications: 4)) { token in
            await gate.wait()
            return token == "alice" ? JWTClaims(values: ["sub": "alice"]) : nil
        }
        let loop = MultiThreadedEventLoopGroup.singleton.next()
        var pending: [EventLoopFuture<JWTClaims?>] = []
        var absent = 0
        for index in 0..<10 {
            switch verifier.lookup(authorization: "Bearer forged-\(index)", on: loop) {
            case .pending(let future): pending.append(future)
            case .absent: absent += 1
            case .known: Issue.record("nothing is known yet")
            }
        }
        // Four run (and hold a task each); the other six count as absent, unverified.
        #expect(pending.count == 4 && absent == 6)
        #expect(verifier.statistics.verifying == 4 && verifier.statistics.verificationsStarted == 4)
        guard case .absent = verifier.lookup(authorization: "Bearer alice", on: loop) else {
            Issue.record("a new token beyond the bound is absent")
            return
        }
        await gate.open()
        for future in pending { #expect(try await future.get() == nil) }
        #expect(verifier.statistics.verifying == 0)
        // With the verifications done, a new token is verified again.
        #expect(try await claims(verifier.lookup(authorization: "Bearer alice", on: loop))??.values["sub"] == "alice")
        #expect(verifier.statistics.verificationsStarted == 5)
    }

    @Test func theSameTokenArrivingTwiceIsVerifiedOnce() async throws {
        let verifier = try await JWTClaimVerifier.make(hs256Secret: Self.secret, publicKeyPEM: nil)
        let loop = MultiThreadedEventLoopGroup.singleton.next()
        let alice = try await sign(Payload(sub: "alice", tier: 1, exp: .init(value: Date().addingTimeInterval(300))))
        let (first, second) = try await loop.submit {
            (
                verifier.lookup(authorization: "Bearer \(alice)", on: loop),
                verifier.lookup(authorization: "Bearer \(alice)", on: loop)
            )
        }.get()
        #expect(try await claims(first)??.values["sub"] == "alice")
        #expect(try await claims(second)??.values["sub"] == "alice")
        #expect(verifier.statistics.verificationsStarted == 1)
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
