import NIOCore

/// The decisions of one event loop's upstream pool: how many connections it may hold, who waits
/// for one and until when, when it may connect while the gateway is down, which idle connection closes.
///
/// No channel and no clock inside: the ``UpstreamPool`` feeds events in with the current time and
/// carries out the ``Actions`` each returns, so every transition is tested with plain values.
///
/// - Every connection counts against ``Configuration/maxConnections``: idle, leased or connecting.
///   A lease request takes the most recently used idle connection; else it waits in a FIFO queue
///   until a connection is established or released for it, or its deadline passes (then
///   ``UpstreamLeaseFailure/queueTimeout`` when the cap is what kept it waiting).
/// - Until a connection has been established once, and after a connect failure, one connect runs
///   at a time. After a failure the next waits out a back-off (doubling from
///   ``Configuration/backoffBase`` to ``Configuration/backoffMax``), and a request nothing can
///   serve meanwhile fails at once (``UpstreamLeaseFailure/gatewayDown``) instead of connecting
///   itself. A successful connect ends the back-off.
/// - Idle connections close after ``Configuration/idleTimeout``.
struct UpstreamPoolStateMachine<Waiter: Equatable> {
    /// A connection, as the pool numbers it.
    typealias ConnectionID = Int

    /// The pool's limits.
    struct Configuration: Sendable, Equatable {
        /// Connections at most: idle, leased and connecting together.
        var maxConnections: Int
        /// How long a lease request waits in the queue.
        var queueTimeout: TimeAmount
        /// How long a connection stays idle before it is closed.
        var idleTimeout: TimeAmount
        /// The wait after the first connect failure; it doubles with each further one.
        var backoffBase: TimeAmount = .milliseconds(100)
        /// The longest wait between two connect attempts.
        var backoffMax: TimeAmount = .milliseconds(3200)
    }

    /// What the pool knows of the gateway.
    enum Health: Equatable {
        /// No connect has completed yet: one attempt at a time, requests wait for it.
        case unknown
        /// The last connect succeeded: connect as many as the waiters need, up to the cap.
        case up
        /// The last `failures` connects failed: one attempt at a time, none before `retryAt`.
        case down(failures: Int, retryAt: NIODeadline)
    }

    /// A connection handed to a waiter.
    struct HandOver: Equatable {
        var waiter: Waiter
        var connection: ConnectionID
        /// Whether it served an exchange before (idle or just released), rather than new.
        var reused: Bool
    }

    /// A waiter answered without a connection.
    struct Failure: Equatable {
        var waiter: Waiter
        var reason: UpstreamLeaseFailure
    }

    /// What the pool must do after an event, in this order: close, answer, connect, schedule.
    struct Actions: Equatable {
        /// Connections to close (expired while idle, or released as not reusable).
        var close: [ConnectionID] = []
        /// A connection for a waiter; at most one per event.
        var handOver: HandOver? = nil
        /// Waiters to answer with an error.
        var fail: [Failure] = []
        /// New connections to start.
        var connect = 0
        /// When the pool must call ``tick(now:)`` next at the latest; `nil`: nothing is due.
        var timer: NIODeadline? = nil
    }

    /// A connection waiting for an exchange, and since when.
    private struct IdleConnection {
        var id: ConnectionID
        var since: NIODeadline
    }

    /// A lease request in the queue, and when it gives up.
    private struct Waiting {
        var waiter: Waiter
        var deadline: NIODeadline
    }

    let configuration: Configuration
    private(set) var health = Health.unknown
    /// Connections being established.
    private(set) var connecting = 0
    private var leased: Set<ConnectionID> = []
    /// Least recently used first: leases take from the end, expiry closes from the start (O(n),
    /// but only as connections expire, and n is at most the cap).
    private var idle: [IdleConnection] = []
    /// When the first of `idle` went idle. Kept apart so that leasing and releasing read no element
    /// of a collection: in a debug build each such read allocates (the allocation test counts them).
    private var oldestIdleSince: NIODeadline?
    /// Oldest first. Every waiter gets the same timeout, so the first one's deadline comes first.
    private var waiters = CircularBuffer<Waiting>()

