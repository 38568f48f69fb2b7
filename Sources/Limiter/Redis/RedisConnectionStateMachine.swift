import NIOCore

/// The life of one event loop's Redis connection, as a plain state machine returning actions.
///
/// It connects (TCP, `AUTH`, `SELECT`), loads the script, and is ready; a failed attempt or a
/// dropped connection backs off (doubling from `initialBackoff` up to `maximumBackoff`, reset once
/// ready) and tries again. A reply that says the server can no longer take writes (`READONLY`: a
/// demoted master; `LOADING`: a restarted one) drains the connection: it is closed, and the next
/// connect resolves the address again, so a managed Redis's failover behind one DNS name is
/// followed. Whether a batch goes to Redis at all is the ``CircuitBreaker``'s decision, not this.
public struct RedisConnectionStateMachine: Sendable {
    public enum State: Sendable, Equatable {
        /// Not started.
        case idle
        /// TCP connection and set-up under way.
        case connecting
        /// Connected; `SCRIPT LOAD` under way.
        case loadingScript
        /// Batches can be sent.
        case ready
        /// The connection is being closed (a failover reply); a new one follows once it is.
        case draining
        /// Waiting `delay` before the next attempt.
        case backingOff(delay: TimeAmount)
        case closed
    }

    /// What the owner does next.
    public enum Action: Sendable, Equatable {
        case none
        /// Open a connection (resolving the address again).
        case connect
        /// Load the script on the new connection.
        case loadScript
        /// Batches can go out: what Redis held may be gone (a restart, a failover), so cached
        /// denials are dropped.
        case becameReady
        /// Close the connection; ``connectionClosed()`` follows.
        case closeConnection
        /// Call ``backoffPassed()`` after `delay`.
        case scheduleReconnect(delay: TimeAmount)
        /// Close the connection, if any, and cancel a scheduled reconnect; nothing follows.
        case shutDown
    }

    public private(set) var state: State = .idle
    /// The delay of the next back-off.
    private var nextBackoff: TimeAmount
    public let initialBackoff: TimeAmount
    public let maximumBackoff: TimeAmount

    public init(initialBackoff: TimeAmount = .milliseconds(250), maximumBackoff: TimeAmount = .seconds(5)) {
        self.initialBackoff = initialBackoff
        self.maximumBackoff = max(initialBackoff, maximumBackoff)
        nextBackoff = initialBackoff
    }

    /// Whether batches can be sent.
    public var isReady: Bool { state == .ready }

    /// Whether an attempt is under way (a batch arriving now need not count as a failure).
    public var isConnecting: Bool { state == .connecting || state == .loadingScript }

    /// A check arrived, or the limiter started: connect unless connected, connecting or waiting.
    public mutating func start() -> Action {
        guard state == .idle else { return .none }
        state = .connecting
        return .connect
    }

    /// The connection and its set-up succeeded.
    public mutating func connected() -> Action {
        guard state == .connecting else { return state == .closed ? .shutDown : .none }
        state = .loadingScript
        return .loadScript
    }

    /// The script is loaded.
    public mutating func scriptLoaded() -> Action {
        guard state == .loadingScript else { return .none }
        state = .ready
        nextBackoff = initialBackoff
        return .becameReady
    }

    /// Connecting or loading the script failed (a connection left open is closed by the owner).
    public mutating func attemptFailed() -> Action {
        guard isConnecting else { return .none }
        return backOff()
    }

    /// A reply said the server cannot take writes now (see ``RedisError/isFailover``), or the
    /// sentinels announced another master.
    public mutating func failoverReplied() -> Action {
        guard state == .ready else { return .none }
        state = .draining
        return .closeConnection
    }

    /// The connection closed (after ``Action/closeConnection`` or by itself).
    public mutating func connectionClosed() -> Action {
        switch state {
        case .ready, .loadingScript, .draining:
            return backOff()
        case .idle, .connecting, .backingOff, .closed:
            return .none
        }
    }

    /// The back-off passed.
    public mutating func backoffPassed() -> Action {
        guard case .backingOff = state else { return .none }
        state = .connecting
        return .connect
    }

    /// The limiter is closing.
    public mutating func close() -> Action {
        guard state != .closed else { return .none }
        state = .closed
        return .shutDown
    }

    private mutating func backOff() -> Action {
        let delay = nextBackoff
        nextBackoff = min(nextBackoff * 2, maximumBackoff)
        state = .backingOff(delay: delay)
        return .scheduleReconnect(delay: delay)
    }
}
