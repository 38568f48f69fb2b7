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
/// dropped at any time. Sweeps run when the store is full and a new bucket arrives, and after as
/// many writes as the store holds buckets (at least ``minimumSweepInterval``), so their cost is
/// constant per write on average.
struct InProcessBucketStore {
    /// Writes between two sweeps at least.
    static let minimumSweepInterval = 1024

    /// Buckets kept at most.
    let capacity: Int
    private(set) var tats: [InProcessBucketID: Int64] = [:]
    private var writesSinceSweep = 0

    init(capacity: Int) {
        precondition(capacity > 0)
        self.capacity = capacity
    }

    /// The TAT of `id`, `nil` when absent or expired.
    func tat(of id: InProcessBucketID, now: Int64) -> Int64? {
        guard let tat = self.tats[id], tat > now else { return nil }
        return tat
    }

    /// Stores `tat` for `id`; returns `false` when the store is full of live buckets and `id` is
    /// new, in which case nothing is stored.
    mutating func store(_ tat: Int64, for id: InProcessBucketID, now: Int64) -> Bool {
        self.writesSinceSweep += 1
        if self.writesSinceSweep >= max(Self.minimumSweepInterval, self.tats.count) {
            self.sweep(now: now)
        }
        if self.tats.count >= self.capacity, self.tats[id] == nil {
            self.sweep(now: now)
            if self.tats.count >= self.capacity { return false }
        }
        self.tats[id] = tat
        return true
    }

    /// Drops every bucket that is full again at `now`.
    mutating func sweep(now: Int64) {
        self.writesSinceSweep = 0
        self.tats = self.tats.filter { $0.value > now }
    }
}
