import Logging
import NIOCore
import NIOHTTP1
import NIOPosix

/// The upstream connections of one event loop, at most `maxConnections`, shared by every client
/// connection and HTTP/2 stream of that loop. Used only on that loop.
///
/// Decisions are ``UpstreamPoolStateMachine``'s; the pool connects, closes, keeps the timer and
/// calls waiters back. Time is the event loop's (`eventLoop.now`), so an embedded loop drives it in tests.
final class UpstreamPool {
    /// A waiter as the state machine holds it: compared by identity.
    struct WaiterReference: Equatable {
        let waiter: any UpstreamLeaseWaiter

        static func == (lhs: WaiterReference, rhs: WaiterReference) -> Bool {
            lhs.waiter === rhs.waiter
        }
    }

    /// The pool's decisions, over waiters held by reference.
    typealias StateMachine = UpstreamPoolStateMachine<WaiterReference>

    /// Connections per event loop when `SIDECAR_UPSTREAM_MAX_CONNECTIONS` is not set.
    static let defaultMaxConnections = 256
    /// How long a connect may take, and by default how long a request waits in the queue.
    static let defaultConnectTimeout = TimeAmount.seconds(5)

    let eventLoop: any EventLoop
    /// The deadlines of this loop's client connections and streams.
    let deadlines: DeadlineSweeper
    private let address: UpstreamAddress
    private let connectTimeout: TimeAmount
    private let logger: Logger
    private var state: StateMachine
    /// Every open connection by its number, until it closes or leaves the pool.
    private var connections: [StateMachine.ConnectionID: UpstreamConnection] = [:]
    private var nextID = 0
    /// Set by ``close()``: leases fail at once, and no timer or connect is started again.
    private var isClosed = false
    private var timer: Scheduled<Void>?
    private var timerDeadline: NIODeadline?
    /// Connects started so far.
    private(set) var connectAttempts = 0

    init(
        eventLoop: any EventLoop,
        address: UpstreamAddress,
        maxConnections: Int = UpstreamPool.defaultMaxConnections,
        connectTimeout: TimeAmount = UpstreamPool.defaultConnectTimeout,
        queueTimeout: TimeAmount = UpstreamPool.defaultConnectTimeout,
        idleTimeout: TimeAmount = .seconds(30),
        deadlineSleep: TimeAmount? = nil,
        logger: Logger = Logger(label: "sidecar.upstream")
    ) {
        self.eventLoop = eventLoop
        self.deadlines = DeadlineSweeper(eventLoop: eventLoop, maximumSleep: deadlineSleep)
        self.address = address
        self.connectTimeout = connectTimeout
        self.logger = logger
        self.state = StateMachine(
            configuration: .init(
                maxConnections: maxConnections,
                queueTimeout: queueTimeout,
                idleTimeout: idleTimeout
            )
        )
    }

    /// Asks for a connection for one exchange: `waiter` is called back on this loop, perhaps before
    /// this returns, with an idle connection, a new one, or the reason there is none.
    func lease(for waiter: some UpstreamLeaseWaiter) {
        eventLoop.preconditionInEventLoop()
        if isClosed {
            waiter.leaseFailed(.gatewayDown)
            return
        }
        run(state.leaseRequested(by: WaiterReference(waiter: waiter), now: self.eventLoop.now))
    }

    /// Withdraws a lease request still waiting; `waiter` is not called back.
    func cancel(_ waiter: some UpstreamLeaseWaiter) {
        eventLoop.preconditionInEventLoop()
        run(state.waiterCancelled(WaiterReference(waiter: waiter), now: self.eventLoop.now))
    }

    /// Takes a connection back after an exchange; closes it unless `reusable`.
    func release(_ connection: UpstreamConnection, reusable: Bool) {
        eventLoop.preconditionInEventLoop()
        connection.delegate = nil
        connection.resumeReads()
        guard let id = connection.poolID else {
            connection.abort()
            return
        }
        run(state.connectionReleased(id, reusable: reusable && connection.isActive, now: self.eventLoop.now))
    }

    /// Closes every idle connection and answers every waiter.
    func close() {
        eventLoop.preconditionInEventLoop()
        // From now on nothing is scheduled or connected: the loop may be shutting down, and a
        // connection that closes later must not schedule work on it.
        isClosed = true
        timer?.cancel()
        timer = nil
        timerDeadline = nil
        var actions = state.closeAll()
        actions.timer = nil
        run(actions)
    }

