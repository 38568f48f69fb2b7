import Limiter
import NIOCore
import Testing

/// The Redis connection's life as plain values: no server, no channel.
@Suite struct RedisConnectionStateMachineTests {
    typealias Machine = RedisConnectionStateMachine

    private func ready() -> Machine {
        var machine = Machine(initialBackoff: .milliseconds(100), maximumBackoff: .milliseconds(350))
        #expect(machine.start() == .connect)
        #expect(machine.connected() == .loadScript)
        #expect(machine.scriptLoaded() == .becameReady)
        #expect(machine.isReady)
        return machine
    }

    @Test func connectsLoadsTheScriptAndStartsOnce() {
        var machine = ready()
        #expect(machine.start() == .none)
        #expect(machine.connected() == .none)
        #expect(machine.scriptLoaded() == .none)
    }

    @Test func failedAttemptsBackOffDoublingUpToTheCap() {
        var machine = Machine(initialBackoff: .milliseconds(100), maximumBackoff: .milliseconds(350))
        #expect(machine.start() == .connect)
        var delays: [Int64] = []
        for _ in 0..<4 {
            #expect(machine.isConnecting)
            guard case .scheduleReconnect(let delay) = machine.attemptFailed() else {
                Issue.record("no reconnect scheduled")
                return
            }
            delays.append(delay.nanoseconds / 1_000_000)
            #expect(!machine.isConnecting)
            // Nothing starts a second attempt while backing off.
            #expect(machine.start() == .none)
            #expect(machine.backoffPassed() == .connect)
        }
        #expect(delays == [100, 200, 350, 350])
        // A failed script load backs off too, and success resets the back-off.
        #expect(machine.connected() == .loadScript)
        #expect(machine.attemptFailed() == .scheduleReconnect(delay: .milliseconds(350)))
        #expect(machine.backoffPassed() == .connect)
        #expect(machine.connected() == .loadScript)
        #expect(machine.scriptLoaded() == .becameReady)
        #expect(machine.connectionClosed() == .scheduleReconnect(delay: .milliseconds(100)))
    }

    @Test func aFailoverReplyDrainsTheConnectionThenReconnects() {
        var machine = ready()
        #expect(machine.failoverReplied() == .closeConnection)
        #expect(machine.state == .draining)
        #expect(!machine.isReady)
        // A second failover reply from the same batch's neighbours does nothing more.
        #expect(machine.failoverReplied() == .none)
        #expect(machine.connectionClosed() == .scheduleReconnect(delay: .milliseconds(100)))
        #expect(machine.backoffPassed() == .connect)
    }

    @Test func closingStopsEverything() {
        var machine = ready()
        #expect(machine.close() == .shutDown)
        #expect(machine.close() == .none)
        #expect(machine.connectionClosed() == .none)
        #expect(machine.backoffPassed() == .none)
        #expect(machine.start() == .none)

        // A connection that completes after closing is shut down at once.
        var connecting = Machine()
        #expect(connecting.start() == .connect)
        #expect(connecting.close() == .shutDown)
        #expect(connecting.connected() == .shutDown)
        #expect(connecting.attemptFailed() == .none)
    }

    @Test func aDroppedConnectionWhileIdleOrBackingOffIsIgnored() {
        var machine = Machine()
        #expect(machine.connectionClosed() == .none)
        #expect(machine.start() == .connect)
        _ = machine.attemptFailed()
        #expect(machine.connectionClosed() == .none)
        #expect(machine.failoverReplied() == .none)
    }
}
