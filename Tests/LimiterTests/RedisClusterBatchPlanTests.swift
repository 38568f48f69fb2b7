import Testing

@testable import Limiter

/// How a batch is split for a Redis Cluster, redirects read, and a split request decided again
/// as one: plain values, no Redis.
@Suite struct RedisClusterBatchPlanTests {
    let alice = RedisBucketKey.name(rule: "ip", clientKey: "alice")
    let aliceLogin = RedisBucketKey.name(rule: "login", clientKey: "alice")
    let bob = RedisBucketKey.name(rule: "ip", clientKey: "bob")
    let fleet = RedisBucketKey.name(rule: "fleet", clientKey: nil)

    @Test func oneGroupPerSlotAndAClientsBucketsInOnePart() {
        let plan = RedisClusterBatchPlan(keys: [[alice, fleet, aliceLogin], [bob], [fleet, bob]])
        let aliceSlot = RedisClusterSlot.of(alice)
        let bobSlot = RedisClusterSlot.of(bob)
        let fleetSlot = RedisClusterSlot.of(fleet)
        #expect(Set([aliceSlot, bobSlot, fleetSlot]).count == 3)
        #expect(
            plan.groups == [
                .init(slot: aliceSlot, parts: [.init(request: 0, positions: [0, 2])]),
                .init(slot: fleetSlot, parts: [.init(request: 0, positions: [1]), .init(request: 2, positions: [0])]),
                .init(slot: bobSlot, parts: [.init(request: 1, positions: [0]), .init(request: 2, positions: [1])]),
            ]
        )
        #expect(plan.partCounts == [2, 1, 2])
    }

    @Test func aPartsPlacementMapsBackToTheRequestsPositions() {
        let placement = GCRABatchAssembly.Placement(enforced: [0, 1], shadow: [2])
        #expect(placement.mapped(through: [4, 1, 7]) == .init(enforced: [4, 1], shadow: [7]))
    }

    @Test func redirectsAreReadWithTheirSlotAndNode() throws {
        let moved = RedisClusterRedirect(.server("MOVED 3999 10.0.0.2:6381"), replyingHost: "10.0.0.1")
        #expect(moved == .moved(slot: 3999, node: .init(host: "10.0.0.2", port: 6381)))
        let ask = RedisClusterRedirect(.server("ASK 12 :7002"), replyingHost: "10.0.0.1")
        #expect(ask == .ask(slot: 12, node: .init(host: "10.0.0.1", port: 7002)))
        let ipv6 = RedisClusterRedirect(.server("MOVED 1 fd00::2:6379"), replyingHost: "x")
        #expect(ipv6 == .moved(slot: 1, node: .init(host: "fd00::2", port: 6379)))
        #expect(
            RedisClusterRedirect(.server("TRYAGAIN Multiple keys request during rehashing of slot"), replyingHost: "x")
                == .tryAgain
        )
        for other in [
            RedisError.server("MOVED 16384 a:1"), .server("MOVED 1 a:0"), .server("MOVED x a:1"),
            .server("ERR unknown"), .timeout(.seconds(1)),
        ] {
            #expect(RedisClusterRedirect(other, replyingHost: "x") == nil, "\(other)")
        }
        #expect(RedisError.server("CLUSTERDOWN The cluster is down").isClusterDown)
        #expect(!RedisError.server("MOVED 1 a:1").isClusterDown)
    }

    private func part(
        allowed: Bool,
        limiting: Int?,
        remaining: Int,
        retryAfter: Int64,
        enforced: [Int],
        shadow: [GCRABatchAssembly.Outcome.ShadowSpend] = []
    ) -> GCRABatchAssembly.PartOutcome {
        GCRABatchAssembly.PartOutcome(
            outcome: .init(allowed: allowed, limitingPosition: limiting, shadow: shadow),
            enforced: enforced,
            result: GCRACheckResult(
                allowed: allowed,
                remaining: remaining,
                retryAfterMicroseconds: retryAfter,
                resetMicroseconds: retryAfter + 1,
                limitingSpend: 0
            )
        )
    }

    @Test func aSplitRequestPassesOnlyWhenEveryPartDoes() {
        let client = part(
            allowed: true,
            limiting: 0,
            remaining: 4,
            retryAfter: 0,
            enforced: [0],
            shadow: [.init(position: 2, spent: true)]
        )
        let fleet = part(allowed: true, limiting: 1, remaining: 2, retryAfter: 0, enforced: [1])
        // Allowed: the part with the fewest tokens left names the policy; every shadow counts.
        let allowed = GCRABatchAssembly.combine([client, fleet])
        #expect(allowed.outcome == .init(allowed: true, limitingPosition: 1, shadow: [.init(position: 2, spent: true)]))
        #expect(allowed.enforced == [0, 1])
        #expect(allowed.result.remaining == 2)

        // Denied by either part: the longest wait names the policy, and no shadow counts.
        let short = part(allowed: false, limiting: 1, remaining: 0, retryAfter: 100, enforced: [1])
        let long = part(allowed: false, limiting: 3, remaining: 0, retryAfter: 900, enforced: [3])
        let denied = GCRABatchAssembly.combine([client, short, long])
        #expect(denied.outcome == .init(allowed: false, limitingPosition: 3, shadow: []))
        #expect(denied.result.retryAfterMicroseconds == 900)
        #expect(denied.enforced == [0, 1, 3])
        #expect(GCRABatchAssembly.combine([client]) == client)
    }
}
