import Foundation
import NIOCore
import NIOPosix
import TestSupport
import Testing

@testable import Limiter

/// Cluster slots computed here against Redis's own answer, and the slot map of a real cluster.
@Suite("Redis Cluster slots", .serialized)
struct RedisClusterSlotTests {
    @Test func knownSlotsAndHashTags() {
        #expect(RedisClusterSlot.crc16(Array("123456789".utf8)) == 0x31C3)
        #expect(RedisClusterSlot.of("foo") == 12182)
        #expect(RedisClusterSlot.of("{user1000}.following") == RedisClusterSlot.of("{user1000}.followers"))
        // An empty tag hashes the whole key; the first `}` after the first `{` closes the tag.
        #expect(RedisClusterSlot.of("foo{}{bar}") == Int(RedisClusterSlot.crc16(Array("foo{}{bar}".utf8))) & 16383)
        #expect(RedisClusterSlot.of("foo{{bar}}zap") == RedisClusterSlot.of("{bar"))
        #expect(RedisClusterSlot.of("foo{bar}{zap}") == RedisClusterSlot.of("bar"))
        // One client's buckets share a slot.
        let key = RedisBucketKey.hash("10.0.0.1")
        #expect(RedisClusterSlot.of("sidecar:{\(key)}:api") == RedisClusterSlot.of("sidecar:{\(key)}:login"))
    }

