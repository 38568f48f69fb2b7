import NIOCore
import Testing

@testable import Sidecar

@Suite("UpstreamPoolStateMachine")
struct UpstreamPoolStateMachineTests {
    typealias Machine = UpstreamPoolStateMachine<Int>
    typealias Actions = Machine.Actions

    static let start = NIODeadline.uptimeNanoseconds(1_000_000_000)

    static func at(_ milliseconds: Int64) -> NIODeadline {
        start + .milliseconds(milliseconds)
    }

    static func machine(cap: Int = 2, queueTimeout: TimeAmount = .seconds(5)) -> Machine {
        Machine(configuration: .init(maxConnections: cap, queueTimeout: queueTimeout, idleTimeout: .seconds(30)))
    }

    /// A machine whose first connect succeeded: `leased` connections 100, 101, … leased to waiters 0, 1, ….
    static func upMachine(cap: Int = 2, leased: Int = 1) -> Machine {
        var machine = machine(cap: cap)
        _ = machine.leaseRequested(by: 0, now: start)
        _ = machine.connectionEstablished(100, now: start)
        for index in 1..<leased {
            let actions = machine.leaseRequested(by: index, now: start)
            precondition(actions.connect == 1)
            _ = machine.connectionEstablished(100 + index, now: start)
        }
        return machine
    }

    static func handOver(_ waiter: Int, _ connection: Int, reused: Bool) -> Machine.HandOver {
        Machine.HandOver(waiter: waiter, connection: connection, reused: reused)
    }

    static func failure(_ waiter: Int, _ reason: UpstreamLeaseFailure) -> Machine.Failure {
        Machine.Failure(waiter: waiter, reason: reason)
    }

    // MARK: Cap and queue

    @Test func theFirstConnectRunsAloneThenConnectsFollowDemandUpToTheCap() {
        var machine = Self.machine(cap: 2)
        #expect(machine.leaseRequested(by: 1, now: Self.start) == Actions(connect: 1, timer: Self.at(5000)))
        // Nothing is known of the gateway yet: the second request waits for the first connect.
        #expect(machine.leaseRequested(by: 2, now: Self.start).connect == 0)
        #expect(machine.leaseRequested(by: 3, now: Self.start).connect == 0)
        // It succeeded: the first waiter gets it and one more connect starts; the cap stops a third.
        let established = machine.connectionEstablished(10, now: Self.at(1))
        #expect(established.handOver == Self.handOver(1, 10, reused: false))
        #expect(established.connect == 1)
        #expect(machine.connectionCount == 2)
        #expect(machine.leaseRequested(by: 4, now: Self.at(2)).connect == 0)
        #expect(machine.connectionEstablished(11, now: Self.at(3)).handOver == Self.handOver(2, 11, reused: false))
        #expect(machine.connectionCount == 2)
        #expect(machine.waitingCount == 2)
    }