    init(configuration: Configuration) {
        precondition(configuration.maxConnections > 0, "a pool needs room for one connection")
        self.configuration = configuration
    }

    /// Connections leased to exchanges.
    var leasedCount: Int { leased.count }
    /// Connections waiting for an exchange.
    var idleCount: Int { idle.count }
    /// Lease requests waiting for a connection.
    var waitingCount: Int { waiters.count }
    /// Every connection the pool holds or is opening.
    var connectionCount: Int { connecting + leased.count + idle.count }

    // MARK: Events

    /// An exchange needs a connection.
    mutating func leaseRequested(by waiter: Waiter, now: NIODeadline) -> Actions {
        var actions = Actions()
        closeExpiredIdle(now: now, into: &actions)
        if let connection = idle.popLast() {
            if idle.isEmpty { oldestIdleSince = nil }
            leased.insert(connection.id)
            actions.handOver = HandOver(waiter: waiter, connection: connection.id, reused: true)
        } else {
            waiters.append(Waiting(waiter: waiter, deadline: now + configuration.queueTimeout))
            settle(now: now, into: &actions)
        }
        return finish(actions)
    }

    /// A waiter no longer needs a connection (its client went away).
    mutating func waiterCancelled(_ waiter: Waiter, now: NIODeadline) -> Actions {
        if let index = waiters.firstIndex(where: { $0.waiter == waiter }) {
            waiters.remove(at: index)
        }
        return finish(Actions())
    }

    /// A connect started by a ``Actions/connect`` action succeeded; the pool numbered it `id`.
    mutating func connectionEstablished(_ id: ConnectionID, now: NIODeadline) -> Actions {
        precondition(connecting > 0, "a connection was established that was never started")
        connecting -= 1
        health = .up
        var actions = Actions()
        serveNextWaiter(with: id, reused: false, now: now, into: &actions)
        settle(now: now, into: &actions)
        return finish(actions)
    }

    /// A connect started by a ``Actions/connect`` action failed or timed out.
    mutating func connectFailed(now: NIODeadline) -> Actions {
        precondition(connecting > 0, "a connect failed that was never started")
        connecting -= 1
        let failures: Int
        if case .down(let previous, _) = health {
            failures = previous + 1
        } else {
            failures = 1
        }
        health = .down(failures: failures, retryAt: now + backoff(afterFailures: failures))
        var actions = Actions()
        settle(now: now, into: &actions)
        return finish(actions)
    }

    /// An exchange is done with a leased connection; `reusable` when it may serve another.
    mutating func connectionReleased(_ id: ConnectionID, reusable: Bool, now: NIODeadline) -> Actions {
        var actions = Actions()
        guard leased.remove(id) != nil else {
            // Already gone (it closed while leased): nothing to count, only to close.
            actions.close.append(id)
            return finish(actions)
        }
        if reusable {
            serveNextWaiter(with: id, reused: true, now: now, into: &actions)
        } else {
            actions.close.append(id)
        }
        settle(now: now, into: &actions)
        return finish(actions)
    }

    /// A connection closed, or left the pool (it became a tunnel), without being released.
    ///
    /// An idle one is forgotten; a leased one frees its place (its exchange learns of the close
    /// itself). Unknown ones, such as those closed by a ``Actions/close`` action, are ignored.
    mutating func connectionClosed(_ id: ConnectionID, now: NIODeadline) -> Actions {
        if leased.remove(id) == nil {
            guard let index = idle.firstIndex(where: { $0.id == id }) else { return finish(Actions()) }
            idle.remove(at: index)
            oldestIdleSince = idle.isEmpty ? nil : idle[0].since
        }
        var actions = Actions()
        settle(now: now, into: &actions)
        return finish(actions)
    }

