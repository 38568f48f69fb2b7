import Foundation
import Limiter
import Logging
import NIOCore
import NIOPosix
import Synchronization
import TestSupport
import Testing

/// The limiter on a real Redis Cluster: three masters made by `redis-cli --cluster create`.
@Suite(
    "Redis Cluster",
    .serialized,
    .enabled(if: RedisServerProcess.isAvailable, "redis-server is not installed: apt-get install -y redis-server")
)
struct RedisClusterTests {
    /// A limiter using `cluster` (one seed: any node will do), its group and its metrics.
    final class Replica: Sendable {
        let group: MultiThreadedEventLoopGroup
        let limiter: RedisRateLimiter
        let metrics = RecordingMetrics()

        init(_ cluster: RedisClusterProcess, rules: [RateLimitRule], loops: Int = 1, seed: Int = 0) {
            group = MultiThreadedEventLoopGroup(numberOfThreads: loops)
            limiter = RedisRateLimiter(
                rules: rules,
                configuration: .init(
                    redis: .init(host: "unused.invalid", port: 1),
                    timeout: .milliseconds(500),
                    metricsFactory: metrics,
                    cluster: RedisCluster(seeds: [
                        .init(host: "127.0.0.1", port: cluster.servers[seed].port, connectTimeout: .seconds(1))
                    ])
                ),
                failureMode: .closed,
                group: group,
                logger: Logger(label: "test.cluster")
            )
        }

        /// Checks every request together on loop `index` (one batch) and waits for the decisions;
        /// `redis` is whether Redis decided (not the failure mode or the deny cache).
        func decide(
            _ requests: [TestRequest],
            loop index: Int = 0
        ) async throws -> [(
            redis: Bool, verdict: RateLimitDecision.Verdict, rule: String?
        )] {
            let limiter = self.limiter
            let loops = Array(group.makeIterator())
            let loop = loops[index % loops.count]
            let checks = try await loop.submit { requests.map { limiter.check($0, on: loop) } }.get()
            var outcomes: [(Bool, RateLimitDecision.Verdict, String?)] = []
            for check in checks {
                switch check {
                case .unlimited: outcomes.append((false, .allowed, nil))
                case .decided(let decision): outcomes.append((false, decision.verdict, decision.policy?.rule))
                case .pending(let future):
                    let decision = try await future.get()
                    outcomes.append((true, decision.verdict, decision.policy?.rule))
                }
            }
            return outcomes
        }

        /// Waits until Redis decides for every one of `requests` (every master connected) on every loop.
        func waitUntilEveryMasterDecides(_ requests: [TestRequest]) async throws {
            let deadline = ContinuousClock.now + .seconds(15)
            for loop in 0..<Array(group.makeIterator()).count {
                while try await !decide(requests, loop: loop).allSatisfy(\.redis) {
                    guard ContinuousClock.now < deadline else {
                        Issue.record("the limiter did not reach every master")
                        return
                    }
                    try await Task.sleep(for: .milliseconds(50))
                }
            }
        }

        func close() async throws {
            await limiter.shutdown()
            try await group.shutdownGracefully()
        }
    }

    /// The kinds of `sidecar_redis_errors_total`, for messages.
    enum RedisLimiterErrorKinds {
        static let all = ["timeout", "connection", "reply", "script", "damaged_bucket", "failover", "cluster_down"]
    }

    /// Verdicts counted from concurrent tasks.
    final class Tally: Sendable {
        private let state = Mutex((allowed: [String: Int](), unavailable: 0, total: 0))

        func add(_ user: String, _ verdict: RateLimitDecision.Verdict) {
            state.withLock { state in
                state.total += 1
                if verdict == .allowed { state.allowed[user, default: 0] += 1 }
                if verdict == .unavailable { state.unavailable += 1 }
            }
        }

        var allowed: [String: Int] { state.withLock { $0.allowed } }
        var unavailable: Int { state.withLock { $0.unavailable } }
        var total: Int { state.withLock { $0.total } }
    }

