import Logging
import NIOCore

/// One event loop's share of the ``RedisRateLimiter``: its Redis connection, the checks gathered
/// since the last round trip, cached denials and the circuit breaker. Used only on its loop.
final class RedisBatcher {
    /// A request waiting for the batch it is part of.
    private struct Waiting {
        var matches: [RuleMatch]
        var keys: [String]
        var promise: EventLoopPromise<RateLimitDecision>
    }

    /// Where a request's checks sit in a batch.
    private struct Placement {
        /// Index of the all-or-nothing check of its enforced rules, if any.
        var enforcedCheck: Int?
        /// Positions in `matches` of the enforced rules, in spend order.
        var enforcedPositions: [Int]
        /// Shadow rules: position in `matches` and the index of their own check.
        var shadowChecks: [(position: Int, check: Int)]
    }

    /// Unowned: the limiter owns its batchers. Work left pending on the loop (a scheduled flush, a
    /// batch or connection attempt in flight) captures the limiter strongly, so that it outlives that
    /// work even when released right after ``close()``; reconnecting captures it weakly and stops
    /// once it is gone.
    private unowned let limiter: RedisRateLimiter
    let eventLoop: any EventLoop
    private var connection: RedisConnection?
    private var executor: RedisGCRAExecutor?
    private var connecting = false
    private var closed = false
    private var reconnect: Scheduled<Void>?
    private var reconnectDelay: TimeAmount
    private var breaker: CircuitBreaker
    private var denials: [String: CachedDenial] = [:]