    @Test func releasedConnectionsGoToWaitersInArrivalOrder() {
        var machine = Self.upMachine(cap: 2, leased: 2)
        for waiter in [5, 6, 7] {
            #expect(machine.leaseRequested(by: waiter, now: Self.at(10)) == Actions(timer: Self.at(5010)))
        }
        #expect(
            machine.connectionReleased(101, reusable: true, now: Self.at(20)).handOver
                == Self.handOver(5, 101, reused: true)
        )
        #expect(
            machine.connectionReleased(100, reusable: true, now: Self.at(21)).handOver
                == Self.handOver(6, 100, reused: true)
        )
        #expect(
            machine.connectionReleased(101, reusable: true, now: Self.at(22)).handOver
                == Self.handOver(7, 101, reused: true)
        )
        #expect(machine.waitingCount == 0)
        #expect(machine.connectionCount == 2)
    }

    @Test func aConnectionReleasedUnusableIsClosedAndReplacedForTheNextWaiter() {
        var machine = Self.upMachine(cap: 1, leased: 1)
        _ = machine.leaseRequested(by: 5, now: Self.at(10))
        let released = machine.connectionReleased(100, reusable: false, now: Self.at(20))
        #expect(released.close == [100])
        #expect(released.handOver == nil)
        #expect(released.connect == 1)
        #expect(machine.connectionEstablished(102, now: Self.at(21)).handOver == Self.handOver(5, 102, reused: false))
    }

    @Test func aWaiterStillQueuedAtItsDeadlineIsAnswered503() {
        var machine = Self.upMachine(cap: 1, leased: 1)
        #expect(machine.leaseRequested(by: 5, now: Self.at(100)).timer == Self.at(5100))
        #expect(machine.tick(now: Self.at(5099)).fail.isEmpty)
        let expired = machine.tick(now: Self.at(5100))
        #expect(expired.fail == [Self.failure(5, .queueTimeout)])
        #expect(machine.waitingCount == 0)
        // The connection released later has nobody to serve: it waits idle.
        #expect(machine.connectionReleased(100, reusable: true, now: Self.at(5200)).handOver == nil)
        #expect(machine.idleCount == 1)
    }

    @Test func aWaiterOfAConnectThatHangsIsAnswered502NotQueueTimeout() {
        var machine = Self.machine(cap: 4)
        _ = machine.leaseRequested(by: 1, now: Self.start)
        #expect(machine.tick(now: Self.at(5000)).fail == [Self.failure(1, .gatewayDown)])
    }

    @Test func aCancelledWaiterLeavesTheQueue() {
        var machine = Self.upMachine(cap: 1, leased: 1)
        _ = machine.leaseRequested(by: 5, now: Self.at(10))
        _ = machine.leaseRequested(by: 6, now: Self.at(11))
        #expect(machine.waiterCancelled(5, now: Self.at(12)) == Actions(timer: Self.at(5011)))
        #expect(machine.waitingCount == 1)
        #expect(
            machine.connectionReleased(100, reusable: true, now: Self.at(13)).handOver
                == Self.handOver(6, 100, reused: true)
        )
        // Cancelling an unknown waiter changes nothing.
        #expect(machine.waiterCancelled(42, now: Self.at(14)) == Actions())
    }

    @Test func aLeasedConnectionThatClosesOrBecomesATunnelFreesItsPlace() {
        var machine = Self.upMachine(cap: 1, leased: 1)
        _ = machine.leaseRequested(by: 5, now: Self.at(10))
        let closed = machine.connectionClosed(100, now: Self.at(20))
        #expect(closed.connect == 1)
        #expect(machine.connectionCount == 1)
        // Its exchange releases it afterwards: only a close, no count goes negative.
        #expect(
            machine.connectionReleased(100, reusable: false, now: Self.at(21))
                == Actions(close: [100], timer: Self.at(5010))
        )
        #expect(machine.connectionCount == 1)
    }

    // MARK: Back-off

    @Test func aConnectFailureAnswersEveryoneWaitingForItAndLaterRequestsFailFast() {
        var machine = Self.machine(cap: 8)
        #expect(machine.leaseRequested(by: 1, now: Self.start).connect == 1)
        #expect(machine.leaseRequested(by: 2, now: Self.start).connect == 0)
        let failed = machine.connectFailed(now: Self.at(1))
        #expect(failed.fail == [Self.failure(2, .gatewayDown), Self.failure(1, .gatewayDown)])
        #expect(failed.connect == 0)
        #expect(machine.health == .down(failures: 1, retryAt: Self.at(101)))
        // Within the back-off: no connect, an answer at once.
        for waiter in 3...20 {
            let actions = machine.leaseRequested(by: waiter, now: Self.at(50))
            #expect(actions == Actions(fail: [Self.failure(waiter, .gatewayDown)]))
        }
        #expect(machine.connectionCount == 0)
    }

    @Test func afterTheBackoffOneRequestProbesAndTheOthersFailFast() {
        var machine = Self.machine(cap: 8)
        _ = machine.leaseRequested(by: 1, now: Self.start)
        _ = machine.connectFailed(now: Self.start)
        // The back-off is over: this request starts the one attempt and waits for it.
        let probe = machine.leaseRequested(by: 2, now: Self.at(100))
        #expect(probe.connect == 1)
        #expect(probe.fail.isEmpty)
        // While it runs, others are answered at once.
        #expect(machine.leaseRequested(by: 3, now: Self.at(101)).fail == [Self.failure(3, .gatewayDown)])
        // It fails too: the wait doubles.
        #expect(machine.connectFailed(now: Self.at(110)).fail == [Self.failure(2, .gatewayDown)])
        #expect(machine.health == .down(failures: 2, retryAt: Self.at(310)))
        #expect(machine.leaseRequested(by: 4, now: Self.at(309)).fail == [Self.failure(4, .gatewayDown)])
        #expect(machine.leaseRequested(by: 5, now: Self.at(310)).connect == 1)
    }

    @Test func aSuccessfulConnectEndsTheBackoff() {
        var machine = Self.machine(cap: 8)
        _ = machine.leaseRequested(by: 1, now: Self.start)
        _ = machine.connectFailed(now: Self.start)
        _ = machine.leaseRequested(by: 2, now: Self.at(100))
        #expect(machine.connectionEstablished(10, now: Self.at(101)).handOver == Self.handOver(2, 10, reused: false))
        #expect(machine.health == .up)
        // Up again: connects run side by side as requests need them.
        #expect(machine.leaseRequested(by: 3, now: Self.at(102)).connect == 1)
        #expect(machine.leaseRequested(by: 4, now: Self.at(102)).connect == 1)
        // The next failure starts the back-off from its first step again.
        _ = machine.connectFailed(now: Self.at(200))
        #expect(machine.health == .down(failures: 1, retryAt: Self.at(300)))
    }

    @Test func whileDownWaitersALeasedConnectionCanServeKeepTheirTurn() {
        var machine = Self.upMachine(cap: 3, leased: 2)
        #expect(machine.leaseRequested(by: 5, now: Self.at(10)).connect == 1)
        // The connect fails, but two leased connections may come back: the waiter stays.
        #expect(machine.connectFailed(now: Self.at(20)).fail.isEmpty)
        #expect(
            machine.connectionReleased(100, reusable: true, now: Self.at(30)).handOver
                == Self.handOver(5, 100, reused: true)
        )
        // An idle connection still serves while down.
        _ = machine.connectionReleased(101, reusable: true, now: Self.at(40))
        #expect(machine.leaseRequested(by: 6, now: Self.at(41)).handOver == Self.handOver(6, 101, reused: true))
    }

    @Test func theBackoffDoublesFromAHundredMillisecondsToItsCeiling() {
        let machine = Self.machine()
        #expect(machine.backoff(afterFailures: 1) == .milliseconds(100))
        #expect(machine.backoff(afterFailures: 2) == .milliseconds(200))
        #expect(machine.backoff(afterFailures: 3) == .milliseconds(400))
        #expect(machine.backoff(afterFailures: 6) == .milliseconds(3200))
        #expect(machine.backoff(afterFailures: 7) == .milliseconds(3200))
        #expect(machine.backoff(afterFailures: 10_000) == .milliseconds(3200))
    }

    // MARK: Idle

    @Test func idleConnectionsCloseAfterTheIdleTimeout() {
        var machine = Self.upMachine(cap: 2, leased: 2)
        #expect(machine.connectionReleased(100, reusable: true, now: Self.at(0)).timer == Self.at(30_000))
        #expect(machine.connectionReleased(101, reusable: true, now: Self.at(1000)).timer == Self.at(30_000))
        #expect(machine.tick(now: Self.at(29_999)).close.isEmpty)
        let first = machine.tick(now: Self.at(30_000))
        #expect(first.close == [100])
        #expect(first.timer == Self.at(31_000))
        #expect(machine.tick(now: Self.at(31_000)) == Actions(close: [101]))
        #expect(machine.connectionCount == 0)
    }

    @Test func theMostRecentlyUsedIdleConnectionIsLeasedFirst() {
        var machine = Self.upMachine(cap: 2, leased: 2)
        _ = machine.connectionReleased(100, reusable: true, now: Self.at(0))
        _ = machine.connectionReleased(101, reusable: true, now: Self.at(10))
        #expect(machine.leaseRequested(by: 7, now: Self.at(20)).handOver == Self.handOver(7, 101, reused: true))
    }

    @Test func anExpiredIdleConnectionIsClosedRatherThanLeased() {
        var machine = Self.upMachine(cap: 1, leased: 1)
        _ = machine.connectionReleased(100, reusable: true, now: Self.at(0))
        let late = machine.leaseRequested(by: 7, now: Self.at(30_000))
        #expect(late.close == [100])
        #expect(late.handOver == nil)
        #expect(late.connect == 1)
    }

    @Test func anIdleConnectionTheGatewayClosedIsForgotten() {
        var machine = Self.upMachine(cap: 1, leased: 1)
        _ = machine.connectionReleased(100, reusable: true, now: Self.at(0))
        #expect(machine.connectionClosed(100, now: Self.at(5)) == Actions())
        #expect(machine.idleCount == 0)
        #expect(machine.leaseRequested(by: 7, now: Self.at(6)).connect == 1)
    }

    @Test func closingAllClosesIdleConnectionsAndAnswersWaiters() {
        var machine = Self.upMachine(cap: 1, leased: 1)
        _ = machine.connectionReleased(100, reusable: true, now: Self.at(0))
        #expect(machine.closeAll() == Actions(close: [100]))
        #expect(machine.idleCount == 0)
        _ = machine.leaseRequested(by: 7, now: Self.at(1))
        _ = machine.leaseRequested(by: 8, now: Self.at(1))
        #expect(machine.closeAll() == Actions(fail: [Self.failure(7, .gatewayDown), Self.failure(8, .gatewayDown)]))
        #expect(machine.waitingCount == 0)
    }
}
