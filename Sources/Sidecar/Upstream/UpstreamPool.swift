import Logging
import NIOCore
import NIOHTTP1
import NIOPosix

/// Keep-alive connections to the upstream for one event loop. Used only on that loop.
final class UpstreamPool {
    /// How a lease is served.
    enum Lease {
        /// An idle connection, ready now.
        case ready(UpstreamConnection)
        /// A new connection, ready when the future succeeds; see ``connection(on:)``.
        case connecting(EventLoopFuture<any Channel>)
    }

    let eventLoop: any EventLoop
    /// The deadlines of this loop's client connections and streams.
    let deadlines: DeadlineSweeper
    private let address: UpstreamAddress
    private let connectTimeout: TimeAmount
    private let maxIdle: Int
    private let idleTimeout: TimeAmount
    private var idle: [UpstreamConnection] = []
    private var sweep: Scheduled<Void>?

    init(
        eventLoop: any EventLoop,
        address: UpstreamAddress,
        connectTimeout: TimeAmount = .seconds(5),
        maxIdle: Int = 1024,
        idleTimeout: TimeAmount = .seconds(30)
    ) {
        self.eventLoop = eventLoop
        self.deadlines = DeadlineSweeper(eventLoop: eventLoop)
        self.address = address
        self.connectTimeout = connectTimeout
        self.maxIdle = maxIdle
        self.idleTimeout = idleTimeout
    }

    /// A connection for one exchange: the most recently used idle one, else a new one.
    func lease() -> Lease {
        eventLoop.preconditionInEventLoop()
        let now = NIODeadline.now()
        while let connection = idle.popLast() {
            if connection.isActive && now - connection.idleSince < idleTimeout {
                return .ready(connection)
            }
            connection.abort()
        }
        return .connecting(connect())
    }

    /// Takes a connection back after an exchange; closes it unless `reusable`.
    func release(_ connection: UpstreamConnection, reusable: Bool) {
        eventLoop.preconditionInEventLoop()
        connection.delegate = nil
        connection.resumeReads()
        guard reusable, connection.isActive, idle.count < maxIdle else {
            connection.abort()
            return
        }
        connection.idleSince = .now()
        idle.append(connection)
        scheduleSweep()
    }

    /// Closes every idle connection.
    func close() {
        sweep?.cancel()
        sweep = nil
        for connection in idle { connection.abort() }
        idle.removeAll()
    }

    private func scheduleSweep() {
        guard sweep == nil else { return }
        sweep = eventLoop.assumeIsolated().scheduleTask(in: idleTimeout) { [weak self] in
            guard let self else { return }
            self.sweep = nil
            self.closeExpired()
            if !self.idle.isEmpty { self.scheduleSweep() }
        }
    }

    private func closeExpired() {
        let now = NIODeadline.now()
        idle.removeAll { connection in
            let expired = !connection.isActive || now - connection.idleSince >= idleTimeout
            if expired { connection.abort() }
            return expired
        }
    }

    /// The connection handler of a channel made by ``lease()``.
    static func connection(on channel: any Channel) throws -> UpstreamConnection {
        try channel.pipeline.syncOperations.handler(type: UpstreamConnection.self)
    }

    private func connect() -> EventLoopFuture<any Channel> {
        guard let bootstrap = ClientBootstrap(validatingGroup: eventLoop) else {
            return eventLoop.makeFailedFuture(ChannelError.operationUnsupported)
        }
        let configured =
            bootstrap
            .connectTimeout(connectTimeout)
            .channelOption(.socketOption(.tcp_nodelay), value: 1)
            .channelInitializer { channel in
                channel.eventLoop.makeCompletedFuture {
                    try channel.pipeline.syncOperations.addHTTPClientHandlers(leftOverBytesStrategy: .forwardBytes)
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
