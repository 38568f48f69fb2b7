/// A hashed timing wheel: deadlines counted in ticks, kept in slots by due tick.
///
/// Setting, moving and cancelling a deadline are O(1): an entry records the slot it is linked into,
/// and slots are doubly linked lists threaded through one array of nodes. Advancing visits only
/// the slots whose ticks came due since the last advance, so the cost of a sweep is the number of
/// entries due (plus, rarely, entries one or more full turns of the wheel away that share a slot).
///
/// Time is a plain tick count passed in by the caller: the wheel has no clock of its own, so it is
/// tested with plain values. Not thread-safe; ``DeadlineSweeper`` owns one per event loop.
struct DeadlineWheel<Value> {
    /// A scheduled deadline; pass it back to move or cancel it. A stale entry (fired or cancelled)
    /// is ignored.
    struct Entry: Equatable {
        fileprivate var index: Int32
        fileprivate var generation: UInt32
    }

    private struct Node {
        var value: Value?
        var dueTick: Int64 = 0
        /// The list the node is linked into: a slot index, ``DeadlineWheel/dueList``, or `free`.
        var list: Int32 = DeadlineWheel.free
        var previous: Int32 = -1
        var next: Int32 = -1
        var generation: UInt32 = 0
    }

    private static var free: Int32 { -1 }
    /// The list of entries found due, handed out one at a time by ``nextDue(now:)``.
    private var dueList: Int32 { Int32(heads.count - 1) }

    private var nodes: [Node] = []
    private var freeNodes: [Int32] = []
    /// The first node of each slot, then of the due list; -1 when empty.
    private var heads: [Int32]
    private let slotMask: Int64
    /// Every tick up to this one has been visited.
    private(set) var currentTick: Int64

    /// Deadlines scheduled and not yet handed out or cancelled.
    private(set) var count = 0
    /// Entries looked at while collecting due ones, over the wheel's life: what sweeps cost.
    private(set) var inspected = 0

    /// - Parameters:
    ///   - slotBits: the wheel has `2^slotBits` slots; deadlines further than that many ticks away
    ///     share a slot with nearer ones and are skipped until their turn.
    ///   - now: the tick the wheel starts at.
    init(slotBits: Int = 11, now: Int64) {
        precondition((1...20).contains(slotBits), "slotBits must be in 1...20")
        heads = Array(repeating: -1, count: (1 << slotBits) + 1)
        slotMask = (1 << Int64(slotBits)) - 1
        currentTick = now
    }

    /// Sets a deadline at `dueTick` for `value`, or moves `entry` there when it is still scheduled.
    /// A tick already visited is due at the next ``nextDue(now:)``.
    @discardableResult
    mutating func schedule(_ value: Value, at dueTick: Int64, moving entry: Entry? = nil) -> Entry {
        let tick = max(dueTick, currentTick + 1)
        if let entry, isLive(entry) {
            let index = Int(entry.index)
            unlink(index)
            nodes[index].value = value
            nodes[index].dueTick = tick
            link(index, into: slot(of: tick))
            return entry
        }
        let index: Int
        if let reused = freeNodes.popLast() {
            index = Int(reused)
        } else {
            index = nodes.count
            nodes.append(Node())
        }
        nodes[index].value = value
        nodes[index].dueTick = tick
        link(index, into: slot(of: tick))
        count += 1
        return Entry(index: Int32(index), generation: nodes[index].generation)
    }

    /// Cancels `entry`; nothing happens when it already fired or was cancelled.
    mutating func cancel(_ entry: Entry) {
        guard isLive(entry) else { return }
        release(Int(entry.index))
    }

    /// Whether `entry` is still scheduled.
    func isLive(_ entry: Entry) -> Bool {
        let index = Int(entry.index)
        return index >= 0 && index < nodes.count && nodes[index].generation == entry.generation
            && nodes[index].list != Self.free
    }

    /// The next value whose deadline is at or before `now`, removed from the wheel; `nil` when
    /// none is left. Call it until `nil`: a value handed out may cancel others that were due too.
    mutating func nextDue(now: Int64) -> Value? {
        if heads[Int(dueList)] < 0 { collectDue(now: now) }
        let head = heads[Int(dueList)]
        guard head >= 0 else { return nil }
        let value = nodes[Int(head)].value
        release(Int(head))
        return value
    }

    /// The earliest tick an entry is due at, looking at most `horizon` ticks past the current one;
    /// `nil` when none is due that soon. Costs the slots looked at and the entries they hold.
    func earliestDueTick(within horizon: Int64) -> Int64? {
        if heads[Int(dueList)] >= 0 { return currentTick }
        guard count > 0, horizon > 0 else { return nil }
        for step in 1...min(horizon, slotMask + 1) {
            let tick = currentTick + step
            var index = heads[Int(slot(of: tick))]
            while index >= 0 {
                if nodes[Int(index)].dueTick == tick { return tick }
                index = nodes[Int(index)].next
            }
        }
        return nil
    }

    // MARK: Slots

    private func slot(of tick: Int64) -> Int32 {
        Int32(tick & slotMask)
    }

    /// Moves the entries of every slot whose tick passed since the last call into the due list.
    private mutating func collectDue(now: Int64) {
        guard now > currentTick else { return }
        // After a pause longer than a turn, every slot is visited once instead of every tick.
        let ticks = min(now - currentTick, slotMask + 1)
        for step in 1...ticks {
            var index = heads[Int(slot(of: currentTick + step))]
            while index >= 0 {
                inspected += 1
                let next = nodes[Int(index)].next
                if nodes[Int(index)].dueTick <= now {
                    unlink(Int(index))
                    link(Int(index), into: dueList)
                }
                index = next
            }
        }
        currentTick = now
    }

    private mutating func link(_ index: Int, into list: Int32) {
        let head = heads[Int(list)]
        nodes[index].list = list
        nodes[index].previous = -1
        nodes[index].next = head
        if head >= 0 { nodes[Int(head)].previous = Int32(index) }
        heads[Int(list)] = Int32(index)
    }

    private mutating func unlink(_ index: Int) {
        let node = nodes[index]
        if node.previous >= 0 {
            nodes[Int(node.previous)].next = node.next
        } else {
            heads[Int(node.list)] = node.next
        }
        if node.next >= 0 { nodes[Int(node.next)].previous = node.previous }
        nodes[index].previous = -1
        nodes[index].next = -1
    }

    private mutating func release(_ index: Int) {
        unlink(index)
        nodes[index].list = Self.free
        nodes[index].value = nil
        nodes[index].generation &+= 1
        freeNodes.append(Int32(index))
        count -= 1
    }
}
