/// A Redis Cluster to use: the seed nodes asked for the slot map, and the credentials, database
/// and TLS of every node (from the first seed).
public struct RedisCluster: Sendable, Hashable {
    /// The nodes asked for the slot map until one answers; any node of the cluster will do.
    public var seeds: [RedisConnection.Configuration]

    public init(seeds: [RedisConnection.Configuration]) {
        precondition(!seeds.isEmpty, "at least one seed node")
        self.seeds = seeds
    }

    /// How to connect to `node`: the first seed's settings at the node's address.
    func configuration(for node: RedisClusterSlotMap.Node) -> RedisConnection.Configuration {
        var configuration = seeds[0]
        configuration.host = node.host
        configuration.port = node.port
        return configuration
    }
}