    @Test func theMapFindsEachSlotsMasterAndRefusesBadReplies() throws {
        func range(_ first: Int64, _ last: Int64, _ host: String, _ port: Int64) -> RESPValue {
            .array([
                .integer(first), .integer(last),
                .array([.bulkString(Array(host.utf8)), .integer(port), .bulkString([])]),
            ])
        }
        let map = try RedisClusterSlotMap(
            clusterSlots: .array([range(8192, 16383, "", 7002), range(0, 8191, "10.0.0.1", 7001)]),
            askedHost: "10.0.0.9"
        )
        #expect(map.coversEverySlot)
        #expect(map.node(forSlot: 0) == .init(host: "10.0.0.1", port: 7001))
        #expect(map.node(forSlot: 8191) == .init(host: "10.0.0.1", port: 7001))
        // An empty host is the node that was asked.
        #expect(map.node(forSlot: 8192) == .init(host: "10.0.0.9", port: 7002))
        #expect(map.node(forSlot: 16383) == .init(host: "10.0.0.9", port: 7002))
        #expect(map.nodes.count == 2)

        let gap = try RedisClusterSlotMap(clusterSlots: .array([range(0, 100, "a", 1)]), askedHost: "x")
        #expect(!gap.coversEverySlot)
        #expect(gap.node(forSlot: 101) == nil)
        #expect(throws: RedisError.self) {
            try RedisClusterSlotMap(
                clusterSlots: .array([range(0, 100, "a", 1), range(100, 200, "b", 2)]),
                askedHost: "x"
            )
        }
        #expect(throws: RedisError.self) {
            try RedisClusterSlotMap(clusterSlots: .array([range(0, 16384, "a", 1)]), askedHost: "x")
        }
    }

    @Test(
        .enabled(
            if: RedisServerProcess.isAvailable && RedisClusterProcess.redisCLI != nil,
            "redis-server and redis-cli are needed"
        )
    )
    func slotsAgreeWithRedisAndTheMapCoversTheCluster() async throws {
        let cluster = try await RedisClusterProcess.start()
        defer { cluster.stop() }
        let connection = try await cluster.servers[0].connect()
        defer { _ = connection.close() }
        // Redis's CLUSTER KEYSLOT against ours, on generated keys with and without tags.
        var generator = SystemRandomNumberGenerator()
        for index in 0..<300 {
            let body = (0..<Int.random(in: 0...12, using: &generator)).map { _ in
                Character(UnicodeScalar(UInt8.random(in: 0x21...0x7E, using: &generator)))
            }
            let key = index % 3 == 0 ? "sidecar:{\(String(body))}:rule" : String(body) + "{x}" + String(index)
            let reply = try await connection.send("CLUSTER", "KEYSLOT", key).get()
            #expect(reply == .integer(Int64(RedisClusterSlot.of(key))), "\(key.debugDescription)")
        }
        // The map of a three-master cluster: every slot served, each master once.
        var map: RedisClusterSlotMap?
        for _ in 0..<50 {
            let reply = try await connection.send("CLUSTER", "SLOTS").get()
            map = try RedisClusterSlotMap(clusterSlots: reply, askedHost: "127.0.0.1")
            if map?.coversEverySlot == true { break }
            try await Task.sleep(for: .milliseconds(100))
        }
        let slots = try #require(map)
        #expect(slots.coversEverySlot)
        #expect(Set(slots.nodes.map(\.port)) == Set(cluster.servers.map(\.port)))
        // A key is served by the node the map names: that node answers it without MOVED.
        for key in ["sidecar:{a}:r", "sidecar:{b}:r", "sidecar:{global}:fleet"] {
            let node = try #require(slots.node(forSlot: RedisClusterSlot.of(key)))
            let server = try #require(cluster.servers.first { $0.port == node.port })
            let owner = try await server.connect()
            defer { _ = owner.close() }
            #expect(try await owner.send("SET", key, "1").get() == .simpleString("OK"))
        }
        #expect(throws: RedisError.self) { try RedisClusterSlotMap(clusterSlots: .integer(1), askedHost: "x") }
        // CLUSTER SHARDS (Redis 7) gives the same map; the router asks it first.
        let shards = try RedisClusterSlotMap(
            clusterShards: try await connection.send("CLUSTER", "SHARDS").get(),
            askedHost: "127.0.0.1"
        )
        #expect(shards == slots)
        #expect(try await RedisClusterRouter.slotMap(asking: connection, timeout: .seconds(2)).get() == slots)
        #expect(throws: RedisError.self) {
            try RedisClusterSlotMap(clusterShards: .array([.integer(1)]), askedHost: "x")
        }
    }

    @Test func aShardsReplyNamesEachMastersEndpointAndPort() throws {
        func shard(_ slots: [Int64], _ nodes: [[(String, RESPValue)]]) -> RESPValue {
            .array([
                .bulkString(Array("slots".utf8)), .array(slots.map { .integer($0) }),
                .bulkString(Array("nodes".utf8)),
                .array(nodes.map { .array($0.flatMap { [.bulkString(Array($0.0.utf8)), $0.1] }) }),
            ])
        }
        func text(_ value: String) -> RESPValue { .bulkString(Array(value.utf8)) }
        let map = try RedisClusterSlotMap(
            clusterShards: .array([
                shard(
                    [0, 99, 200, 8191],
                    [
                        [("role", text("replica")), ("endpoint", text("10.0.0.8")), ("port", .integer(7008))],
                        [
                            ("role", text("master")), ("endpoint", text("redis-0.svc")), ("ip", text("10.0.0.1")),
                            ("port", .integer(7001)),
                        ],
                    ]
                ),
                // A master with TLS only, and an unknown endpoint: its IP.
                shard(
                    [8192, 16383, 100, 199],
                    [
                        [
                            ("role", text("master")), ("endpoint", text("?")), ("ip", text("10.0.0.2")),
                            ("tls-port", .integer(7102)),
                        ]
                    ]
                ),
                // A master with no slots yet serves nothing.
                shard([], [[("role", text("master")), ("ip", text("10.0.0.3")), ("port", .integer(7003))]]),
            ]),
            askedHost: "10.0.0.9"
        )
        #expect(map.coversEverySlot)
        #expect(map.node(forSlot: 50) == .init(host: "redis-0.svc", port: 7001))
        #expect(map.node(forSlot: 150) == .init(host: "10.0.0.2", port: 7102))
        #expect(map.node(forSlot: 9000) == .init(host: "10.0.0.2", port: 7102))
        #expect(map.nodes.count == 2)
    }
}