    /// A bucket Redis denied: denied until `until`, full again at `fullAt`.
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
        self.reconnectDelay = configuration.breakerInitialBackoff
    }

    // MARK: Deciding

    func check<Request: RateLimitRequest>(_ matches: [RuleMatch], request: Request) -> RateLimitCheck {
        let rules = limiter.matcher.rules
        let keys = matches.map { RedisBucketKey.name(rule: rules[$0.ruleIndex].name, clientKey: $0.clientKey) }
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
        guard executor != nil else {
            // Not connected (yet): decide now rather than wait for a connection.
            connectIfNeeded()
            breakerFailedWithoutConnection(now: now)
            return .decided(fallback(matches))
        }
        let promise = eventLoop.makePromise(of: RateLimitDecision.self)
        waiting.append(Waiting(matches: matches, keys: keys, promise: promise))
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
        return .pending(promise.futureResult)
    }

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
            limiter.metrics.record(rule: match.ruleIndex, decision: .limited, source: .cache)
            return RateLimitDecision(
                verdict: .limited,
                policy: limiter.policy(
                    match,
                    remaining: 0,
                    resetMicroseconds: max(retryAfter, (denial.fullAt - now).nanoseconds / 1000),
                    retryAfterMicroseconds: retryAfter
                )
            )
        }
        return nil
    }

    private func rememberDenial(
        of key: String,
        rule: RateLimitRule,
        retryAfterMicroseconds: Int64,
        resetMicroseconds: Int64,
        now: NIODeadline
    ) {
        // A bucket Redis kept sensibly is never denied for longer than one request's cost in
        // emission intervals; a longer answer comes from a damaged value, which Redis decides again.
        let longest = rule.periodMicroseconds * Int64(max(1, rule.cost))
        guard retryAfterMicroseconds > 0, retryAfterMicroseconds <= longest else { return }
        if denials.count >= limiter.configuration.maximumCachedDenials {
            denials = denials.filter { $0.value.until > now }
            if denials.count >= limiter.configuration.maximumCachedDenials { denials.removeAll() }
        }
        // Exact: a bucket's TAT never decreases, so it stays denied at least this long.
        denials[key] = CachedDenial(
            until: now + .microseconds(retryAfterMicroseconds),
            fullAt: now + .microseconds(min(max(resetMicroseconds, retryAfterMicroseconds), longest * 2))
        )
    }

    /// Decides by the failure mode.
    private func fallback(_ matches: [RuleMatch]) -> RateLimitDecision {
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
        guard let executor else {
            for request in batch { request.promise.succeed(fallback(request.matches)) }
            return
        }
        let limiter = self.limiter
        let rules = limiter.matcher.rules
        var keyIndex: [String: Int] = [:]
        var keys: [String] = []
        var parameters: [GCRAParameters] = []
        var checks: [GCRACheck] = []
        var placements: [Placement] = []
        placements.reserveCapacity(batch.count)
        func index(of key: String, rule: Int) -> Int {
            if let index = keyIndex[key] { return index }
            keyIndex[key] = keys.count
            keys.append(key)
            parameters.append(limiter.parameters[rule])
            return keys.count - 1
        }
        for request in batch {
            var placement = Placement(enforcedCheck: nil, enforcedPositions: [], shadowChecks: [])
            var spends: [GCRACheck.Spend] = []
            for (position, match) in request.matches.enumerated() where !rules[match.ruleIndex].shadow {
                let key = index(of: request.keys[position], rule: match.ruleIndex)
                spends.append(GCRACheck.Spend(keyIndex: key, cost: rules[match.ruleIndex].cost))
                placement.enforcedPositions.append(position)
            }
            if !spends.isEmpty {
                placement.enforcedCheck = checks.count
                checks.append(GCRACheck(spends: spends))
            }
            for (position, match) in request.matches.enumerated() where rules[match.ruleIndex].shadow {
                let key = index(of: request.keys[position], rule: match.ruleIndex)
                placement.shadowChecks.append((position, checks.count))
                checks.append(GCRACheck(spends: [GCRACheck.Spend(keyIndex: key, cost: rules[match.ruleIndex].cost)]))
            }
            placements.append(placement)
        }
        limiter.metrics.batchSize.record(batch.count)
        let started = NIODeadline.now()
        executor.execute(
            GCRABatch(keys: keys, parameters: parameters, checks: checks),
            timeout: limiter.configuration.timeout
        )
        .assumeIsolated()
        .whenComplete { result in
            withExtendedLifetime(limiter) {
                let now = NIODeadline.now()
                limiter.metrics.requestDuration.recordNanoseconds((now - started).nanoseconds)
                switch result {
                case .success(let results):
                    self.breaker.recordSuccess()
                    limiter.metrics.up.record(1)
                    for (request, placement) in zip(batch, placements) {
                        request.promise.succeed(
                            self.decision(request, placement: placement, results: results, sent: started)
                        )
                    }
                case .failure(let error):
                    self.batchFailed(error, now: now)
                    for request in batch { request.promise.succeed(self.fallback(request.matches)) }
                }
            }
        }
    }

    private func decision(
        _ request: Waiting,
        placement: Placement,
        results: [GCRACheckResult],
        sent: NIODeadline
    )
        -> RateLimitDecision
    {
        let metrics = limiter.metrics
        for (position, check) in placement.shadowChecks {
            let decision: DecisionCounters.Decision = results[check].allowed ? .allowed : .shadowLimited
            metrics.record(rule: request.matches[position].ruleIndex, decision: decision, source: .redis)
        }
        guard let check = placement.enforcedCheck else { return RateLimitDecision(verdict: .allowed, policy: nil) }
        let result = results[check]
        let limitingPosition =
            placement.enforcedPositions[min(result.limitingSpend, placement.enforcedPositions.count - 1)]
        let limiting = request.matches[limitingPosition]
        let policy = limiter.policy(
            limiting,
            remaining: result.remaining,
            resetMicroseconds: result.resetMicroseconds,
            retryAfterMicroseconds: result.retryAfterMicroseconds
        )
        if result.allowed {
            for position in placement.enforcedPositions {
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
            rule: limiter.matcher.rules[limiting.ruleIndex],
            retryAfterMicroseconds: result.retryAfterMicroseconds,
            resetMicroseconds: result.resetMicroseconds,
            now: sent
        )
        return RateLimitDecision(verdict: .limited, policy: policy)
    }

    private func batchFailed(_ error: any Error, now: NIODeadline) {
        breaker.recordFailure(now: now)
        limiter.metrics.recordError(error)
        if !breaker.isClosed { limiter.metrics.up.record(0) }
        logFailure("Redis batch failed; the failure mode decides", error: error, now: now)
    }

    private func breakerFailedWithoutConnection(now: NIODeadline) {
        if !connecting { breaker.recordFailure(now: now) }
    }

    private func logFailure(_ message: Logger.Message, error: any Error, now: NIODeadline) {
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

    // MARK: Connection

    /// Connects (and loads the script) unless connected, connecting or closed.
    func connectIfNeeded() {
        guard !closed, connection == nil, !connecting else { return }
        connecting = true
        reconnect?.cancel()
        reconnect = nil
        let limiter = self.limiter
        let configuration = limiter.configuration
        RedisConnection.connect(configuration: configuration.redis, on: eventLoop, logger: limiter.logger)
            .flatMap { connection in
                connection.scriptLoad(GCRAScript.source, timeout: max(configuration.timeout, .seconds(1)))
                    .map { _ in connection }
                    .flatMapError { error in connection.close().flatMapThrowing { throw error } }
            }
            .assumeIsolated()
            .whenComplete { result in
                withExtendedLifetime(limiter) {
                    self.connecting = false
                    switch result {
                    case .success(let connection):
                        self.connected(connection)
                    case .failure(let error):
                        let now = NIODeadline.now()
                        self.breaker.recordFailure(now: now)
                        limiter.metrics.recordError(error)
                        limiter.metrics.up.record(0)
                        self.logFailure("cannot connect to Redis; the failure mode decides", error: error, now: now)
                        self.scheduleReconnect()
                    }
                }
            }
    }

    private func connected(_ connection: RedisConnection) {
        guard !closed else {
            connection.close().whenComplete { _ in }
            return
        }
        self.connection = connection
        self.executor = RedisGCRAExecutor(connection: connection)
        reconnectDelay = limiter.configuration.breakerInitialBackoff
        breaker.recordSuccess()
        limiter.metrics.up.record(1)
        limiter.logger.info(
            "connected to Redis",
            metadata: ["redis": "\(limiter.configuration.redis.host):\(limiter.configuration.redis.port)"]
        )
        connection.closeFuture.assumeIsolated().whenComplete { [weak limiter = self.limiter] _ in
            guard let limiter, self.connection === connection else { return }
            withExtendedLifetime(limiter) {
                self.connection = nil
                self.executor = nil
                self.scheduleReconnect()
            }
        }
    }

    /// Tries again after a delay that doubles up to the breaker's longest back-off.
    private func scheduleReconnect() {
        guard !closed, reconnect == nil else { return }
        let delay = reconnectDelay
        reconnectDelay = min(reconnectDelay * 2, limiter.configuration.breakerMaximumBackoff)
        reconnect = eventLoop.assumeIsolated().scheduleTask(in: delay) { [weak limiter = self.limiter] in
            self.reconnect = nil
            guard let limiter else { return }
            withExtendedLifetime(limiter) { self.connectIfNeeded() }
        }
    }

    /// Closes the connection; waiting requests are decided by the failure mode.
    func close() {
        closed = true
        reconnect?.cancel()
        reconnect = nil
        let batch = waiting
        waiting.removeAll()
        for request in batch { request.promise.succeed(fallback(request.matches)) }
        connection?.close().whenComplete { _ in }
        connection = nil
        executor = nil
    }
}
