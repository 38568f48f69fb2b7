import Logging
import NIOCore

/// One event loop's connection to one Redis server (the server, the master the sentinels name, or
/// one master of a cluster), run by its ``RedisConnectionStateMachine``: connecting, loading the
/// script, ready, draining, backing off. Used only on its loop.
final class RedisNodeLink {
    /// Unowned: the batcher owns its links.
    private unowned let batcher: RedisBatcher
    /// The server and credentials (in sentinel mode the address is the sentinels' to give).
    let configuration: RedisConnection.Configuration
    private let sentinel: RedisSentinel?
    private var state: RedisConnectionStateMachine
    private var connection: RedisConnection?
    private var reconnect: Scheduled<Void>?
    /// Runs batches while the link is ready.
    private(set) var executor: RedisGCRAExecutor?

    init(
        batcher: RedisBatcher,
        configuration: RedisConnection.Configuration,
        sentinel: RedisSentinel?,
        initialBackoff: TimeAmount,
        maximumBackoff: TimeAmount
    ) {
        self.batcher = batcher
        self.configuration = configuration
        self.sentinel = sentinel
        self.state = RedisConnectionStateMachine(initialBackoff: initialBackoff, maximumBackoff: maximumBackoff)
    }

    /// `host:port` as configured.
    var address: String { RedisClusterSlotMap.Node(host: configuration.host, port: configuration.port).description }

    /// Whether batches can be sent.
    var isReady: Bool { executor != nil }

    /// Whether an attempt is under way.
    var isConnecting: Bool { state.isConnecting }

    /// Connects unless connected, connecting, backing off or closed.
    func start() {
        run(state.start())
    }

    /// A reply said the server cannot take writes (`READONLY`, `LOADING`): reconnect.
    func failoverReplied() {
        run(state.failoverReplied())
    }

    /// The sentinels announced `host:port` as the master: a connection elsewhere is drained, and
    /// the next one asks the sentinels again.
    func masterSwitched(to host: String, port: Int) {
        if let server = connection?.configuration, server.host == host, server.port == port { return }
        run(state.failoverReplied())
    }

    /// Closes the connection for good.
    func close() {
        run(state.close())
    }

    private func run(_ action: RedisConnectionStateMachine.Action) {
        switch action {
        case .none:
            break
        case .connect:
            connect()
        case .loadScript:
            loadScript()
        case .becameReady:
            becameReady()
        case .closeConnection:
            // Its close future reports back (see `becameReady`).
            connection?.close().whenComplete { _ in }
        case .scheduleReconnect(let delay):
            connection = nil
            executor = nil
            let limiter = batcher.limiter
            reconnect = batcher.eventLoop.assumeIsolated().scheduleTask(in: delay) { [weak limiter] in
                self.reconnect = nil
                guard let limiter else { return }
                withExtendedLifetime(limiter) { self.run(self.state.backoffPassed()) }
            }
        case .shutDown:
            reconnect?.cancel()
            reconnect = nil
            connection?.close().whenComplete { _ in }
            connection = nil
            executor = nil
        }
    }

    private func connect() {
        let limiter = batcher.limiter
        RedisConnection.connect(
            configuration: configuration,
            sentinel: sentinel,
            on: batcher.eventLoop,
            logger: limiter.logger
        )
        .assumeIsolated()
        .whenComplete { result in
            withExtendedLifetime(limiter) {
                switch result {
                case .success(let connection):
                    let action = self.state.connected()
                    if action == .loadScript {
                        self.connection = connection
                    } else {
                        connection.close().whenComplete { _ in }
                    }
                    self.run(action)
                case .failure(let error):
                    self.attemptFailed(error)
                }
            }
        }
    }

    private func loadScript() {
        guard let connection else { return }
        let limiter = batcher.limiter
        connection.scriptLoad(GCRAScript.source, timeout: max(limiter.configuration.timeout, .seconds(1)))
            .assumeIsolated()
            .whenComplete { result in
                withExtendedLifetime(limiter) {
                    guard self.connection === connection else { return }
                    switch result {
                    case .success:
                        self.run(self.state.scriptLoaded())
                    case .failure(let error):
                        connection.close().whenComplete { _ in }
                        self.attemptFailed(error)
                    }
                }
            }
    }

    private func attemptFailed(_ error: any Error) {
        batcher.linkAttemptFailed(self, error: error)
        run(state.attemptFailed())
    }

    private func becameReady() {
        guard let connection else { return }
        executor = RedisGCRAExecutor(connection: connection)
        batcher.linkBecameReady(self, server: connection.configuration, remoteAddress: connection.channel.remoteAddress)
        connection.closeFuture.assumeIsolated().whenComplete { [weak limiter = batcher.limiter] _ in
            guard let limiter, self.connection === connection else { return }
            withExtendedLifetime(limiter) {
                self.executor = nil
                self.batcher.linkClosed(self)
                self.run(self.state.connectionClosed())
            }
        }
    }
}
