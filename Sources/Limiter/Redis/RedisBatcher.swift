import Logging
import NIOCore

/// One event loop's share of the ``RedisRateLimiter``: its Redis connection, the checks gathered
/// since the last round trip, cached denials and the circuit breaker. Used only on its loop.
final class RedisBatcher {
    /// A request waiting for the batch it is part of.
    struct Waiting {
        var matches: [RuleMatch]
        var keys: [String]
        var receiver: any RateLimitDecisionReceiver
    }

    /// Unowned: the limiter owns its batchers. Work left pending on the loop (a scheduled flush, a
    /// batch or connection attempt in flight) captures the limiter strongly, so that it outlives that
    /// work even when released right after ``close()``; reconnecting captures it weakly and stops
    /// once it is gone.
    unowned let limiter: RedisRateLimiter
    let eventLoop: any EventLoop
    /// The one server's link, or a cluster's masters.
    private enum Topology {
        case single(RedisNodeLink)
        case cluster(RedisClusterRouter)
    }

    /// Made on first use: its links refer back to the batcher.
    private lazy var topology: Topology = {
        let configuration = limiter.configuration
        if let cluster = configuration.cluster {
            return .cluster(RedisClusterRouter(batcher: self, cluster: cluster))
        }
        return .single(makeLink(configuration.redis, sentinel: configuration.sentinel))
    }()
    var breaker: CircuitBreaker
    private var denials: [String: CachedDenial] = [:]
    private var bucketNames: [RuleMatch: String] = [:]

    /// A bucket Redis denied: denied until `until`, full again at `fullAt` (its TAT).
    private struct CachedDenial {
        var until: NIODeadline
        var fullAt: NIODeadline
    }
    private var waiting: [Waiting] = []
    private var flushScheduled = false
    private var lastErrorLog: NIODeadline?
    private var suppressedErrors = 0

    init(limiter: RedisRateLimiter, eventLoop: any EventLoop) {
        self.limiter = limiter
        self.eventLoop = eventLoop
        let configuration = limiter.configuration
        self.breaker = CircuitBreaker(
            threshold: configuration.breakerThreshold,
            initialBackoff: configuration.breakerInitialBackoff,
            maximumBackoff: configuration.breakerMaximumBackoff
        )
    }

    /// A link to `server`. Reconnecting costs one connect (and, under Sentinel, one question): at
    /// most a second apart, so a promoted master is found soon after the failover.
    func makeLink(_ server: RedisConnection.Configuration, sentinel: RedisSentinel? = nil) -> RedisNodeLink {
        let configuration = limiter.configuration
        return RedisNodeLink(
            batcher: self,
            configuration: server,
            sentinel: sentinel,
            initialBackoff: configuration.breakerInitialBackoff,
            maximumBackoff: min(configuration.breakerMaximumBackoff, .seconds(1))
        )
    }

    /// Whether checks can go to Redis now: the link is ready, or the cluster's map is known.
    private var canSend: Bool {
        switch topology {
        case .single(let link): link.isReady
        case .cluster(let router): router.hasMap
        }
    }

    // MARK: Deciding

    func check<Request: RateLimitRequest>(
        _ matches: [RuleMatch],
        request: Request,
        receiver: any RateLimitDecisionReceiver
    ) -> RateLimitCheck {
        let keys = matches.map(bucketName)
        let now = NIODeadline.now()
        if let denial = cachedDenial(matches, keys: keys, now: now) {
            return .decided(denial)
        }
        switch breaker.admit(now: now) {
        case .fallback:
            return .decided(fallback(matches))
        case .redis, .probe:
            break
        }
        guard canSend else {
            // Not connected (yet): decide now rather than wait for a connection.
            connectIfNeeded()
            breakerFailedWithoutConnection(now: now)
            return .decided(fallback(matches))
        }
        waiting.append(Waiting(matches: matches, keys: keys, receiver: receiver))
        if waiting.count >= limiter.configuration.maximumBatchSize {
            flush()
        } else if !flushScheduled {
            // Runs once the loop has handled the current round of I/O: all checks it gathered go together.
            flushScheduled = true
            let limiter = self.limiter
            eventLoop.assumeIsolated().execute {
                withExtendedLifetime(limiter) {
                    self.flushScheduled = false
                    self.flush()
                }
            }
        }
        return .pending
    }