    /// Set once, by another task.
    final class Flag: Sendable {
        private let value = Atomic(false)
        func set() { value.store(true, ordering: .releasing) }
        var isSet: Bool { value.load(ordering: .acquiring) }
    }

    /// A rule that never limits, matched only by ``warmRequests``: checks that wait for every
    /// master's connection without spending a test rule's tokens.
    static func warmRule() throws -> RateLimitRule {
        try RuleParser.parse(name: "warm", "1000000/s by header:x-warm on GET /warm")
    }

    /// 30 clients of ``warmRule()``, whose buckets spread over every master.
    static let warmRequests = (0..<30).map { TestRequest(method: "GET", path: "/warm", headers: ["x-warm": "w\($0)"]) }

    static func request(_ user: String) -> TestRequest {
        TestRequest(method: "GET", path: "/api", headers: ["x-user": user])
    }

    /// The name of `user`'s bucket of the rule `rule` (keyed by `header:x-user`).
    static func bucket(of user: String, rule: String = "api") -> String {
        RedisBucketKey.name(
            rule: rule,
            clientKey: RuleMatcher.clientKey(RateLimitKey(alternatives: [[.header("x-user")]]), of: request(user))
        )
    }

    /// The masters (by port) the `api` buckets of `users` live on.
    static func masters(of users: [String], in cluster: RedisClusterProcess) async throws -> Set<Int> {
        let connection = try await cluster.servers[0].connect()
        defer { _ = connection.close() }
        let map = try RedisClusterSlotMap(
            clusterSlots: try await connection.send("CLUSTER", "SLOTS").get(),
            askedHost: "127.0.0.1"
        )
        return Set(
            users.compactMap { user in
                map.node(forSlot: RedisClusterSlot.of(Self.bucket(of: user)))?.port
            }
        )
    }

    @Test func perClientLimitsAreExactOnEveryMasterAndAcrossThreeReplicas() async throws {
        let cluster = try await RedisClusterProcess.start(masters: 3)
        defer { cluster.stop() }
        let rules = [
            try RuleParser.parse(name: "api", "10/h burst 10 by header:x-user on GET /api"),
            try Self.warmRule(),
        ]
        let replicas = (0..<3).map { Replica(cluster, rules: rules, loops: $0 == 0 ? 2 : 1, seed: $0) }
        let warm = Self.warmRequests
        for replica in replicas { try await replica.waitUntilEveryMasterDecides(warm) }

        let users = (0..<60).map { "user-\($0)" }
        #expect(try await Self.masters(of: users, in: cluster).count == 3, "the users' buckets span every master")
        // Five rounds; in each, the three replicas send every user's request at once: 15 each.
        let tally = Tally()
        for round in 0..<5 {
            try await withThrowingTaskGroup(of: Void.self) { tasks in
                for (index, replica) in replicas.enumerated() {
                    tasks.addTask {
                        let outcomes = try await replica.decide(users.map(Self.request), loop: round + index)
                        for (user, outcome) in zip(users, outcomes) { tally.add(user, outcome.verdict) }
                    }
                }
                try await tasks.waitForAll()
            }
        }
        #expect(tally.unavailable == 0)
        let counts = tally.allowed
        #expect(users.allSatisfy { counts[$0] == 10 }, "allowed per user: \(counts.values.sorted())")
        // Every master was reached by every replica's loops.
        for replica in replicas {
            let up = replica.metrics.gauges("sidecar_redis_up")
            #expect(up.count == 3 && up.values.allSatisfy { $0 == 1 }, "\(up)")
        }
        for replica in replicas { try await replica.close() }
    }

