import NIOCore

/// A cluster batch in flight: each request's parts as their slots answer.
final class RedisClusterFlight {
    let requests: [RedisBatcher.Waiting]
    /// When the batch was sent (cached denials count from it).
    let sent: NIODeadline
    private var partsLeft: [Int]
    private var outcomes: [[GCRABatchAssembly.PartOutcome]]
    private var failed: [Bool]

    init(requests: [RedisBatcher.Waiting], partCounts: [Int], sent: NIODeadline) {
        self.requests = requests
        self.sent = sent
        self.partsLeft = partCounts
        self.outcomes = Array(repeating: [], count: requests.count)
        self.failed = Array(repeating: false, count: requests.count)
    }

    /// Records a part of `request`; returns its parts' outcomes once all are in and none failed,
    /// `.failed` when all are in and one failed, `nil` while some are missing.
    func record(_ request: Int, _ outcome: GCRABatchAssembly.PartOutcome?) -> Completion? {
        if let outcome { outcomes[request].append(outcome) } else { failed[request] = true }
        partsLeft[request] -= 1
        guard partsLeft[request] == 0 else { return nil }
        return failed[request] ? .failed : .decided(outcomes[request])
    }

    enum Completion {
        case decided([GCRABatchAssembly.PartOutcome])
        case failed
    }
}

extension RedisBatcher {
    /// One slot's `EVALSHA` of a cluster batch, as sent (and sent again after a redirect).
    struct ClusterGroup {
        var plan: RedisClusterBatchPlan.Group
        var assembly: GCRABatchAssembly
        /// Sends so far, redirects included.
        var attempt: Int
    }

    /// Sends made for one slot at most: the first, then redirects (`MOVED`, `ASK`, `TRYAGAIN`)
    /// followed; the next one goes to the failure mode.
    static let maximumClusterAttempts = 4
    /// The wait before sending again after `TRYAGAIN` (a slot's keys half migrated).
    static let tryAgainDelay = TimeAmount.milliseconds(20)

    /// Sends `batch` to a cluster: one `EVALSHA` per slot, each to the master serving it.
    func flush(_ batch: [Waiting], through router: RedisClusterRouter) {
        let plan = RedisClusterBatchPlan(keys: batch.lazy.map(\.keys))
        let flight = RedisClusterFlight(requests: batch, partCounts: plan.partCounts, sent: .now())
        let rules = limiter.matcher.rules
        let parameters = limiter.parameters
        // Each master's commands are written, then flushed once: one write per master per batch.
        var unflushed: [RedisNodeLink] = []
        for group in plan.groups {
            var assembly = GCRABatchAssembly.assemble(
                group.parts.lazy.map { part in
                    let request = batch[part.request]
                    return (
                        matches: part.positions.map { request.matches[$0] },
                        keys: part.positions.map { request.keys[$0] }
                    )
                },
                rules: rules,
                parameters: parameters
            )
            for (index, part) in group.parts.enumerated() {
                assembly.placements[index] = assembly.placements[index].mapped(through: part.positions)
            }
            let link = router.link(forSlot: group.slot)
            if let link, link.isReady, !unflushed.contains(where: { $0 === link }) { unflushed.append(link) }
            send(
                ClusterGroup(plan: group, assembly: assembly, attempt: 1),
                to: link,
                asking: false,
                flush: false,
                flight: flight,
                router: router
            )
        }
        for link in unflushed { link.executor?.connection.flush() }
    }

    private func send(
        _ group: ClusterGroup,
        to link: RedisNodeLink?,
        asking: Bool,
        flush: Bool = true,
        flight: RedisClusterFlight,
        router: RedisClusterRouter
    ) {
        guard let link, let executor = link.executor else {
            // No master for the slot, or not connected to it (yet): the failure mode decides. A
            // slot the map gives no master may have one by now: the map is asked again.
            if link == nil { router.refreshSoon() }
            record(group, outcomes: nil, flight: flight)
            return
        }
        let limiter = self.limiter
        let sent = NIODeadline.now()
        executor.execute(group.assembly.batch, timeout: limiter.configuration.timeout, asking: asking, flush: flush)
            .assumeIsolated()
            .whenComplete { result in
                withExtendedLifetime(limiter) {
                    let now = self.batchAnswered(result, keys: group.assembly.batch.keys, sent: sent, link: link)
                    switch result {
                    case .success(let reply):
                        let outcomes = zip(group.assembly.placements, reply.results).map { placement, result in
                            GCRABatchAssembly.PartOutcome(
                                outcome: GCRABatchAssembly.outcome(of: result, placement: placement),
                                enforced: placement.enforced,
                                result: result
                            )
                        }
                        self.record(group, outcomes: outcomes, flight: flight)
                    case .failure(let error):
                        self.failed(group, on: link, error: error, now: now, flight: flight, router: router)
                    }
                }
            }
    }

    private func failed(
        _ group: ClusterGroup,
        on link: RedisNodeLink,
        error: any Error,
        now: NIODeadline,
        flight: RedisClusterFlight,
        router: RedisClusterRouter
    ) {
        let redisError = error as? RedisError
        if let redisError, group.attempt < Self.maximumClusterAttempts,
            let redirect = RedisClusterRedirect(redisError, replyingHost: link.configuration.host)
        {
            // Not run (Redis routes before it runs a command): sent again where the cluster says.
            var next = group
            next.attempt += 1
            switch redirect {
            case .moved(_, let node):
                limiter.metrics.redirects["moved"]?.increment()
                router.refreshSoon()
                send(next, to: router.link(for: node), asking: false, flight: flight, router: router)
            case .ask(_, let node):
                limiter.metrics.redirects["ask"]?.increment()
                send(next, to: router.link(for: node), asking: true, flight: flight, router: router)
            case .tryAgain:
                limiter.metrics.redirects["tryagain"]?.increment()
                let limiter = self.limiter
                eventLoop.assumeIsolated().scheduleTask(in: Self.tryAgainDelay) {
                    withExtendedLifetime(limiter) {
                        self.send(
                            next,
                            to: router.link(forSlot: group.plan.slot),
                            asking: false,
                            flight: flight,
                            router: router
                        )
                    }
                }
            }
            return
        }
        batchFailed(error, now: now)
        if redisError?.isFailover == true || redisError?.isClusterDown == true { router.refreshSoon() }
        record(group, outcomes: nil, flight: flight)
    }

    /// Records a group's parts (`nil`: failed) and decides the requests that are complete.
    private func record(
        _ group: ClusterGroup,
        outcomes: [GCRABatchAssembly.PartOutcome]?,
        flight: RedisClusterFlight
    ) {
        for (index, part) in group.plan.parts.enumerated() {
            guard let completion = flight.record(part.request, outcomes?[index]) else { continue }
            let request = flight.requests[part.request]
            switch completion {
            case .failed:
                request.receiver.rateLimitDecided(fallback(request.matches))
            case .decided(let parts):
                let combined = GCRABatchAssembly.combine(parts)
                request.receiver.rateLimitDecided(
                    decision(
                        request,
                        outcome: combined.outcome,
                        enforced: combined.enforced,
                        result: combined.result,
                        sent: flight.sent
                    )
                )
            }
        }
    }
}
