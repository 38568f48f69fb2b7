import Crypto

/// Outcomes remembered per token digest, within a cost budget: two generations, the older one
/// dropped whole when the newer one is full.
///
/// Each generation holds at most half the budget, so the cache never holds more than the budget;
/// an entry found in the older generation moves to the newer one, so what is used stays. Every
/// operation is O(1) (amortised), with no per-entry bookkeeping of recency.
struct TokenCache<Value: Sendable>: Sendable {
    struct Entry: Sendable {
        var value: Value
        /// Seconds since 1970 after which the entry no longer counts.
        var until: Double
        var cost: Int
    }

    /// The total cost the cache may hold.
    let budget: Int
    private var current: [SHA256Digest: Entry] = [:]
    private var previous: [SHA256Digest: Entry] = [:]
    private var currentCost = 0
    private var previousCost = 0

    init(budget: Int) {
        self.budget = max(budget, 2)
    }

    /// The cost held now.
    var cost: Int { currentCost + previousCost }

    /// The entries held now, expired ones not yet dropped included.
    var count: Int { current.count + previous.count }

    /// The value remembered for `key`, if it has not expired by `now`.
    mutating func value(for key: SHA256Digest, now: Double) -> Value? {
        if let entry = current[key] {
            return entry.until > now ? entry.value : nil
        }
        guard let entry = previous.removeValue(forKey: key) else { return nil }
        previousCost -= entry.cost
        guard entry.until > now else { return nil }
        insert(entry, for: key)
        return entry.value
    }

    /// Remembers `value` for `key` until `until`; an entry costing more than half the budget is not kept.
    mutating func insert(_ value: Value, for key: SHA256Digest, until: Double, cost: Int) {
        if let old = previous.removeValue(forKey: key) { previousCost -= old.cost }
        insert(Entry(value: value, until: until, cost: max(cost, 1)), for: key)
    }

    private mutating func insert(_ entry: Entry, for key: SHA256Digest) {
        let generationBudget = budget / 2
        guard entry.cost <= generationBudget else { return }
        if let old = current.removeValue(forKey: key) { currentCost -= old.cost }
        if currentCost + entry.cost > generationBudget {
            previous = current
            previousCost = currentCost
            current = [:]
            currentCost = 0
        }
        current[key] = entry
        currentCost += entry.cost
    }
}
