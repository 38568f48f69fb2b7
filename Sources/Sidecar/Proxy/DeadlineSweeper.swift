import NIOCore

/// The deadlines of one event loop's connections and streams, checked by one repeating sweep.
///
/// A scheduled task per request would fill the loop's timer heap (HTTP/2 opens a stream per
/// request), and cancelling any task costs a search of that heap. Here a deadline is a dictionary
/// entry; a sweep every ``granularity`` fires those that passed, so a timeout fires at most one
/// granularity late. Used only on its loop.
final class DeadlineSweeper {
    /// Something with a deadline.
    protocol Owner: AnyObject {
        /// The owner's deadline passed.
        func deadlinePassed()
    }

    let eventLoop: any EventLoop
    let granularity: TimeAmount
    private var entries: [ObjectIdentifier: (deadline: NIODeadline, owner: Unowned)] = [:]
    private var sweep: Scheduled<Void>?

    /// Holds an owner without keeping it alive: owners remove themselves before they go.
    private struct Unowned {
        unowned let owner: any Owner
    }

    init(eventLoop: any EventLoop, granularity: TimeAmount = .milliseconds(50)) {
        self.eventLoop = eventLoop
        self.granularity = granularity
    }

    /// Sets (or moves) `owner`'s deadline.
    func set(_ deadline: NIODeadline, for owner: any Owner) {
        entries[ObjectIdentifier(owner)] = (deadline, Unowned(owner: owner))
        if sweep == nil { scheduleSweep() }
    }

    /// Removes `owner`'s deadline, if any.
    func remove(_ owner: any Owner) {
        entries[ObjectIdentifier(owner)] = nil
    }

    private func scheduleSweep() {
        sweep = eventLoop.assumeIsolated().scheduleTask(in: granularity) {
            self.sweep = nil
            self.fireExpired()
            if !self.entries.isEmpty { self.scheduleSweep() }
        }
    }

    private func fireExpired() {
        let now = NIODeadline.now()
        let expired = entries.filter { $0.value.deadline <= now }
        for (key, entry) in expired {
            // An owner fired earlier in this sweep may have closed this one; its entry is then gone.
            guard entries[key] != nil else { continue }
            entries[key] = nil
            entry.owner.owner.deadlinePassed()
        }
    }
}
