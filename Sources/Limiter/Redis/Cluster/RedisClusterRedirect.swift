/// A cluster's answer that a command was not run where it was sent, parsed from its error reply.
///
/// Redis checks where a command's keys live before running it, so a redirected `EVALSHA` spent
/// nothing and can be sent again.
public enum RedisClusterRedirect: Sendable, Hashable {
    /// `MOVED <slot> <host>:<port>`: the slot lives on that master now; the map is out of date.
    case moved(slot: Int, node: RedisClusterSlotMap.Node)
    /// `ASK <slot> <host>:<port>`: the slot is moving there; send this one command there after `ASKING`.
    case ask(slot: Int, node: RedisClusterSlotMap.Node)
    /// `TRYAGAIN`: some of the command's keys moved and some did not, mid-migration; retry shortly.
    case tryAgain

    /// The redirect `error` names, or `nil` for any other error; an empty host (Redis's way of
    /// saying "the host you used") is `replyingHost`.
    public init?(_ error: RedisError, replyingHost: String) {
        guard case .server(let message) = error else { return nil }
        if message.hasPrefix("TRYAGAIN") {
            self = .tryAgain
            return
        }
        let words = message.split(separator: " ")
        guard words.count == 3, words[0] == "MOVED" || words[0] == "ASK", let slot = Int(words[1]),
            (0..<RedisClusterSlot.count).contains(slot), let colon = words[2].lastIndex(of: ":"),
            let port = Int(words[2][words[2].index(after: colon)...]), (1...65535).contains(port)
        else { return nil }
        var host = String(words[2][..<colon])
        if host.hasPrefix("[") && host.hasSuffix("]") { host = String(host.dropFirst().dropLast()) }
        let node = RedisClusterSlotMap.Node(host: host.isEmpty ? replyingHost : host, port: port)
        self = words[0] == "MOVED" ? .moved(slot: slot, node: node) : .ask(slot: slot, node: node)
    }
}

extension RedisClusterRedirect {
    /// The master a `MOVED` reply from `replyingHost` names, or `nil` for any other error.
    static func moved(_ error: RedisError, replyingHost: String) -> RedisClusterSlotMap.Node? {
        guard case .moved(_, let node)? = RedisClusterRedirect(error, replyingHost: replyingHost) else { return nil }
        return node
    }
}

extension RedisError {
    /// Whether the cluster cannot serve now (`CLUSTERDOWN`: slots without a master, or a minority
    /// partition); the failure mode decides and the slot map is asked again.
    public var isClusterDown: Bool {
        if case .server(let message) = self { return message.hasPrefix("CLUSTERDOWN") }
        return false
    }
}
