import NIOCore
import NIOEmbedded
import Testing

@testable import Sidecar

/// The pool carrying out its state machine's actions, on an embedded loop where every connect fails.
@Suite("UpstreamPool")
struct UpstreamPoolTests {
    /// Records what the pool answers.
    final class Waiter: UpstreamLeaseWaiter {
        var failures: [UpstreamLeaseFailure] = []
        var leases = 0

        func leased(_ connection: UpstreamConnection, reused: Bool) {
            leases += 1
        }

        func leaseFailed(_ failure: UpstreamLeaseFailure) {
            failures.append(failure)
        }
    }

    @Test func aFailedConnectAnswersItsWaiterAndLaterRequestsFailWithoutConnecting() {
        let loop = EmbeddedEventLoop()
        let pool = UpstreamPool(eventLoop: loop, address: .unix(path: "/nonexistent"))
        let first = Waiter()
        pool.lease(for: first)
        #expect(first.failures == [.gatewayDown])
        #expect(pool.connectAttempts == 1)
        let others = (0..<10).map { _ in Waiter() }
        for waiter in others { pool.lease(for: waiter) }
        #expect(others.allSatisfy { $0.failures == [.gatewayDown] && $0.leases == 0 })
        #expect(pool.connectAttempts == 1)
        // After the back-off, one more attempt.
        loop.advanceTime(by: .milliseconds(100))
        let later = Waiter()
        pool.lease(for: later)
        #expect(later.failures == [.gatewayDown])
        #expect(pool.connectAttempts == 2)
    }

    @Test("once closed, the pool answers leases at once and starts no connect or timer")
    func aClosedPoolSchedulesNothing() {
        let loop = EmbeddedEventLoop()
        let pool = UpstreamPool(eventLoop: loop, address: .unix(path: "/nonexistent"))
        pool.close()
        let waiter = Waiter()
        pool.lease(for: waiter)
        #expect(waiter.failures == [.gatewayDown])
        #expect(pool.connectAttempts == 0)
    }

}
