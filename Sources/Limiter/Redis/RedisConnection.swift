import Logging
import NIOCore
import NIOPosix
import NIOSSL

/// One TCP connection to Redis, with pipelined requests answered in order.
///
/// A closed connection stays closed; ``RedisBatcher`` makes a new one. `rediss://` connects
/// through TLS (swift-nio-ssl, system trust roots, the host name verified).
public final class RedisConnection: Sendable {
    /// Where and how to connect.
    public struct Configuration: Sendable, Hashable {
        /// Host name or address.
        public var host: String
        /// TCP port.
        public var port: Int
        /// ACL user for `AUTH`; `nil` authenticates as the default user.
        public var username: String?
        /// Password for `AUTH`; `nil` sends no `AUTH`.
        public var password: String?
        /// Database for `SELECT`; 0 sends no `SELECT`.
        public var database: Int
        /// Whether to connect through TLS (`rediss://`).
        public var useTLS: Bool
        /// Longest wait for the TCP connection.
        public var connectTimeout: TimeAmount
        /// Deadline of a request when ``RedisConnection/send(_:timeout:)`` is given none.
        public var requestTimeout: TimeAmount

        public init(
            host: String,
            port: Int = 6379,
            username: String? = nil,
            password: String? = nil,
            database: Int = 0,
            useTLS: Bool = false,
            connectTimeout: TimeAmount = .seconds(2),
            requestTimeout: TimeAmount = .milliseconds(50)
        ) {
            self.host = host
            self.port = port
            self.username = username
            self.password = password
            self.database = database
            self.useTLS = useTLS
            self.connectTimeout = connectTimeout
            self.requestTimeout = requestTimeout
        }
    }

    /// The connection's settings.
    public let configuration: Configuration
    /// The underlying channel.
    public let channel: any Channel

    /// The event loop replies complete on.
    public var eventLoop: any EventLoop { self.channel.eventLoop }
    /// Completes when the connection has closed.
    public var closeFuture: EventLoopFuture<Void> { self.channel.closeFuture }

    private init(configuration: Configuration, channel: any Channel) {
        self.configuration = configuration
        self.channel = channel
    }

    /// The TLS context of every `rediss://` connection: the system's trust roots, loaded once.
    private static let tlsContext = Result { try NIOSSLContext(configuration: .makeClientConfiguration()) }

    /// Connects, then sends `AUTH` and `SELECT` as configured.
    public static func connect(
        configuration: Configuration,
        on eventLoop: any EventLoop,
        logger: Logger = Logger(label: "sidecar.redis")
    ) -> EventLoopFuture<RedisConnection> {
        let bootstrap = ClientBootstrap(group: eventLoop)
            .connectTimeout(configuration.connectTimeout)
            .channelOption(.tcpOption(.tcp_nodelay), value: 1)
            .channelInitializer { channel in
                channel.eventLoop.makeCompletedFuture {
                    if configuration.useTLS {
                        let context = try Self.tlsContext.get()
                        let hostname =
                            configuration.host.first?.isNumber == true || configuration.host.contains(":")
                            ? nil : configuration.host
                        try channel.pipeline.syncOperations.addHandler(
                            NIOSSLClientHandler(context: context, serverHostname: hostname)
                        )
                    }
                    try channel.pipeline.syncOperations.addHandler(ByteToMessageHandler(RESPDecoder()))
                    try channel.pipeline.syncOperations.addHandler(RedisConnectionHandler())
                }
            }
        return bootstrap.connect(host: configuration.host, port: configuration.port)
            .flatMapErrorThrowing { error in
                throw RedisError.connectionFailed(
                    host: configuration.host,
                    port: configuration.port,
                    reason: "\(error)"
                )
            }
            .flatMap { channel in
                let connection = RedisConnection(configuration: configuration, channel: channel)
                return connection.handshake().map { connection }.flatMapError { error in
                    logger.warning("Redis connection set-up failed", metadata: ["error": "\(error)"])
                    return channel.close().flatMapThrowing { throw error }
                }
            }
    }

    private func handshake() -> EventLoopFuture<Void> {
        var steps: [RESPCommand] = []
        if let password = self.configuration.password {
            if let username = self.configuration.username {
                steps.append(RESPCommand("AUTH", username, password))
            } else {
                steps.append(RESPCommand("AUTH", password))
            }
        }
        if self.configuration.database != 0 {
            steps.append(RESPCommand("SELECT", String(self.configuration.database)))
        }
        let timeout = max(self.configuration.requestTimeout, self.configuration.connectTimeout)
        let replies = steps.map { command in
            self.send(command, timeout: timeout).flatMapErrorThrowing { error -> RESPValue in
                if case .server(let message) = error as? RedisError {
                    throw RedisError.handshakeFailed("\(command.name): \(message)")
                }
                throw error
            }
        }
        return EventLoopFuture.andAllSucceed(replies, on: self.eventLoop)
    }

    /// Sends `command`; the future fails with ``RedisError`` on an error reply, a missed
    /// deadline (`timeout`, or the configured request timeout) or a closed connection. Without
    /// `flush`, the command waits in the channel for the next ``flush()``.
    public func send(
        _ command: RESPCommand,
        timeout: TimeAmount? = nil,
        flush: Bool = true
    ) -> EventLoopFuture<RESPValue> {
        let promise = self.eventLoop.makePromise(of: RESPValue.self)
        let timeout = timeout ?? self.configuration.requestTimeout
        let request = RedisRequest(command: command, promise: promise, timeout: timeout, deadline: .now() + timeout)
        (flush ? self.channel.writeAndFlush(request) : self.channel.write(request))
            .whenFailure { error in
                // The handler fails the promise itself when it saw the request; this covers a
                // channel closed before that. Completing a completed promise does nothing.
                promise.fail((error as? RedisError) ?? RedisError.connectionClosed(reason: "\(error)"))
            }
        return promise.futureResult
    }

    /// Writes out the commands sent without `flush`.
    public func flush() {
        self.channel.flush()
    }

    /// Sends a command given as text arguments.
    public func send(_ arguments: String..., timeout: TimeAmount? = nil) -> EventLoopFuture<RESPValue> {
        self.send(RESPCommand(arguments), timeout: timeout)
    }

    /// Loads `source` into Redis's script cache; the future gives its SHA1 as Redis reports it.
    public func scriptLoad(_ source: String, timeout: TimeAmount? = nil) -> EventLoopFuture<String> {
        self.send(RESPCommand("SCRIPT", "LOAD", source), timeout: timeout).flatMapThrowing { reply in
            guard case .bulkString(let bytes?) = reply else {
                throw RedisError.unexpectedReply(command: "SCRIPT LOAD", reply: reply.description)
            }
            return String(decoding: bytes, as: UTF8.self)
        }
    }

    /// Closes the connection; pending requests fail with ``RedisError/connectionClosed(reason:)``.
    public func close() -> EventLoopFuture<Void> {
        self.channel.close().flatMapError { error in
            if let error = error as? ChannelError, error == .alreadyClosed {
                return self.eventLoop.makeSucceededVoidFuture()
            }
            return self.eventLoop.makeFailedFuture(error)
        }
    }
}
