import NIOCore

/// Whether to ask Redis, as a state machine over consecutive failures.
///
/// Closed: every batch goes to Redis. After ``threshold`` consecutive failures it opens: batches
/// are decided by the failure mode without waiting, until the back-off passes. Then one probe
/// batch goes to Redis (half open): success closes the breaker, failure opens it again with twice
/// the back-off, up to ``maximumBackoff``.
public struct CircuitBreaker: Sendable {
    public enum State: Sendable, Equatable {
        case closed(consecutiveFailures: Int)
        case open(until: NIODeadline, backoff: TimeAmount)
        case halfOpen(backoff: TimeAmount)
    }

    /// What to do with a batch.
    public enum Admission: Sendable, Equatable {
        /// Send it to Redis.
        case redis
        /// Send it to Redis as the probe of a half-open breaker.
        case probe
        /// Decide it by the failure mode.
        case fallback
    }

    public private(set) var state: State = .closed(consecutiveFailures: 0)
    /// Consecutive failures that open the breaker.
    public let threshold: Int
    /// Back-off after the breaker first opens.
    public let initialBackoff: TimeAmount
    /// Longest back-off.
    public let maximumBackoff: TimeAmount

    public init(
        threshold: Int = 3,
        initialBackoff: TimeAmount = .milliseconds(250),
        maximumBackoff: TimeAmount = .seconds(5)
    ) {
        self.threshold = max(1, threshold)
        self.initialBackoff = initialBackoff
        self.maximumBackoff = maximumBackoff
    }

    /// Whether Redis is believed reachable (for `sidecar_redis_up`).
    public var isClosed: Bool {
        if case .closed = state { return true }
        return false
    }

    public mutating func admit(now: NIODeadline) -> Admission {
        switch state {
        case .closed:
            return .redis
        case .open(let until, let backoff):
            guard now >= until else { return .fallback }
            state = .halfOpen(backoff: backoff)
            return .probe
        case .halfOpen:
            return .fallback
        }
    }

    public mutating func recordSuccess() {
        state = .closed(consecutiveFailures: 0)
    }

    public mutating func recordFailure(now: NIODeadline) {
        switch state {
        case .closed(let failures):
            if failures + 1 >= threshold {
                state = .open(until: now + initialBackoff, backoff: initialBackoff)
            } else {
                state = .closed(consecutiveFailures: failures + 1)
            }
        case .halfOpen(let backoff):
            let next = min(maximumBackoff, backoff * 2)
            state = .open(until: now + next, backoff: next)
        case .open:
            break
        }
    }
}