    @Test func aRequestSpanningSlotsIsDecidedByEachPartAndLimitedByEither() async throws {
        let cluster = try await RedisClusterProcess.start(masters: 3)
        defer { cluster.stop() }
        let rules = [
            try RuleParser.parse(name: "user", "3/h burst 3 by header:x-user on GET /api"),
            try RuleParser.parse(name: "fleet", "5/h burst 5 on GET /api"),
            try Self.warmRule(),
        ]
        let replica = Replica(cluster, rules: rules)
        try await replica.waitUntilEveryMasterDecides(
            Self.warmRequests
        )
        // The client's bucket and the fleet's live on different slots: two parts per request.
        #expect(
            RedisClusterSlot.of(Self.bucket(of: "alice", rule: "user"))
                != RedisClusterSlot.of(RedisBucketKey.name(rule: "fleet", clientKey: nil))
        )
        var outcomes: [(Bool, RateLimitDecision.Verdict, String?)] = []
        for user in ["alice", "alice", "alice", "alice", "bob", "bob"] {
            let outcome = try await replica.decide([Self.request(user)])[0]
            outcomes.append((outcome.redis, outcome.verdict, outcome.rule))
        }
        #expect(outcomes.map(\.0) == [true, true, true, true, true, true])
        let errors = RedisLimiterErrorKinds.all.map {
            ($0, replica.metrics.counter("sidecar_redis_errors_total", [("kind", $0)]))
        }
        #expect(
            outcomes.map(\.1) == [.allowed, .allowed, .allowed, .limited, .allowed, .limited],
            "Redis errors by kind: \(errors.filter { $0.1 > 0 })"
        )
        // Alice's fourth is denied by her own bucket; the fleet's part had room and was charged
        // (documented: a part that spent keeps its spend), so Bob's second finds the fleet empty.
        #expect(outcomes[3].2 == "user")
        #expect(outcomes[5].2 == "fleet")
        try await replica.close()
    }

    @Test func reshardingUnderLoadFailsNoRequestAndKeepsLimitsExact() async throws {
        let cluster = try await RedisClusterProcess.start(masters: 3)
        defer { cluster.stop() }
        let rules = [
            try RuleParser.parse(name: "api", "5/h burst 5 by header:x-user on GET /api"),
            try Self.warmRule(),
        ]
        let replica = Replica(cluster, rules: rules, loops: 2)
        try await replica.waitUntilEveryMasterDecides(
            Self.warmRequests
        )
        let nodes = try await cluster.nodes(asking: cluster.servers[0])
        let source = try #require(nodes.first { $0.port == cluster.servers[0].port })
        let target = try #require(nodes.first { $0.port == cluster.servers[1].port })

        // Users come in groups: each user sends one request every `groups` rounds, six in all
        // (one more than its limit), then a new generation of users starts; so Redis sees
        // requests, and buckets are being written, for as long as the load runs.
        let groups = 50
        let groupSize = 100
        let perUser = 6
        let tally = Tally()
        var sent: [String: Int] = [:]
        var reshard: Task<Bool, Never>?
        let reshardDone = Flag()
        var round = 0
        let started = ContinuousClock.now
        var reshardTime: Duration?
        while true {
            if round == 2 * groups {
                // Moves 4,000 slots, with the keys in them, while the rounds go on.
                let arguments = [
                    "--cluster", "reshard", "127.0.0.1:\(source.port)", "--cluster-from", source.id, "--cluster-to",
                    target.id, "--cluster-slots", "4000", "--cluster-yes", "--cluster-pipeline", "50",
                ]
                reshard = Task.detached {
                    defer { reshardDone.set() }
                    return (try? RedisClusterProcess.cli(arguments)) != nil
                }
            }
            if reshardTime == nil, reshardDone.isSet {
                reshardTime = ContinuousClock.now - started
            }
            if reshardTime != nil, round % groups == 0 { break }
            let generation = round / (groups * perUser)
            let group = round % groups
            let users = (0..<groupSize).map { "g\(generation)-u\(group * groupSize + $0)" }
            let outcomes = try await replica.decide(users.map(Self.request), loop: round)
            for (user, outcome) in zip(users, outcomes) {
                tally.add(user, outcome.verdict)
                sent[user, default: 0] += 1
            }
            round += 1
            #expect(ContinuousClock.now - started < .seconds(120), "the resharding did not finish")
            if ContinuousClock.now - started > .seconds(120) { break }
        }
        let resharded = await reshard?.value
        #expect(resharded == true, "redis-cli --cluster reshard failed")
        let connection = try await cluster.servers[0].connect()
        let map = try RedisClusterSlotMap(
            clusterSlots: try await connection.send("CLUSTER", "SLOTS").get(),
            askedHost: "127.0.0.1"
        )
        _ = connection.close()
        let targetSlots = map.ranges.filter { $0.node.port == target.port }.reduce(0) { $0 + $1.slots.count }
        #expect(targetSlots > 9000, "the target serves \(targetSlots) slots")
        let moved = replica.metrics.counter("sidecar_redis_redirects_total", [("kind", "moved")])
        let ask = replica.metrics.counter("sidecar_redis_redirects_total", [("kind", "ask")])
        let tryAgain = replica.metrics.counter("sidecar_redis_redirects_total", [("kind", "tryagain")])
        print(
            "resharding under load: \(tally.total) requests in \(round) rounds (the resharding took \(reshardTime.map { "\($0)" } ?? "?") of them), \(tally.unavailable) answered 503, redirects followed: \(moved) MOVED, \(ask) ASK, \(tryAgain) TRYAGAIN"
        )
        #expect(tally.unavailable == 0)
        #expect(moved + ask > 0, "no redirect was seen: the slots did not move under the load")
        let allowed = tally.allowed
        let wrong = sent.filter { user, count in allowed[user, default: 0] != min(5, count) }
        #expect(
            wrong.isEmpty,
            "\(wrong.count) users allowed other than min(5, sent), e.g. \(wrong.first.map { "\($0.key): sent \($0.value), allowed \(allowed[$0.key, default: 0])" } ?? "")"
        )

        // Afterwards, on the new layout: exact for fresh users too.
        let after = (0..<200).map { "after-\($0)" }
        var afterAllowed = [String: Int]()
        for round in 0..<7 {
            for (user, outcome) in zip(after, try await replica.decide(after.map(Self.request), loop: round)) {
                #expect(outcome.verdict != .unavailable)
                if outcome.verdict == .allowed { afterAllowed[user, default: 0] += 1 }
            }
        }
        #expect(after.allSatisfy { afterAllowed[$0] == 5 })
        try await replica.close()
    }

    @Test func aMasterFailoverIsFollowedOnceItsReplicaIsPromoted() async throws {
        let cluster = try await RedisClusterProcess.start(masters: 3, replicasPerMaster: 1)
        defer { cluster.stop() }
        let rules = [try RuleParser.parse(name: "api", "1000000/h by header:x-user on GET /api")]
        let replica = Replica(cluster, rules: rules)
        let users = (0..<60).map { "user-\($0)" }
        try await replica.waitUntilEveryMasterDecides(users.map(Self.request))

        let nodes = try await cluster.nodes(asking: cluster.servers[0])
        let masters = nodes.filter { $0.role == "master" }
        #expect(masters.count == 3)
        let victim = try #require(masters.first)
        let heir = try #require(nodes.first { $0.master == victim.id })
        let survivor = try #require(cluster.servers.first { $0.port != victim.port && $0.port != heir.port })
        #expect(try await Self.masters(of: users, in: cluster).contains(victim.port))

        // The master dies; after the node timeout (2 s) the cluster promotes its replica.
        cluster.servers.first { $0.port == victim.port }?.stop()
        let killed = ContinuousClock.now
        var promotedAt: ContinuousClock.Instant?
        var resumedAt: ContinuousClock.Instant?
        var answeredMeanwhile = 0
        while ContinuousClock.now - killed < .seconds(40) {
            if promotedAt == nil,
                try await cluster.nodes(asking: survivor).contains(where: {
                    $0.port == heir.port && $0.role == "master"
                })
            {
                promotedAt = .now
            }
            let outcomes = try await replica.decide(users.map(Self.request))
            if outcomes.allSatisfy({ $0.redis && $0.verdict == .allowed }) {
                if promotedAt != nil {
                    resumedAt = .now
                    break
                }
            } else {
                #expect(outcomes.allSatisfy { $0.redis || $0.verdict == .unavailable })
                answeredMeanwhile += outcomes.filter { !$0.redis }.count
            }
            try await Task.sleep(for: .milliseconds(50))
        }
        let promoted = try #require(promotedAt, "the cluster did not promote the replica")
        let resumed = try #require(resumedAt, "the limiter did not decide on the promoted replica")
        print(
            "Cluster failover: promoted \(promoted - killed) after the kill; decided by Redis again \(resumed - promoted) after the promotion; \(answeredMeanwhile) checks answered by the failure mode meanwhile"
        )
        #expect(resumed - promoted <= .seconds(5), "decided again \(resumed - promoted) after the promotion")
        #expect(answeredMeanwhile > 0)
        #expect(replica.metrics.counter("sidecar_redis_failovers_total") == 1)
        // The dead master left the map: its gauge went with it.
        let up = replica.metrics.gauges("sidecar_redis_up")
        #expect(up.keys.allSatisfy { !$0.contains(":\(victim.port)}") }, "\(up)")
        try await replica.close()
    }

    @Test func aSlotBeingMigratedIsFollowedWithAskingForNewBuckets() async throws {
        let cluster = try await RedisClusterProcess.start(masters: 3)
        defer { cluster.stop() }
        let rules = [try RuleParser.parse(name: "api", "5/h burst 5 by header:x-user on GET /api")]
        let replica = Replica(cluster, rules: rules)
        let nodes = try await cluster.nodes(asking: cluster.servers[0])
        let source = try #require(nodes.first { $0.port == cluster.servers[0].port })
        let target = try #require(nodes.first { $0.port == cluster.servers[1].port })
        // Two users whose buckets live on the source master, on different slots.
        let sourceConnection = try await cluster.servers[0].connect()
        let targetConnection = try await cluster.servers[1].connect()
        defer {
            _ = sourceConnection.close()
            _ = targetConnection.close()
        }
        let map = try RedisClusterSlotMap(
            clusterSlots: try await sourceConnection.send("CLUSTER", "SLOTS").get(),
            askedHost: "127.0.0.1"
        )
        let users: [String] = (0..<1000).map { "user-\($0)" }.filter { (user: String) -> Bool in
            map.node(forSlot: RedisClusterSlot.of(Self.bucket(of: user)))?.port == source.port
        }
        let old: String = users[0]
        let new: String = users[1]
        let slot = RedisClusterSlot.of(Self.bucket(of: new))
        try await replica.waitUntilEveryMasterDecides([Self.request(old)])
        #expect(RedisClusterSlot.of(Self.bucket(of: old)) != slot)
        // The slot starts moving (as redis-cli --cluster reshard does before it migrates keys).
        _ = try await targetConnection.send("CLUSTER", "SETSLOT", String(slot), "IMPORTING", source.id).get()
        _ = try await sourceConnection.send("CLUSTER", "SETSLOT", String(slot), "MIGRATING", target.id).get()

        // A bucket not on the source yet is asked for on the target, where it is written.
        let outcomes = try await replica.decide([Self.request(new), Self.request(new)])
        #expect(outcomes.map(\.redis) == [true, true])
        #expect(outcomes.map(\.verdict) == [.allowed, .allowed])
        #expect(replica.metrics.counter("sidecar_redis_redirects_total", [("kind", "ask")]) == 1)
        #expect(try await targetConnection.send("CLUSTER", "COUNTKEYSINSLOT", String(slot)).get() == .integer(1))
        #expect(try await sourceConnection.send("CLUSTER", "COUNTKEYSINSLOT", String(slot)).get() == .integer(0))
        // The bucket keeps counting there: five in all.
        var allowed = 2
        for _ in 0..<5 where try await replica.decide([Self.request(new)])[0].verdict == .allowed { allowed += 1 }
        #expect(allowed == 5)
        try await replica.close()
    }
}
