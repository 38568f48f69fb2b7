import Logging
import NIOCore

/// Counts the live replicas of the fleet through Redis, for the `local` failure mode's share.
///
/// Every ``interval`` each replica stamps its id in the sorted set `sidecar:replicas` with Redis's
/// own clock, drops ids not stamped within ``expiry`` and reads how many are left.
public struct ReplicaHeartbeat: Sendable {
    /// The sorted set of replica ids.
    public static let key = "sidecar:replicas"

    /// Effects replication first, as in ``GCRAScript``: before Redis 5 a script that calls `TIME`
    /// (not deterministic) may only write once it has asked for it.
    static let script = """
        if redis.replicate_commands then redis.replicate_commands() end
        local time = redis.call('TIME')
        local now = tonumber(time[1]) * 1000 + math.floor(tonumber(time[2]) / 1000)
        redis.call('ZADD', KEYS[1], now, ARGV[1])
        redis.call('ZREMRANGEBYSCORE', KEYS[1], '-inf', now - tonumber(ARGV[2]))
        redis.call('PEXPIRE', KEYS[1], tonumber(ARGV[2]) * 2)
        return redis.call('ZCARD', KEYS[1])
        """

    let redis: RedisConnection.Configuration
    let sentinel: RedisSentinel?
    let cluster: RedisCluster?
    let id: String
    let interval: Duration
    let expiry: Duration
    let eventLoop: any EventLoop
    let logger: Logger
    let onCount: @Sendable (Int) -> Void

    /// - Parameter onCount: called with the number of live replicas after each beat.
    public init(
        redis: RedisConnection.Configuration,
        sentinel: RedisSentinel? = nil,
        cluster: RedisCluster? = nil,
        id: String,
        interval: Duration = .seconds(5),
        expiry: Duration = .seconds(15),
        eventLoop: any EventLoop,
        logger: Logger,
        onCount: @escaping @Sendable (Int) -> Void
    ) {
        self.redis = redis
        self.sentinel = sentinel
        self.cluster = cluster
        self.id = id
        self.interval = interval
        self.expiry = expiry
        self.eventLoop = eventLoop
        self.logger = logger
        self.onCount = onCount
    }

    /// Beats until the task is cancelled, reconnecting as needed. In a cluster, the key's master
    /// is found by following `MOVED` from the seeds (tried in turn while none answers).
    public func run() async {
        var connection: RedisConnection?
        var loggedFailure = false
        var server = cluster?.seeds[0] ?? redis
        var seed = 0
        while !Task.isCancelled {
            do {
                if connection == nil || connection?.channel.isActive == false {
                    var configuration = server
                    configuration.requestTimeout = .seconds(2)
                    connection = try await RedisConnection.connect(
                        configuration: configuration,
                        sentinel: sentinel,
                        on: eventLoop,
                        logger: logger
                    )
                    .get()
                }
                let count = try await beat(on: connection!)
                onCount(count)
                loggedFailure = false
            } catch let error as RedisError
                where cluster != nil && RedisClusterRedirect.moved(error, replyingHost: server.host) != nil
            {
                // The key's slot lives elsewhere: beat there at once.
                server = cluster!.configuration(for: RedisClusterRedirect.moved(error, replyingHost: server.host)!)
                _ = try? await connection?.close().get()
                connection = nil
                continue
            } catch {
                if let cluster, connection == nil {
                    seed = (seed + 1) % cluster.seeds.count
                    server = cluster.seeds[seed]
                }
                if !loggedFailure {
                    logger.warning("replica heartbeat failed; keeping the last count", metadata: ["error": "\(error)"])
                    loggedFailure = true
                }
                _ = try? await connection?.close().get()
                connection = nil
            }
            try? await Task.sleep(for: interval)
        }
        _ = try? await connection?.close().get()
    }

    /// One beat: stamps this replica and returns how many are live.
    public func beat(on connection: RedisConnection) async throws -> Int {
        let expiryMilliseconds =
            expiry.components.seconds * 1000 + expiry.components.attoseconds / 1_000_000_000_000_000
        let reply = try await connection.send(
            RESPCommand("EVAL", Self.script, "1", Self.key, id, String(expiryMilliseconds))
        ).get()
        guard case .integer(let count) = reply, count > 0 else {
            throw RedisError.unexpectedReply(command: "EVAL (replica heartbeat)", reply: reply.description)
        }
        return Int(count)
    }
}
