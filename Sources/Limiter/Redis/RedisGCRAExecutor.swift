import NIOCore

/// Runs ``GCRABatch``es through ``GCRAScript`` on a ``RedisConnection``.
///
/// A `NOSCRIPT` error (Redis restarted or failed over and lost its script cache) loads the script
/// and resends the batch once. Any other failure, a timeout above all, is never resent: the
/// script may have run and spent tokens.
public final class RedisGCRAExecutor: Sendable {
    /// The connection batches run on.
    public let connection: RedisConnection

    public init(connection: RedisConnection) {
        self.connection = connection
    }

    /// Decides `batch` atomically in Redis; the results are in check order. With `asking`, each
    /// `EVALSHA` follows an `ASKING` (a cluster's `ASK` redirect to a slot being imported).
    /// Without `flush`, the command is written out by the connection's next flush.
    public func execute(
        _ batch: GCRABatch<String>,
        timeout: TimeAmount? = nil,
        asking: Bool = false,
        flush: Bool = true
    ) -> EventLoopFuture<GCRAScriptReply> {
        let checks = batch.checks
        let keyCount = batch.keys.count
        return self.send(
            Self.command(for: batch, sha1: GCRAScript.sha1),
            timeout: timeout,
            asking: asking,
            flush: flush
        )
        .flatMapError { error in
            guard let redisError = error as? RedisError, redisError.isNoScript else {
                return self.connection.eventLoop.makeFailedFuture(error)
            }
            return self.connection.scriptLoad(GCRAScript.source, timeout: timeout).flatMap { sha1 in
                self.send(Self.command(for: batch, sha1: sha1), timeout: timeout, asking: asking, flush: true)
            }
        }
        .flatMapThrowing { reply in
            try Self.reply(from: reply, checks: checks, keyCount: keyCount)
        }
    }

    private func send(
        _ command: RESPCommand,
        timeout: TimeAmount?,
        asking: Bool,
        flush: Bool
    ) -> EventLoopFuture<RESPValue> {
        if asking {
            // Pipelined: nothing else is written between the two on this loop. Its failure is
            // the next command's too (a redirect or a closed connection).
            self.connection.send(RESPCommand("ASKING"), timeout: timeout, flush: false).whenComplete { _ in }
        }
        return self.connection.send(command, timeout: timeout, flush: flush)
    }

    /// The `EVALSHA` command for `batch` (see ``GCRAScript`` for the argument layout).
    public static func command(for batch: GCRABatch<String>, sha1: String) -> RESPCommand {
        let spendCount = batch.checks.reduce(0) { $0 + $1.spends.count + $1.shadowSpends.count }
        let argumentCount = 3 + batch.keys.count + batch.parameters.count * 2 + batch.checks.count * 2 + spendCount * 2
        let keyBytes = batch.keys.reduce(0) { $0 + $1.utf8.count + 8 }
        var command = RESPCommand(
            name: "EVALSHA",
            argumentCount: argumentCount,
            capacity: keyBytes + argumentCount * 12
        )
        command.append(sha1)
        command.append(batch.keys.count)
        for key in batch.keys { command.append(key) }
        for parameters in batch.parameters {
            command.append(Int(parameters.emissionIntervalMicroseconds))
            command.append(Int(parameters.burstToleranceMicroseconds))
        }
        for check in batch.checks {
            command.append(check.spends.count)
            command.append(check.shadowSpends.count)
            for spend in check.spends {
                command.append(spend.keyIndex + 1)
                command.append(spend.cost)
            }
            for spend in check.shadowSpends {
                command.append(spend.keyIndex + 1)
                command.append(spend.cost)
            }
        }
        return command
    }

    /// Integers the script returns per check, before one per shadow spend.
    static let integersPerCheck = 5

    /// Parses the script's flat reply to `checks` of a batch of `keyCount` keys (see ``GCRAScript``).
    public static func reply(from reply: RESPValue, checks: [GCRACheck], keyCount: Int) throws -> GCRAScriptReply {
        func failure(_ reason: String) -> RedisError {
            RedisError.unexpectedReply(command: "EVALSHA (sidecar GCRA)", reply: "\(reason) in \(reply)")
        }
        guard case .array(let values?) = reply else { throw failure("expected an array") }
        var integers: [Int64] = []
        integers.reserveCapacity(values.count)
        for value in values {
            guard case .integer(let integer) = value else { throw failure("non-integer \(value)") }
            integers.append(integer)
        }
        var position = 0
        func next(_ range: ClosedRange<Int64>) throws -> Int64 {
            guard position < integers.count else { throw failure("too few integers") }
            let value = integers[position]
            guard range.contains(value) else { throw failure("out-of-range value \(value)") }
            position += 1
            return value
        }
        var results: [GCRACheckResult] = []
        results.reserveCapacity(checks.count)
        for check in checks {
            let allowed = try next(0...1) == 1
            var result = GCRACheckResult(
                allowed: allowed,
                remaining: Int(try next(0...Int64.max)),
                retryAfterMicroseconds: try next(0...Int64.max),
                resetMicroseconds: try next(0...Int64.max),
                limitingSpend: Int(try next(0...Int64(max(0, check.spends.count - 1))))
            )
            for _ in check.shadowSpends {
                let spent = try next(0...1) == 1
                if allowed { result.shadowSpent.append(spent) }
            }
            results.append(result)
        }
        let damagedCount = try next(0...Int64(keyCount))
        var damaged: [Int] = []
        for _ in 0..<damagedCount { damaged.append(Int(try next(0...Int64(max(0, keyCount - 1))))) }
        guard position == integers.count else { throw failure("\(integers.count - position) integers too many") }
        return GCRAScriptReply(results: results, damagedKeyIndices: damaged)
    }
}