    /// The Redis key of `match`'s bucket; a recent client's is not hashed and built again.
    private func bucketName(for match: RuleMatch) -> String {
        if let name = bucketNames[match] { return name }
        let name = RedisBucketKey.name(rule: limiter.matcher.rules[match.ruleIndex].name, clientKey: match.clientKey)
        let size = match.clientKey?.utf8.count ?? 0
        guard size <= Self.longestCachedClientKey else { return name }
        if bucketNames.count >= Self.maximumCachedBucketNames {
            bucketNames.removeAll(keepingCapacity: true)
        }
        bucketNames[match] = name
        return name
    }

    /// Bucket names kept per loop: at most this many, each for a client key of at most
    /// ``longestCachedClientKey`` bytes (with its name, under 2 MiB in all).
    static let maximumCachedBucketNames = 4096
    static let longestCachedClientKey = 256

    private func cachedDenial(_ matches: [RuleMatch], keys: [String], now: NIODeadline) -> RateLimitDecision? {
        if denials.isEmpty { return nil }
        let rules = limiter.matcher.rules
        for (position, match) in matches.enumerated() where !rules[match.ruleIndex].shadow {
            guard let denial = denials[keys[position]] else { continue }
            guard denial.until > now else {
                denials[keys[position]] = nil
                continue
            }
            let retryAfter = (denial.until - now).nanoseconds / 1000
            let reset = max(retryAfter, (denial.fullAt - now).nanoseconds / 1000)
            // The tokens back since Redis answered, as Redis would count them (the TAT is `fullAt`).
            let parameters = limiter.parameters[match.ruleIndex]
            let window = parameters.burstToleranceMicroseconds + parameters.emissionIntervalMicroseconds
            let remaining = Int(max(0, window - reset) / parameters.emissionIntervalMicroseconds)
            limiter.metrics.record(rule: match.ruleIndex, decision: .limited, source: .cache)
            return RateLimitDecision(
                verdict: .limited,
                policy: limiter.policy(
                    match,
                    remaining: remaining,
                    resetMicroseconds: reset,
                    retryAfterMicroseconds: retryAfter
                )
            )
        }
        return nil
    }

    private func rememberDenial(
        of key: String,
        parameters: GCRAParameters,
        retryAfterMicroseconds: Int64,
        resetMicroseconds: Int64,
        now: NIODeadline
    ) {
        // The script never answers more than one burst window (it treats a TAT beyond it as
        // damaged); anything longer is not cached, and Redis decides again.
        let longest = parameters.burstToleranceMicroseconds + parameters.emissionIntervalMicroseconds
        guard retryAfterMicroseconds > 0, retryAfterMicroseconds <= longest, resetMicroseconds <= longest else {
            return
        }
        if denials.count >= limiter.configuration.maximumCachedDenials {
            denials = denials.filter { $0.value.until > now }
            if denials.count >= limiter.configuration.maximumCachedDenials { denials.removeAll() }
        }
        // Exact while Redis keeps its data: a bucket's TAT never decreases, so it stays denied at
        // least this long. Redis losing its data (a restart, a failover to a replica that lagged)
        // is only seen as a new connection, which drops every cached denial.
        denials[key] = CachedDenial(
            until: now + .microseconds(retryAfterMicroseconds),
            fullAt: now + .microseconds(max(resetMicroseconds, retryAfterMicroseconds))
        )
    }

    /// Decides by the failure mode.
    func fallback(_ matches: [RuleMatch]) -> RateLimitDecision {
        let rules = limiter.matcher.rules
        switch limiter.currentFailureMode {
        case .local(let inProcess):
            return inProcess.decide(matches: matches) ?? RateLimitDecision(verdict: .allowed, policy: nil)
        case .open:
            for match in matches { limiter.metrics.record(rule: match.ruleIndex, decision: .allowed, source: .open) }
            return RateLimitDecision(verdict: .allowed, policy: nil)
        case .closed:
            let enforced = matches.filter { !rules[$0.ruleIndex].shadow }
            guard !enforced.isEmpty else { return RateLimitDecision(verdict: .allowed, policy: nil) }
            for match in enforced {
                limiter.metrics.record(rule: match.ruleIndex, decision: .limited, source: .closed)
            }
            return RateLimitDecision(verdict: .unavailable, policy: nil)
        }
    }

