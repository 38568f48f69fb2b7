import NIOCore
import NIOEmbedded
import Testing

@testable import Sidecar

@Suite("DeadlineWheel")
struct DeadlineWheelTests {
    /// Everything due at `now`, in the order handed out.
    private func drain(_ wheel: inout DeadlineWheel<String>, now: Int64) -> [String] {
        var due: [String] = []
        while let value = wheel.nextDue(now: now) { due.append(value) }
        return due
    }

    @Test func firesAtItsTickAndNotBefore() {
        var wheel = DeadlineWheel<String>(now: 0)
        wheel.schedule("a", at: 10)
        #expect(drain(&wheel, now: 9).isEmpty)
        #expect(wheel.count == 1)
        #expect(drain(&wheel, now: 10) == ["a"])
        #expect(wheel.count == 0)
        #expect(drain(&wheel, now: 11).isEmpty)
    }

    @Test func movingADeadlineKeepsOneEntry() {
        var wheel = DeadlineWheel<String>(now: 0)
        let entry = wheel.schedule("a", at: 5)
        let moved = wheel.schedule("a", at: 20, moving: entry)
        #expect(moved == entry)
        #expect(wheel.count == 1)
        #expect(drain(&wheel, now: 10).isEmpty)
        #expect(drain(&wheel, now: 20) == ["a"])
    }

    @Test func aCancelledDeadlineNeverFires() {
        var wheel = DeadlineWheel<String>(now: 0)
        let entry = wheel.schedule("a", at: 5)
        wheel.schedule("b", at: 5)
        wheel.cancel(entry)
        #expect(!wheel.isLive(entry))
        #expect(drain(&wheel, now: 5) == ["b"])
    }

    @Test func aStaleEntryDoesNotTouchTheDeadlineThatReusedItsNode() {
        var wheel = DeadlineWheel<String>(now: 0)
        let fired = wheel.schedule("a", at: 1)
        #expect(drain(&wheel, now: 1) == ["a"])
        let reused = wheel.schedule("b", at: 3)
        wheel.cancel(fired)
        let notMoved = wheel.schedule("c", at: 2, moving: fired)
        #expect(notMoved != reused)
        #expect(wheel.isLive(reused))
        #expect(drain(&wheel, now: 3).sorted() == ["b", "c"])
    }

    @Test func aTickAlreadyPassedIsDueAtTheNextSweep() {
        var wheel = DeadlineWheel<String>(now: 100)
        wheel.schedule("late", at: 40)
        #expect(drain(&wheel, now: 101) == ["late"])
    }

    @Test func deadlinesMoreThanATurnAwayWaitForTheirTurn() {
        // Eight slots: ticks 3, 11 and 19 share one.
        var wheel = DeadlineWheel<String>(slotBits: 3, now: 0)
        wheel.schedule("near", at: 3)
        wheel.schedule("next turn", at: 11)
        wheel.schedule("two turns", at: 19)
        #expect(drain(&wheel, now: 3) == ["near"])
        #expect(drain(&wheel, now: 10).isEmpty)
        #expect(drain(&wheel, now: 11) == ["next turn"])
        #expect(drain(&wheel, now: 18).isEmpty)
        #expect(drain(&wheel, now: 19) == ["two turns"])
    }

    @Test func aLongPauseFiresEverythingDueOnce() {
        var wheel = DeadlineWheel<String>(slotBits: 3, now: 0)
        for tick in 1...40 { wheel.schedule("t\(tick)", at: Int64(tick)) }
        wheel.schedule("later", at: 10_050)
        #expect(drain(&wheel, now: 10_000).count == 40)
        #expect(wheel.count == 1)
        #expect(drain(&wheel, now: 10_050) == ["later"])
    }

    @Test func aValueHandedOutMayCancelAnotherThatWasDue() {
        var wheel = DeadlineWheel<String>(now: 0)
        var entries: [String: DeadlineWheel<String>.Entry] = [:]
        for name in ["a", "b", "c"] { entries[name] = wheel.schedule(name, at: 4) }
        guard let first = wheel.nextDue(now: 4) else {
            Issue.record("nothing was due")
            return
        }
        // The first one closes the other two, as an HTTP/2 connection closes its streams.
        for (name, entry) in entries where name != first { wheel.cancel(entry) }
        #expect(wheel.nextDue(now: 4) == nil)
        #expect(wheel.count == 0)
    }

    /// A sweep looks at the entries whose tick came, not at every deadline: 10,000 slow header
    /// senders due later cost nothing when one deadline fires.
    @Test func aSweepInspectsOnlyTheSlotsThatCameDue() {
        var wheel = DeadlineWheel<String>(now: 0)
        for index in 0..<10_000 { wheel.schedule("later \(index)", at: 200 + Int64(index % 100)) }
        wheel.schedule("now", at: 1)
        let before = wheel.inspected
        #expect(drain(&wheel, now: 1) == ["now"])
        #expect(wheel.inspected - before == 1)
        // Moving one of many is constant work too: no sweep runs, nothing is inspected.
        let entry = wheel.schedule("moving", at: 50)
        for tick in 51...60 { wheel.schedule("moving", at: Int64(tick), moving: entry) }
        #expect(wheel.inspected - before == 1)
        #expect(drain(&wheel, now: 59).isEmpty)
        #expect(drain(&wheel, now: 60) == ["moving"])
    }
}

