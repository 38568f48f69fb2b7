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

    /// Decides `batch` atomically in Redis; the results are in check order.
    public func execute(_ batch: GCRABatch<String>, timeout: TimeAmount? = nil) -> EventLoopFuture<[GCRACheckResult]> {
        let checkCount = batch.checks.count
        let command = Self.command(for: batch, sha1: GCRAScript.sha1)
        return self.connection.send(command, timeout: timeout)
            .flatMapError { error in
                guard let redisError = error as? RedisError, redisError.isNoScript else {
                    return self.connection.eventLoop.makeFailedFuture(error)
                }
                return self.connection.scriptLoad(GCRAScript.source, timeout: timeout).flatMap { sha1 in
                    self.connection.send(Self.command(for: batch, sha1: sha1), timeout: timeout)
                }
            }
            .flatMapThrowing { reply in
                try Self.results(from: reply, checkCount: checkCount)
            }
    }

    /// The `EVALSHA` command for `batch` (see ``GCRAScript`` for the argument layout).
    public static func command(for batch: GCRABatch<String>, sha1: String) -> RESPCommand {
        var arguments: [[UInt8]] = [Array("EVALSHA".utf8), Array(sha1.utf8), Array(String(batch.keys.count).utf8)]
        arguments.reserveCapacity(3 + batch.keys.count * 3 + batch.checks.count * 3)
        for key in batch.keys {
            arguments.append(Array(key.utf8))
        }
        for parameters in batch.parameters {
            arguments.append(Array(String(parameters.emissionIntervalMicroseconds).utf8))
            arguments.append(Array(String(parameters.burstToleranceMicroseconds).utf8))
        }
        for check in batch.checks {
            arguments.append(Array(String(check.spends.count).utf8))
            for spend in check.spends {
                arguments.append(Array(String(spend.keyIndex + 1).utf8))
                arguments.append(Array(String(spend.cost).utf8))
            }
        }
        return RESPCommand(arguments: arguments)
    }

    /// Integers the script returns per check.
    static let integersPerCheck = 5

    /// Parses the script's flat reply: five integers per check.
    public static func results(from reply: RESPValue, checkCount: Int) throws -> [GCRACheckResult] {
        guard case .array(let values?) = reply, values.count == checkCount * Self.integersPerCheck else {
            throw RedisError.unexpectedReply(
                command: "EVALSHA (sidecar GCRA)",
                reply: "expected an array of \(checkCount * Self.integersPerCheck) integers, got \(reply)"
            )
        }
        var integers: [Int64] = []
        integers.reserveCapacity(values.count)
        for value in values {
            guard case .integer(let integer) = value else {
                throw RedisError.unexpectedReply(
                    command: "EVALSHA (sidecar GCRA)",
                    reply: "non-integer \(value) in \(reply)"
                )
            }
            integers.append(integer)
        }
        var results: [GCRACheckResult] = []
        results.reserveCapacity(checkCount)
        for start in stride(from: 0, to: integers.count, by: Self.integersPerCheck) {
            let allowed = integers[start]
            let remaining = integers[start + 1]
            let retryAfter = integers[start + 2]
            let reset = integers[start + 3]
            let limiting = integers[start + 4]
            guard allowed == 0 || allowed == 1, remaining >= 0, remaining <= Int64(Int32.max), retryAfter >= 0,
                reset >= 0, limiting >= 0, limiting < Int64(Int32.max)
            else {
                throw RedisError.unexpectedReply(
                    command: "EVALSHA (sidecar GCRA)",
                    reply: "out-of-range values in \(reply)"
                )
            }
            results.append(
                GCRACheckResult(
                    allowed: allowed == 1,
                    remaining: Int(remaining),
                    retryAfterMicroseconds: retryAfter,
                    resetMicroseconds: reset,
                    limitingSpend: Int(limiting)
                )
            )
        }
        return results
    }
}
