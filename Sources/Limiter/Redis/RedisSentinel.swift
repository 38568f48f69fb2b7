import Logging
import NIOCore

/// A Redis Sentinel set that names the master: the sentinels to ask and the master's name.
///
/// Connecting asks the sentinels in turn (`SENTINEL GET-MASTER-ADDR-BY-NAME`), connects to the
/// address the first one that answers gives, and checks with `ROLE` that it is the master (a
/// sentinel may still name a demoted one for a moment after a failover). Every reconnect asks
/// again, so a promoted replica is found at the next attempt.
public struct RedisSentinel: Sendable, Hashable {
    /// The sentinels: host, port, TLS, and their own password if they have one.
    public var sentinels: [RedisConnection.Configuration]
    /// The master set's name, as in `sentinel monitor <name> ...`.
    public var masterName: String

    public init(sentinels: [RedisConnection.Configuration], masterName: String) {
        precondition(!sentinels.isEmpty, "at least one sentinel")
        self.sentinels = sentinels
        self.masterName = masterName
    }

    /// Connects to the current master with `master`'s credentials, database and TLS.
    public func connectToMaster(
        _ master: RedisConnection.Configuration,
        on eventLoop: any EventLoop,
        logger: Logger
    ) -> EventLoopFuture<RedisConnection> {
        self.masterAddress(on: eventLoop, logger: logger, from: 0, failures: []).flatMap { host, port in
            var configuration = master
            configuration.host = host
            configuration.port = port
            return RedisConnection.connect(configuration: configuration, on: eventLoop, logger: logger)
                .flatMap { connection in
                    connection.send("ROLE", timeout: max(master.requestTimeout, .seconds(1)))
                        .flatMapThrowing { reply -> RedisConnection in
                            guard case .array(let parts?) = reply, case .bulkString(let role?) = parts.first,
                                String(decoding: role, as: UTF8.self) == "master"
                            else {
                                throw RedisError.notMaster(host: host, port: port, reply: reply.description)
                            }
                            return connection
                        }
                        .flatMapError { error in connection.close().flatMapThrowing { throw error } }
                }
        }
    }

    /// The master's address, from the sentinel at `index` or, failing that, the ones after it.
    private func masterAddress(
        on eventLoop: any EventLoop,
        logger: Logger,
        from index: Int,
        failures: [String]
    ) -> EventLoopFuture<(String, Int)> {
        guard index < self.sentinels.count else {
            return eventLoop.makeFailedFuture(
                RedisError.noMasterFromSentinels(name: self.masterName, failures: failures)
            )
        }
        let sentinel = self.sentinels[index]
        let name = self.masterName
        return RedisConnection.connect(configuration: sentinel, on: eventLoop, logger: logger)
            .flatMap { connection in
                connection.send(
                    "SENTINEL",
                    "GET-MASTER-ADDR-BY-NAME",
                    name,
                    timeout: max(sentinel.requestTimeout, .seconds(1))
                )
                .always { _ in _ = connection.close() }
            }
            .flatMapThrowing { reply -> (String, Int) in
                guard case .array(let parts?) = reply, parts.count == 2, case .bulkString(let host?) = parts[0],
                    case .bulkString(let portText?) = parts[1],
                    let port = Int(String(decoding: portText, as: UTF8.self))
                else {
                    throw RedisError.unexpectedReply(
                        command: "SENTINEL GET-MASTER-ADDR-BY-NAME \(name)",
                        reply: "\(reply)"
                    )
                }
                return (String(decoding: host, as: UTF8.self), port)
            }
            .flatMapError { error in
                self.masterAddress(
                    on: eventLoop,
                    logger: logger,
                    from: index + 1,
                    failures: failures + ["\(sentinel.host):\(sentinel.port): \(error)"]
                )
            }
    }
}

extension RedisConnection {
    /// Connects to `configuration`'s server or, with `sentinel`, to the master the sentinels name,
    /// with `configuration`'s credentials, database and TLS.
    public static func connect(
        configuration: Configuration,
        sentinel: RedisSentinel?,
        on eventLoop: any EventLoop,
        logger: Logger
    ) -> EventLoopFuture<RedisConnection> {
        guard let sentinel else { return Self.connect(configuration: configuration, on: eventLoop, logger: logger) }
        return sentinel.connectToMaster(configuration, on: eventLoop, logger: logger)
    }
}