    // MARK: Batches

    private func flush() {
        guard !waiting.isEmpty else { return }
        let batch = waiting
        waiting.removeAll(keepingCapacity: true)
        limiter.metrics.batchSize.record(batch.count)
        switch topology {
        case .single(let link):
            guard let executor = link.executor else {
                for request in batch { request.receiver.rateLimitDecided(fallback(request.matches)) }
                return
            }
            flush(batch, on: executor, of: link)
        case .cluster(let router):
            flush(batch, through: router)
        }
    }

    /// Sends `batch` as one `EVALSHA` on the one server's link.
    private func flush(_ batch: [Waiting], on executor: RedisGCRAExecutor, of link: RedisNodeLink) {
        let limiter = self.limiter
        let assembly = GCRABatchAssembly.assemble(
            batch.lazy.map { (matches: $0.matches, keys: $0.keys) },
            rules: limiter.matcher.rules,
            parameters: limiter.parameters
        )
        let keys = assembly.batch.keys
        let placements = assembly.placements
        let sent = NIODeadline.now()
        executor.execute(assembly.batch, timeout: limiter.configuration.timeout)
            .assumeIsolated()
            .whenComplete { result in
                withExtendedLifetime(limiter) {
                    let now = self.batchAnswered(result, keys: keys, sent: sent, link: link)
                    switch result {
                    case .success(let reply):
                        limiter.metrics.up?.record(1)
                        for (request, (placement, result)) in zip(batch, zip(placements, reply.results)) {
                            let outcome = GCRABatchAssembly.outcome(of: result, placement: placement)
                            request.receiver.rateLimitDecided(
                                self.decision(
                                    request,
                                    outcome: outcome,
                                    enforced: placement.enforced,
                                    result: result,
                                    sent: sent
                                )
                            )
                        }
                    case .failure(let error):
                        self.batchFailed(error, now: now)
                        if !self.breaker.isClosed { limiter.metrics.up?.record(0) }
                        for request in batch { request.receiver.rateLimitDecided(self.fallback(request.matches)) }
                    }
                }
            }
    }

    /// What every batch's answer does first, on the loop, in both topologies: the round trip
    /// (from `sent`) is timed; a reply tells the breaker that Redis answers and counts the damaged
    /// buckets among `keys`; a reply that the server cannot take writes (`READONLY`, `LOADING`)
    /// drains `link`. Returns the time the answer came. (A plain call, not a wrapper taking the
    /// caller's closure: that would allocate a closure context per batch.)
    func batchAnswered(
        _ result: Result<GCRAScriptReply, any Error>,
        keys: [String],
        sent: NIODeadline,
        link: RedisNodeLink
    ) -> NIODeadline {
        let now = NIODeadline.now()
        limiter.metrics.requestDuration.recordNanoseconds((now - sent).nanoseconds)
        switch result {
        case .success(let reply):
            breaker.recordSuccess()
            if !reply.damagedKeyIndices.isEmpty {
                limiter.damagedBuckets(reply.damagedKeyIndices.map { keys[$0] })
            }
        case .failure(let error):
            if (error as? RedisError)?.isFailover == true { link.failoverReplied() }
        }
        return now
    }

    /// The decision `outcome` (with `result`, the limiting bucket's numbers) means for `request`;
    /// `enforced` are the positions of its enforced rules, all spent when it is allowed.
    func decision(
        _ request: Waiting,
        outcome: GCRABatchAssembly.Outcome,
        enforced: [Int],
        result: GCRACheckResult,
        sent: NIODeadline
    )
        -> RateLimitDecision
    {
        let metrics = limiter.metrics
        // Shadow rules count only on forwarded requests (see `InProcessRateLimiter`): spent, or
        // `shadow_limited` when their bucket had no room.
        for shadow in outcome.shadow {
            let decision: DecisionCounters.Decision = shadow.spent ? .allowed : .shadowLimited
            metrics.record(rule: request.matches[shadow.position].ruleIndex, decision: decision, source: .redis)
        }
        guard let limitingPosition = outcome.limitingPosition else {
            return RateLimitDecision(verdict: .allowed, policy: nil)
        }
        let limiting = request.matches[limitingPosition]
        let policy = limiter.policy(
            limiting,
            remaining: result.remaining,
            resetMicroseconds: result.resetMicroseconds,
            retryAfterMicroseconds: result.retryAfterMicroseconds
        )
        if outcome.allowed {
            for position in enforced {
                metrics.record(rule: request.matches[position].ruleIndex, decision: .allowed, source: .redis)
            }
            return RateLimitDecision(verdict: .allowed, policy: policy)
        }
        metrics.record(rule: limiting.ruleIndex, decision: .limited, source: .redis)
        // Counted from when the batch was sent, not when its reply was read: the script took `now`
        // from Redis's clock in between, so the cached denial ends no later than Redis's would,
        // however late the reply is read (a busy loop, a slow network).
        rememberDenial(
            of: request.keys[limitingPosition],
            parameters: limiter.parameters[limiting.ruleIndex],
            retryAfterMicroseconds: result.retryAfterMicroseconds,
            resetMicroseconds: result.resetMicroseconds,
            now: sent
        )
        return RateLimitDecision(verdict: .limited, policy: policy)
    }