    /// The time asked for by ``Actions/timer`` came (or passed): waiters time out, idle connections expire.
    mutating func tick(now: NIODeadline) -> Actions {
        var actions = Actions()
        while let first = waiters.first, first.deadline <= now {
            waiters.removeFirst()
            // Waiting because every place was taken is a queue timeout (503); waiting for a connect
            // that has not completed in that time is the gateway's failure (502).
            let reason: UpstreamLeaseFailure =
                connectionCount >= configuration.maxConnections ? .queueTimeout : .gatewayDown
            actions.fail.append(Failure(waiter: first.waiter, reason: reason))
        }
        closeExpiredIdle(now: now, into: &actions)
        settle(now: now, into: &actions)
        return finish(actions)
    }

    /// The pool shuts down: idle connections close and waiters are answered.
    mutating func closeAll() -> Actions {
        var actions = Actions()
        actions.close = idle.map(\.id)
        idle.removeAll()
        oldestIdleSince = nil
        actions.fail = waiters.map { Failure(waiter: $0.waiter, reason: .gatewayDown) }
        waiters.removeAll()
        return actions
    }

    // MARK: Rules

    /// Whether a new connect may start now, the cap aside.
    private func mayConnect(now: NIODeadline) -> Bool {
        switch health {
        case .up: true
        case .unknown: connecting == 0
        case .down(_, let retryAt): connecting == 0 && now >= retryAt
        }
    }

    /// Starts the connects the waiters need and may have; while the gateway is down, answers the
    /// waiters nothing in progress can serve, newest first, so the oldest keep their turn.
    private mutating func settle(now: NIODeadline, into actions: inout Actions) {
        while waiters.count > connecting, connectionCount < configuration.maxConnections, mayConnect(now: now) {
            connecting += 1
            actions.connect += 1
        }
        guard case .down = health else { return }
        while waiters.count > connecting + leased.count, let newest = waiters.popLast() {
            actions.fail.append(Failure(waiter: newest.waiter, reason: .gatewayDown))
        }
    }

    /// Hands the open connection `id` to the first waiter, or keeps it idle when none waits.
    private mutating func serveNextWaiter(
        with id: ConnectionID,
        reused: Bool,
        now: NIODeadline,
        into actions: inout Actions
    ) {
        if let first = waiters.popFirst() {
            leased.insert(id)
            actions.handOver = HandOver(waiter: first.waiter, connection: id, reused: reused)
        } else {
            makeIdle(id, now: now)
        }
    }

    private mutating func makeIdle(_ id: ConnectionID, now: NIODeadline) {
        if idle.isEmpty { oldestIdleSince = now }
        idle.append(IdleConnection(id: id, since: now))
    }

    private mutating func closeExpiredIdle(now: NIODeadline, into actions: inout Actions) {
        while let oldest = oldestIdleSince, now - oldest >= configuration.idleTimeout {
            actions.close.append(idle.removeFirst().id)
            oldestIdleSince = idle.isEmpty ? nil : idle[0].since
        }
    }

    private func finish(_ actions: Actions) -> Actions {
        var actions = actions
        // `isEmpty` first: it reads no element (see `oldestIdleSince`).
        let waiterDeadline = waiters.isEmpty ? nil : waiters.first?.deadline
        var idleDeadline: NIODeadline?
        if let oldestIdleSince { idleDeadline = oldestIdleSince + configuration.idleTimeout }
        switch (waiterDeadline, idleDeadline) {
        case (let waiter?, let idle?): actions.timer = min(waiter, idle)
        case (let waiter?, nil): actions.timer = waiter
        case (nil, let idle?): actions.timer = idle
        case (nil, nil): actions.timer = nil
        }
        return actions
    }

    /// The wait before the next attempt after `failures` consecutive connect failures.
    func backoff(afterFailures failures: Int) -> TimeAmount {
        let doublings = min(max(failures - 1, 0), 30)
        let nanoseconds = configuration.backoffBase.nanoseconds.multipliedReportingOverflow(by: 1 << doublings)
        if nanoseconds.overflow { return configuration.backoffMax }
        return .nanoseconds(min(nanoseconds.partialValue, configuration.backoffMax.nanoseconds))
    }
}
