import NIOCore

/// The connection-level deadlines of one event loop: header, idle and upstream deadlines of
/// client connections and streams, TLS handshakes and HTTP/2 prior-knowledge sniffing.
///
/// A scheduled task per deadline would fill the loop's timer heap (HTTP/2 opens a stream per
/// request) and cancelling one costs a search of that heap. Here a deadline is an entry in a
/// ``DeadlineWheel``; a sweep hands out the entries that came due, so a deadline fires at most one
/// ``granularity`` late, and setting, moving or cancelling one is O(1). The sweep sleeps until the
/// earliest deadline, but never longer than ``maximumSleep``: when that is the shortest deadline
/// in use (the header timeout), a deadline set later is never earlier than the sweep already
/// scheduled, and an idle loop wakes once per `maximumSleep` rather than once per granularity.
/// Used only on its loop.
final class DeadlineSweeper {
    /// Something with a deadline.
    protocol Owner: AnyObject {
        /// The owner's deadline passed; its entry is gone.
        func deadlinePassed()
    }

    /// An owner's scheduled deadline.
    typealias Entry = DeadlineWheel<Unowned>.Entry

    /// Holds an owner without keeping it alive: owners cancel their entry before they go.
    struct Unowned {
        unowned let owner: any Owner
    }

    let eventLoop: any EventLoop
    let granularity: TimeAmount
    /// The longest the sweep sleeps while deadlines are set.
    let maximumSleep: TimeAmount
    private var wheel: DeadlineWheel<Unowned>
    private var sweep: Scheduled<Void>?
    /// The tick the scheduled sweep runs at.
    private var sweepTick = Int64.max
    private let maximumSleepTicks: Int64
    /// Sweeps run so far, for tests.
    private(set) var sweeps = 0

    /// - Parameters:
    ///   - maximumSleep: the longest the sweep sleeps; best the shortest deadline in use.
    ///   - now: the time the sweeper starts at; deadlines before it fire at the first sweep.
    init(
        eventLoop: any EventLoop,
        granularity: TimeAmount = .milliseconds(50),
        maximumSleep: TimeAmount? = nil,
        now: NIODeadline? = nil
    ) {
        precondition(granularity.nanoseconds > 0, "the granularity must be positive")
        self.eventLoop = eventLoop
        self.granularity = granularity
        self.maximumSleep = max(granularity, maximumSleep ?? granularity)
        self.maximumSleepTicks = self.maximumSleep.nanoseconds / granularity.nanoseconds
        let start = now ?? eventLoop.now
        self.wheel = DeadlineWheel(now: Self.tick(of: start, granularity: granularity, roundingUp: false))
    }

    /// Deadlines set and not yet passed or cancelled.
    var count: Int { wheel.count }

    /// Sets `owner`'s deadline, or moves it when `entry` is still scheduled; `entry` then names it.
    func set(_ deadline: NIODeadline, for owner: any Owner, entry: inout Entry?) {
        let due = Self.tick(of: deadline, granularity: granularity, roundingUp: true)
        entry = wheel.schedule(Unowned(owner: owner), at: due, moving: entry)
        if due < sweepTick { scheduleSweep(at: due) }
    }

    /// Cancels the deadline `entry` names, if it is still scheduled, and clears `entry`.
    func cancel(_ entry: inout Entry?) {
        guard let scheduled = entry else { return }
        entry = nil
        wheel.cancel(scheduled)
    }

    /// Tells every owner whose deadline is at or before `now` that it passed.
    func fireDue(now: NIODeadline) {
        let tick = Self.tick(of: now, granularity: granularity, roundingUp: false)
        // One at a time: an owner told earlier may close, and so cancel, one that was due too.
        while let due = wheel.nextDue(now: tick) {
            due.owner.deadlinePassed()
        }
    }

    /// Runs the sweep at `tick`, in place of a later one already scheduled.
    private func scheduleSweep(at tick: Int64) {
        sweep?.cancel()
        sweepTick = tick
        let deadline = NIODeadline.uptimeNanoseconds(UInt64(max(0, tick)) * UInt64(granularity.nanoseconds))
        sweep = eventLoop.assumeIsolated().scheduleTask(deadline: deadline) {
            self.sweep = nil
            self.sweepTick = .max
            self.sweeps += 1
            self.fireDue(now: self.eventLoop.now)
            // An owner told above may have set a deadline, and so scheduled the next sweep already.
            guard self.wheel.count > 0 else { return }
            let next =
                self.wheel.earliestDueTick(within: self.maximumSleepTicks)
                ?? self.wheel.currentTick + self.maximumSleepTicks
            if next < self.sweepTick { self.scheduleSweep(at: next) }
        }
    }

    private static func tick(of deadline: NIODeadline, granularity: TimeAmount, roundingUp: Bool) -> Int64 {
        let nanoseconds = Int64(clamping: deadline.uptimeNanoseconds)
        let step = granularity.nanoseconds
        return roundingUp ? nanoseconds / step + (nanoseconds % step == 0 ? 0 : 1) : nanoseconds / step
    }
}
