/// An exchange waiting for an upstream connection from its event loop's ``UpstreamPool``.
///
/// Exactly one of the two is called, on the pool's event loop, unless the waiter cancels first
/// (``UpstreamPool/cancel(_:)``); either may come before ``UpstreamPool/lease(for:)`` returns.
protocol UpstreamLeaseWaiter: AnyObject {
    /// A connection for one exchange; `reused` when it served one before. Give it back with
    /// ``UpstreamPool/release(_:reusable:)``.
    func leased(_ connection: UpstreamConnection, reused: Bool)
    /// No connection came.
    func leaseFailed(_ failure: UpstreamLeaseFailure)
}

/// Why a lease request got no connection.
enum UpstreamLeaseFailure: Error, Sendable, Equatable {
    /// The gateway refused or did not answer the connect, or is backing off after such a failure (502).
    case gatewayDown
    /// Every connection the pool may open stayed busy until the queue deadline (503).
    case queueTimeout
}
