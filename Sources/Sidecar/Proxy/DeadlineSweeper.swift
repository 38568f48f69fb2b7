import NIOCore

/// The connection-level deadlines of one event loop: header, idle and upstream deadlines of
/// client connections and streams, TLS handshakes and HTTP/2 prior-knowledge sniffing.
///
/// A scheduled task per deadline would fill the loop's timer heap (HTTP/2 opens a stream per
/// request) and cancelling one costs a search of that heap. Here a deadline is an entry in a
/// ``DeadlineWheel``; one repeating sweep every ``granularity`` hands out the entries that came
/// due, so a deadline fires at most one granularity late, and setting, moving or cancelling one
/// is O(1). Used only on its loop.
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
    private var wheel: DeadlineWheel<Unowned>
    private var sweep: Scheduled<Void>?

    /// - Parameter now: the time the sweeper starts at; deadlines before it fire at the first sweep.
    init(eventLoop: any EventLoop, granularity: TimeAmount = .milliseconds(50), now: NIODeadline = .now()) {
        precondition(granularity.nanoseconds > 0, "the granularity must be positive")
        self.eventLoop = eventLoop
        self.granularity = granularity
        self.wheel = DeadlineWheel(now: Self.tick(of: now, granularity: granularity, roundingUp: false))
    }

    /// Deadlines set and not yet passed or cancelled.
    var count: Int { wheel.count }

    /// Sets `owner`'s deadline, or moves it when `entry` is still scheduled; `entry` then names it.
    func set(_ deadline: NIODeadline, for owner: any Owner, entry: inout Entry?) {
        let due = Self.tick(of: deadline, granularity: granularity, roundingUp: true)
        entry = wheel.schedule(Unowned(owner: owner), at: due, moving: entry)
        if sweep == nil { scheduleSweep() }
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

    private func scheduleSweep() {
        sweep = eventLoop.assumeIsolated().scheduleTask(in: granularity) {
            self.sweep = nil
            self.fireDue(now: .now())
            // An owner told above may have set a deadline, and so scheduled the next sweep already:
            // never two sweeps at once.
            if self.wheel.count > 0 && self.sweep == nil { self.scheduleSweep() }
        }
    }

    private static func tick(of deadline: NIODeadline, granularity: TimeAmount, roundingUp: Bool) -> Int64 {
        let nanoseconds = Int64(clamping: deadline.uptimeNanoseconds)
        let step = granularity.nanoseconds
        return roundingUp ? nanoseconds / step + (nanoseconds % step == 0 ? 0 : 1) : nanoseconds / step
    }
}