    /// A batch failed: the breaker counts it.
    func batchFailed(_ error: any Error, now: NIODeadline) {
        breaker.recordFailure(now: now)
        limiter.metrics.recordError(error)
        logFailure("Redis batch failed; the failure mode decides", error: error, now: now)
    }

    private func breakerFailedWithoutConnection(now: NIODeadline) {
        guard case .single(let link) = topology, !link.isConnecting else { return }
        breaker.recordFailure(now: now)
    }

    func logFailure(_ message: Logger.Message, error: any Error, now: NIODeadline) {
        // Once per burst: a dead Redis must not turn into a log line per request.
        if let last = lastErrorLog, now - last < .seconds(10) {
            suppressedErrors += 1
            return
        }
        limiter.logger.warning(
            message,
            metadata: ["error": "\(error)", "suppressed_since_last": "\(suppressedErrors)"]
        )
        lastErrorLog = now
        suppressedErrors = 0
    }

    // MARK: Connections

    /// Connects (and loads the script) unless connected, connecting, backing off or closed; in
    /// cluster mode, asks for the slot map first.
    func connectIfNeeded() {
        switch topology {
        case .single(let link): link.start()
        case .cluster(let router): router.start()
        }
    }

    /// Closes the connections; waiting requests are decided by the failure mode.
    func close() {
        let batch = waiting
        waiting.removeAll()
        switch topology {
        case .single(let link): link.close()
        case .cluster(let router): router.close()
        }
        for request in batch { request.receiver.rateLimitDecided(fallback(request.matches)) }
    }

    /// The sentinels announced a new master: the link leaves the old one.
    func masterSwitched(to host: String, port: Int) {
        guard case .single(let link) = topology else { return }
        link.masterSwitched(to: host, port: port)
    }

    /// A link's attempt to connect or load the script failed.
    func linkAttemptFailed(_ link: RedisNodeLink, error: any Error) {
        let now = NIODeadline.now()
        limiter.metrics.recordError(error)
        switch topology {
        case .single:
            breaker.recordFailure(now: now)
            limiter.metrics.up?.record(0)
        case .cluster(let router):
            // One master down leaves the others deciding: its slots fall to the failure mode
            // while the map is asked again, not every request through the breaker.
            limiter.nodeUp(link.address, false)
            router.nodeFailed(link)
        }
        logFailure("cannot connect to Redis; the failure mode decides", error: error, now: now)
    }

    /// A link is connected and has the script.
    func linkBecameReady(_ link: RedisNodeLink, server: RedisConnection.Configuration, remoteAddress: SocketAddress?) {
        // Whatever Redis held may be gone (a restart, a failover): cached denials are only exact
        // while it keeps its data, so Redis decides again from here on.
        denials.removeAll()
        breaker.recordSuccess()
        limiter.logger.info("connected to Redis", metadata: ["redis": "\(server.host):\(server.port)"])
        switch topology {
        case .single:
            limiter.metrics.up?.record(1)
            limiter.connected(to: remoteAddress)
        case .cluster:
            limiter.nodeUp(link.address, true)
        }
    }

    /// A ready link's connection closed; it backs off and reconnects.
    func linkClosed(_ link: RedisNodeLink) {
        if case .cluster(let router) = topology {
            limiter.nodeUp(link.address, false)
            router.nodeFailed(link)
        }
    }
}
