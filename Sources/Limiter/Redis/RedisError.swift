import NIOCore

/// Why a Redis request failed.
public enum RedisError: Error, Sendable, Hashable, CustomStringConvertible {
    /// The TCP connection could not be opened.
    case connectionFailed(host: String, port: Int, reason: String)
    /// The connection closed before the reply arrived; the command may or may not have run.
    case connectionClosed(reason: String)
    /// No reply before the request's deadline; the connection is closed, since later replies
    /// would be matched to the wrong requests. The command may have run.
    case timeout(TimeAmount)
    /// Redis answered with an error reply.
    case server(String)
    /// The bytes from Redis were not valid RESP.
    case protocolViolation(String)
    /// `AUTH` or `SELECT` failed while connecting.
    case handshakeFailed(String)
    /// A reply had a type or shape the command does not produce.
    case unexpectedReply(command: String, reply: String)
    /// A command could not be formatted.
    case invalidCommand(String)
    /// The server a sentinel named is not the master (`ROLE` said otherwise); asked again later.
    case notMaster(host: String, port: Int, reply: String)
    /// No sentinel named the master set's address.
    case noMasterFromSentinels(name: String, failures: [String])

    public var description: String {
        switch self {
        case .connectionFailed(let host, let port, let reason):
            return
                "cannot connect to Redis at \(host):\(port): \(reason); check SIDECAR_REDIS_URL and that Redis is reachable"
        case .connectionClosed(let reason):
            return "the Redis connection closed: \(reason)"
        case .timeout(let amount):
            return
                "Redis did not answer within \(amount.nanoseconds / 1_000_000) ms; raise SIDECAR_REDIS_TIMEOUT if Redis is healthy but far away"
        case .server(let message):
            return "Redis answered with an error: \(message)"
        case .protocolViolation(let message):
            return "Redis sent bytes that are not RESP (\(message)); is the address a Redis server?"
        case .handshakeFailed(let message):
            return
                "Redis refused the connection set-up: \(message); check the user, password and database in SIDECAR_REDIS_URL"
        case .unexpectedReply(let command, let reply):
            return "unexpected Redis reply to \(command): \(reply)"
        case .invalidCommand(let message):
            return "cannot format a Redis command: \(message)"
        case .notMaster(let host, let port, let reply):
            return "the sentinels named \(host):\(port), which is not the master (ROLE: \(reply)); asking again"
        case .noMasterFromSentinels(let name, let failures):
            return
                "no sentinel named the master \"\(name)\" (check SIDECAR_REDIS_SENTINEL_MASTER and the sentinel addresses "
                + "in SIDECAR_REDIS_URL): \(failures.joined(separator: "; "))"
        }
    }

    /// Whether Redis answered that it cannot take writes now: `READONLY` (a master demoted to a
    /// replica, so the address now names a replica) or `LOADING` (a restarted server reading its
    /// data). The connection is closed and made again, resolving the address anew.
    public var isFailover: Bool {
        guard case .server(let message) = self else { return false }
        return message.hasPrefix("READONLY") || message.hasPrefix("LOADING")
    }

    /// Whether this is Redis's `NOSCRIPT` error: the script cache lost the script.
    public var isNoScript: Bool {
        if case .server(let message) = self { return message.hasPrefix("NOSCRIPT") }
        return false
    }
}
