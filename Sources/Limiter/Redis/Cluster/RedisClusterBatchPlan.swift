/// How one event loop's batch goes to a Redis Cluster: one `EVALSHA` per slot, since a
/// cluster runs a script only when all its keys share a slot.
///
/// Each request's buckets are split by slot into parts. A client's buckets share a slot (the
/// `{hash}` tag of ``RedisBucketKey``), so most requests are one part; a request that also
/// matches a fleet-wide rule (`{global}`) or rules keyed by different clients has one part per
/// slot, each decided atomically on its own (see ``GCRABatchAssembly/combine(_:)``).
struct RedisClusterBatchPlan: Sendable, Equatable {
    /// The buckets of one request that live on one slot: positions in its matches.
    struct Part: Sendable, Equatable {
        var request: Int
        var positions: [Int]
    }

    /// One slot's parts: one `EVALSHA`.
    struct Group: Sendable, Equatable {
        var slot: Int
        var parts: [Part]
    }

    /// The groups, in the order their slots were first used.
    var groups: [Group]
    /// How many parts each request was split into, in request order.
    var partCounts: [Int]

    /// Plans the batch of requests whose bucket names are `keys`, one array per request.
    init(keys: some Collection<[String]>) {
        var groups: [Group] = []
        var groupOfSlot: [Int: Int] = [:]
        var partCounts: [Int] = []
        partCounts.reserveCapacity(keys.count)
        for (request, names) in keys.enumerated() {
            var parts = 0
            for (position, name) in names.enumerated() {
                let slot = RedisClusterSlot.of(name)
                let group: Int
                if let known = groupOfSlot[slot] {
                    group = known
                } else {
                    group = groups.count
                    groupOfSlot[slot] = group
                    groups.append(Group(slot: slot, parts: []))
                }
                // Requests are planned one after another: this request's part of the group, if
                // it has one, is the group's last.
                if groups[group].parts.last?.request == request {
                    groups[group].parts[groups[group].parts.count - 1].positions.append(position)
                } else {
                    groups[group].parts.append(Part(request: request, positions: [position]))
                    parts += 1
                }
            }
            partCounts.append(parts)
        }
        self.groups = groups
        self.partCounts = partCounts
    }
}