@Suite("DeadlineSweeper")
struct DeadlineSweeperTests {
    final class Owner: DeadlineSweeper.Owner {
        var passed = 0
        var entry: DeadlineSweeper.Entry?
        var onPassed: (() -> Void)?

        func deadlinePassed() {
            entry = nil
            passed += 1
            onPassed?()
        }
    }

    /// A fixed origin in uptime nanoseconds; the sweeper only compares deadlines.
    private func at(milliseconds: Int64) -> NIODeadline {
        .uptimeNanoseconds(UInt64(1_000_000_000_000 + milliseconds * 1_000_000))
    }

    @Test func firesWithinOneGranularityOfTheDeadline() {
        let loop = EmbeddedEventLoop()
        let sweeper = DeadlineSweeper(eventLoop: loop, granularity: .milliseconds(50), now: at(milliseconds: 0))
        let owner = Owner()
        sweeper.set(at(milliseconds: 120), for: owner, entry: &owner.entry)
        sweeper.fireDue(now: at(milliseconds: 119))
        #expect(owner.passed == 0)
        sweeper.fireDue(now: at(milliseconds: 150))
        #expect(owner.passed == 1)
        #expect(sweeper.count == 0)
    }

    @Test func movingAndCancellingTakeEffect() {
        let loop = EmbeddedEventLoop()
        let sweeper = DeadlineSweeper(eventLoop: loop, granularity: .milliseconds(50), now: at(milliseconds: 0))
        let moved = Owner()
        let cancelled = Owner()
        sweeper.set(at(milliseconds: 100), for: moved, entry: &moved.entry)
        sweeper.set(at(milliseconds: 100), for: cancelled, entry: &cancelled.entry)
        sweeper.set(at(milliseconds: 1_000), for: moved, entry: &moved.entry)
        sweeper.cancel(&cancelled.entry)
        #expect(cancelled.entry == nil)
        #expect(sweeper.count == 1)
        sweeper.fireDue(now: at(milliseconds: 500))
        #expect(moved.passed == 0 && cancelled.passed == 0)
        sweeper.fireDue(now: at(milliseconds: 1_000))
        #expect(moved.passed == 1 && cancelled.passed == 0)
    }

    @Test("the sweep sleeps until the earliest deadline, at most maximumSleep, not every granularity")
    func sleepsUntilTheEarliestDeadline() {
        let loop = EmbeddedEventLoop()
        let sweeper = DeadlineSweeper(eventLoop: loop, granularity: .milliseconds(50), maximumSleep: .seconds(10))
        let idle = Owner()
        sweeper.set(loop.now + .seconds(60), for: idle, entry: &idle.entry)
        for _ in 0..<1_199 { loop.advanceTime(by: .milliseconds(50)) }
        #expect(idle.passed == 0)
        loop.advanceTime(by: .milliseconds(50))
        #expect(idle.passed == 1)
        // Set at once for +60 s: one sweep, where every 50 ms would have been 1,200.
        #expect(sweeper.sweeps == 1)
    }

    @Test("a deadline earlier than the sleeping sweep brings the sweep forward")
    func anEarlierDeadlineWakesTheSweepEarlier() {
        let loop = EmbeddedEventLoop()
        let sweeper = DeadlineSweeper(eventLoop: loop, granularity: .milliseconds(50), maximumSleep: .seconds(10))
        let idle = Owner()
        let header = Owner()
        sweeper.set(loop.now + .seconds(60), for: idle, entry: &idle.entry)
        loop.advanceTime(by: .seconds(1))
        sweeper.set(loop.now + .seconds(2), for: header, entry: &header.entry)
        loop.advanceTime(by: .milliseconds(1_950))
        #expect(header.passed == 0)
        loop.advanceTime(by: .milliseconds(100))
        #expect(header.passed == 1)
        // Later deadlines, moved on and on as requests come: the sweep wakes at most every 10 s.
        for _ in 0..<100 {
            sweeper.set(loop.now + .seconds(60), for: idle, entry: &idle.entry)
            loop.advanceTime(by: .milliseconds(500))
        }
        #expect(idle.passed == 0)
        #expect(sweeper.sweeps <= 2 + 50 / 10 + 1, "\(sweeper.sweeps) sweeps")
    }

    @Test func anOwnerClosedByAnotherInTheSameSweepIsNotTold() {
        let loop = EmbeddedEventLoop()
        let sweeper = DeadlineSweeper(eventLoop: loop, granularity: .milliseconds(50), now: at(milliseconds: 0))
        let first = Owner()
        let second = Owner()
        sweeper.set(at(milliseconds: 100), for: first, entry: &first.entry)
        sweeper.set(at(milliseconds: 100), for: second, entry: &second.entry)
        first.onPassed = { sweeper.cancel(&second.entry) }
        second.onPassed = { sweeper.cancel(&first.entry) }
        sweeper.fireDue(now: at(milliseconds: 100))
        #expect(first.passed + second.passed == 1)
    }
}