    /// The connection handler of an upstream channel.
    static func connection(on channel: any Channel) throws -> UpstreamConnection {
        try channel.pipeline.syncOperations.handler(type: UpstreamConnection.self)
    }

    /// A connection's handler left its still-open channel (the exchange became a tunnel).
    func connectionLeft(_ connection: UpstreamConnection) {
        guard let id = connection.poolID else { return }
        connection.poolID = nil
        connections[id] = nil
        run(state.connectionClosed(id, now: self.eventLoop.now))
    }

    // MARK: Carrying out

    private func run(_ actions: StateMachine.Actions) {
        for id in actions.close {
            if let connection = connections.removeValue(forKey: id) {
                connection.poolID = nil
                connection.abort()
            }
        }
        if let deadline = actions.timer { wakeUp(by: deadline) }
        if !isClosed {
            for _ in 0..<actions.connect { connect() }
        }
        // Callbacks last: a waiter may lease again from inside one.
        for failure in actions.fail { failure.waiter.waiter.leaseFailed(failure.reason) }
        if let handOver = actions.handOver {
            if let connection = connections[handOver.connection], connection.channel?.isActive == true {
                handOver.waiter.waiter.leased(connection, reused: handOver.reused)
            } else {
                // Closed before its close came through: forget it and ask again for this waiter.
                if let connection = connections.removeValue(forKey: handOver.connection) {
                    connection.poolID = nil
                    connection.abort()
                }
                run(state.connectionClosed(handOver.connection, now: self.eventLoop.now))
                run(state.leaseRequested(by: handOver.waiter, now: self.eventLoop.now))
            }
        }
    }

    /// Makes sure ``UpstreamPoolStateMachine/tick(now:)`` runs no later than `deadline`.
    private func wakeUp(by deadline: NIODeadline) {
        if isClosed { return }
        if let timerDeadline, timerDeadline <= deadline { return }
        timer?.cancel()
        timerDeadline = deadline
        timer = eventLoop.assumeIsolated().scheduleTask(deadline: deadline) { [weak self] in
            guard let self else { return }
            self.timer = nil
            self.timerDeadline = nil
            self.run(self.state.tick(now: self.eventLoop.now))
        }
    }

    private func connect() {
        connectAttempts += 1
        makeChannel().assumeIsolated().whenComplete { [weak self] result in
            guard let self else {
                if case .success(let channel) = result { channel.close(promise: nil) }
                return
            }
            switch result {
            case .success(let channel):
                guard channel.isActive, let connection = try? Self.connection(on: channel) else {
                    channel.close(promise: nil)
                    self.logger.warning("upstream connection closed as it opened")
                    self.run(self.state.connectFailed(now: self.eventLoop.now))
                    return
                }
                let id = self.nextID
                self.nextID += 1
                connection.poolID = id
                connection.pool = self
                self.connections[id] = connection
                channel.closeFuture.assumeIsolated().whenComplete { [weak self] _ in
                    self?.closed(id, connection: connection)
                }
                self.run(self.state.connectionEstablished(id, now: self.eventLoop.now))
            case .failure(let error):
                self.logger.warning(
                    "upstream connection failed",
                    metadata: ["upstream": "\(self.address)", "error": "\(error)"]
                )
                self.run(self.state.connectFailed(now: self.eventLoop.now))
            }
        }
    }

    private func closed(_ id: StateMachine.ConnectionID, connection: UpstreamConnection) {
        guard connection.poolID == id else { return }
        connection.poolID = nil
        connections[id] = nil
        run(state.connectionClosed(id, now: self.eventLoop.now))
    }

    private func makeChannel() -> EventLoopFuture<any Channel> {
        guard let bootstrap = ClientBootstrap(validatingGroup: eventLoop) else {
            return eventLoop.makeFailedFuture(ChannelError.operationUnsupported)
        }
        let configured =
            bootstrap
            .connectTimeout(connectTimeout)
            .channelOption(.tcpOption(.tcp_nodelay), value: 1)
            .channelInitializer { channel in
                channel.eventLoop.makeCompletedFuture {
                    // The connection speaks HTTP/1 itself; every header field it sends was checked
                    // on the way in (HTTP/1 by the request parser, HTTP/2 by
                    // `ForwardingPolicy.isSendableField`), so nothing validates them again.
                    try channel.pipeline.syncOperations.addHandler(UpstreamConnection())
                }
            }
        switch address {
        case .tcp(let host, let port):
            return configured.connect(host: host, port: port)
        case .unix(let path):
            return configured.connect(unixDomainSocketPath: path)
        }
    }
}
