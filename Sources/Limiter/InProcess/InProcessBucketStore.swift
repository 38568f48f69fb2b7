/// Identifies one bucket of the in-process limiter: a rule and a client key's digest.
///
/// The client key is kept as a 64-bit `Hasher` digest, seeded per process, so that a bucket costs
/// the same memory whatever the size of the key value; a collision between two live keys is
/// about as likely as 2^-64 per pair and cannot be aimed at, since the seed is secret.
struct InProcessBucketID: Hashable, Sendable {
    var ruleIndex: Int
    var clientKeyDigest: Int

    init(ruleIndex: Int, clientKey: String?) {
        self.ruleIndex = ruleIndex
        if let clientKey {
            var hasher = Hasher()
            hasher.combine(clientKey)
            self.clientKeyDigest = hasher.finalize()
        } else {
            self.clientKeyDigest = 0
        }
    }
}

/// The TATs of one shard, bounded in number, with expired buckets swept out.
///
/// A bucket whose TAT is at or before now is full, the same as an absent one, so it can be
/// dropped at any time. Sweeps run after as many writes as the store holds buckets (at least
/// ``minimumSweepInterval``), and when the store is full and a new bucket asks for room: then
/// only once a bucket can have expired, and at most once a second or once per 1/64 of the
/// capacity of refused new buckets, so that keys rotated on purpose cannot make every request
/// scan the store.
struct InProcessBucketStore {
    /// Writes between two sweeps at least.
    static let minimumSweepInterval = 1024

    /// Buckets kept at most (a request's own rules may add a few more at once).
    let capacity: Int
    private(set) var tats: [InProcessBucketID: Int64] = [:]
    private var writesSinceSweep = 0
    /// New buckets refused since the last sweep.
    private var refusalsSinceSweep = 0
    /// No bucket expires before this, so a sweep before it frees nothing; `.min` when unknown.
    private var earliestExpiry: Int64 = .min
    /// When the last sweep ran; `nil` before the first.
    private var lastSweep: Int64?

    init(capacity: Int) {
        precondition(capacity > 0)
        self.capacity = capacity
    }

    /// The TAT of `id`, `nil` when absent or expired.
    func tat(of id: InProcessBucketID, now: Int64) -> Int64? {
        guard let tat = self.tats[id], tat > now else { return nil }
        return tat
    }

    /// Whether `id` has a bucket here or there is room for one, after sweeping when that can help.
    mutating func hasRoom(for id: InProcessBucketID, now: Int64) -> Bool {
        if self.tats.count < self.capacity || self.tats[id] != nil { return true }
        self.refusalsSinceSweep += 1
        guard now >= self.earliestExpiry,
            self.refusalsSinceSweep >= max(1, self.capacity / 64)
                || self.lastSweep.map({ now - $0 >= 1_000_000 }) ?? true
        else { return false }
        self.sweep(now: now)
        return self.tats.count < self.capacity
    }

    /// Stores `tat` for `id`; call after ``hasRoom(for:now:)`` said yes.
    mutating func store(_ tat: Int64, for id: InProcessBucketID, now: Int64) {
        self.writesSinceSweep += 1
        if self.writesSinceSweep >= max(Self.minimumSweepInterval, self.tats.count) {
            self.sweep(now: now)
        }
        self.tats[id] = tat
        self.earliestExpiry = min(self.earliestExpiry, tat)
    }

    /// Drops every bucket that is full again at `now`.
    mutating func sweep(now: Int64) {
        self.writesSinceSweep = 0
        self.refusalsSinceSweep = 0
        self.lastSweep = now
        var earliest = Int64.max
        self.tats = self.tats.filter { _, tat in
            guard tat > now else { return false }
            earliest = min(earliest, tat)
            return true
        }
        self.earliestExpiry = earliest
    }
}
