import NIOCore

/// One event loop's view of a Redis Cluster: the slot map and a ``RedisNodeLink`` per master.
///
/// The map is asked for (`CLUSTER SHARDS`, or `CLUSTER SLOTS` where Redis is older than 7; from a
/// ready master or else the seeds in turn) at
/// start, after a `MOVED`, and while a master is unreachable (its replica may have been promoted);
/// at most every ``minimumRefreshInterval``. Links follow the map: a new master is connected to
/// (the script loaded there), a master no longer in the map is closed. Used only on its loop.
final class RedisClusterRouter {
    /// Where the asking for the map is.
    private enum Refresh {
        /// Not asking; the last answer (or failure) came at `last`.
        case idle(last: NIODeadline?)
        /// A `CLUSTER SLOTS` is under way.
        case asking
        /// Asking again once the interval has passed.
        case scheduled(Scheduled<Void>)
        case closed
    }

    /// Unowned: the batcher owns its router.
    private unowned let batcher: RedisBatcher
    let cluster: RedisCluster
    private(set) var map: RedisClusterSlotMap?
    private var links: [RedisClusterSlotMap.Node: RedisNodeLink] = [:]
    private var refresh = Refresh.idle(last: nil)

    /// The shortest time between two questions for the map.
    static let minimumRefreshInterval = TimeAmount.milliseconds(200)
    /// The wait before asking again when no node answered.
    static let retryInterval = TimeAmount.seconds(1)

    init(batcher: RedisBatcher, cluster: RedisCluster) {
        self.batcher = batcher
        self.cluster = cluster
    }

    /// Whether the map is known, so checks can be routed.
    var hasMap: Bool { map != nil }

    /// Asks for the map unless it is known or being asked for.
    func start() {
        if map == nil { refreshSoon() }
    }

    /// The link to the master of `slot`, if the map names one.
    func link(forSlot slot: Int) -> RedisNodeLink? {
        map?.node(forSlot: slot).flatMap { links[$0] }
    }

    /// The link to `node` (a redirect's target), made and started when new.
    func link(for node: RedisClusterSlotMap.Node) -> RedisNodeLink {
        if let link = links[node] { return link }
        let link = batcher.makeLink(cluster.configuration(for: node))
        links[node] = link
        link.start()
        return link
    }

    /// A master could not be reached or its connection dropped: the map may have changed.
    func nodeFailed(_ link: RedisNodeLink) {
        refreshSoon()
    }

    /// Asks for the map now, or once ``minimumRefreshInterval`` has passed since the last time.
    func refreshSoon() {
        guard case .idle(let last) = refresh else { return }
        let now = NIODeadline.now()
        if let last, now - last < Self.minimumRefreshInterval {
            schedule(at: last + Self.minimumRefreshInterval)
        } else {
            ask()
        }
    }

    /// Closes every link and stops asking.
    func close() {
        if case .scheduled(let task) = refresh { task.cancel() }
        refresh = .closed
        for link in links.values { link.close() }
        links.removeAll()
    }

    private func schedule(at deadline: NIODeadline) {
        let limiter = batcher.limiter
        refresh = .scheduled(
            batcher.eventLoop.assumeIsolated().scheduleTask(deadline: deadline) { [weak limiter] in
                guard let limiter else { return }
                withExtendedLifetime(limiter) {
                    guard case .scheduled = self.refresh else { return }
                    self.ask()
                }
            }
        )
    }

    private func ask() {
        refresh = .asking
        // Ready masters first (no new connection), then the seeds, then every master of the map.
        let ready = links.values.compactMap { $0.executor?.connection }
        var addresses = cluster.seeds
        for node in map?.nodes ?? [] where !addresses.contains(where: { $0.host == node.host && $0.port == node.port })
        {
            addresses.append(cluster.configuration(for: node))
        }
        ask(ready: ready, addresses: addresses[...], failures: [])
    }

    private func ask(ready: [RedisConnection], addresses: ArraySlice<RedisConnection.Configuration>, failures: [String])
    {
        let limiter = batcher.limiter
        let timeout = max(limiter.configuration.timeout, .seconds(1))
        let reply: EventLoopFuture<RedisClusterSlotMap>
        var ready = ready
        var addresses = addresses
        if let connection = ready.popLast() {
            reply = Self.slotMap(asking: connection, timeout: timeout)
        } else if let address = addresses.popFirst() {
            reply = RedisConnection.connect(configuration: address, on: batcher.eventLoop, logger: limiter.logger)
                .flatMap { connection in
                    Self.slotMap(asking: connection, timeout: timeout)
                        .always { _ in connection.close().whenComplete { _ in } }
                }
        } else {
            finishAsking(failures: failures)
            return
        }
        reply.assumeIsolated().whenComplete { result in
            withExtendedLifetime(limiter) {
                guard case .asking = self.refresh else { return }
                switch result {
                case .success(let map) where map.ranges.isEmpty:
                    let failure = "\(RedisError.server("CLUSTERDOWN no slot is served"))"
                    self.ask(ready: ready, addresses: addresses, failures: failures + [failure])
                case .success(let map):
                    self.apply(map)
                    self.refresh = .idle(last: .now())
                    // Slots without a master (a cluster still forming, a failover under way):
                    // asked again until every slot has one.
                    if !map.coversEverySlot { self.refreshSoon() }
                case .failure(let error):
                    self.ask(ready: ready, addresses: addresses, failures: failures + ["\(error)"])
                }
            }
        }
    }

    /// The slot map as `connection`'s node sees it: `CLUSTER SHARDS`, or `CLUSTER SLOTS` when
    /// the node does not know that (Redis before 7).
    static func slotMap(asking connection: RedisConnection, timeout: TimeAmount) -> EventLoopFuture<RedisClusterSlotMap>
    {
        let host = connection.configuration.host
        return connection.send("CLUSTER", "SHARDS", timeout: timeout)
            .flatMapThrowing { try RedisClusterSlotMap(clusterShards: $0, askedHost: host) }
            .flatMapError { error in
                guard case .server(let message)? = error as? RedisError,
                    message.lowercased().contains("unknown subcommand")
                else { return connection.eventLoop.makeFailedFuture(error) }
                return connection.send("CLUSTER", "SLOTS", timeout: timeout)
                    .flatMapThrowing { try RedisClusterSlotMap(clusterSlots: $0, askedHost: host) }
            }
    }

    private func finishAsking(failures: [String]) {
        let now = NIODeadline.now()
        batcher.logFailure(
            "no Redis Cluster node gave the slot map; the failure mode decides",
            error: RedisError.connectionClosed(reason: failures.joined(separator: "; ")),
            now: now
        )
        refresh = .idle(last: now)
        schedule(at: now + Self.retryInterval)
    }

    /// Takes `map`: links to its masters, none to others; a range that moved away from a master
    /// this loop could not reach is a failover.
    private func apply(_ new: RedisClusterSlotMap) {
        let old = map
        map = new
        if let old, old != new {
            for range in old.ranges {
                guard let owner = new.node(forSlot: range.slots.lowerBound), owner != range.node,
                    links[range.node]?.isReady != true
                else { continue }
                batcher.limiter.clusterFailover(from: range.node, to: owner)
            }
        }
        let masters = Set(new.nodes)
        for node in new.nodes where links[node] == nil {
            let link = batcher.makeLink(cluster.configuration(for: node))
            links[node] = link
            link.start()
        }
        for (node, link) in links where !masters.contains(node) {
            link.close()
            links[node] = nil
            batcher.limiter.nodeRemoved(node.description)
        }
    }
}
