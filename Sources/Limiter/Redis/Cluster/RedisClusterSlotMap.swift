/// Which master serves each slot of a Redis Cluster, from a `CLUSTER SHARDS` reply (Redis 7) or a
/// `CLUSTER SLOTS` one (earlier versions).
public struct RedisClusterSlotMap: Sendable, Equatable {
    /// A master's address.
    public struct Node: Sendable, Hashable, CustomStringConvertible {
        public var host: String
        public var port: Int

        public init(host: String, port: Int) {
            self.host = host
            self.port = port
        }

        public var description: String { host.contains(":") ? "[\(host)]:\(port)" : "\(host):\(port)" }
    }

    /// Slot ranges and their masters, sorted by first slot, not overlapping.
    public private(set) var ranges: [(slots: ClosedRange<Int>, node: Node)]

    /// The masters, each once, in the order of their first range.
    public var nodes: [Node] {
        var seen = Set<Node>()
        return ranges.compactMap { seen.insert($0.node).inserted ? $0.node : nil }
    }

    public static func == (lhs: RedisClusterSlotMap, rhs: RedisClusterSlotMap) -> Bool {
        lhs.ranges.elementsEqual(rhs.ranges) { $0.slots == $1.slots && $0.node == $1.node }
    }

    /// The map `reply` describes, a `CLUSTER SHARDS` reply from the node at `askedHost`: each
    /// shard's slot ranges and its master's endpoint (else its IP; `?` or empty is the asked
    /// node's host) and port (`tls-port` when it has no plain one).
    public init(clusterShards reply: RESPValue, askedHost: String) throws(RedisError) {
        func failure(_ reason: String) -> RedisError {
            .unexpectedReply(command: "CLUSTER SHARDS", reply: "\(reason) in \(reply)")
        }
        /// A RESP2 flat list of names and values, or a RESP3 map as Redis sends it to RESP2 clients.
        func fields(_ value: RESPValue) -> [String: RESPValue]? {
            guard case .array(let items?) = value, items.count % 2 == 0 else { return nil }
            var fields: [String: RESPValue] = [:]
            for index in stride(from: 0, to: items.count, by: 2) {
                guard let name = items[index].text else { return nil }
                fields[name] = items[index + 1]
            }
            return fields
        }
        guard case .array(let shards?) = reply else { throw failure("expected an array") }
        var ranges: [(slots: ClosedRange<Int>, node: Node)] = []
        for shard in shards {
            guard let shard = fields(shard), case .array(let bounds?)? = shard["slots"],
                case .array(let nodes?)? = shard["nodes"], bounds.count % 2 == 0
            else { throw failure("a malformed shard") }
            // A shard with no slots (a master being added, or emptied) serves nothing.
            guard !bounds.isEmpty else { continue }
            let master = nodes.lazy.compactMap(fields).first { $0["role"]?.text == "master" }
            guard let master else { throw failure("a shard with slots and no master") }
            var port: Int64?
            if case .integer(let plain)? = master["port"] { port = plain }
            if port == nil, case .integer(let tls)? = master["tls-port"] { port = tls }
            guard let port, (1...65535).contains(port) else { throw failure("a master without a port") }
            var host = master["endpoint"]?.text ?? ""
            if host.isEmpty || host == "?" { host = master["ip"]?.text ?? "" }
            let node = Node(host: host.isEmpty || host == "?" ? askedHost : host, port: Int(port))
            for index in stride(from: 0, to: bounds.count, by: 2) {
                guard case .integer(let first) = bounds[index], case .integer(let last) = bounds[index + 1],
                    first >= 0, first <= last, last < RedisClusterSlot.count
                else { throw failure("a malformed slot range") }
                ranges.append((Int(first)...Int(last), node))
            }
        }
        try self.init(sorting: ranges, failure: failure)
    }

    /// The map `reply` describes, a `CLUSTER SLOTS` reply from the node at `askedHost` (a master
    /// listed with an empty host is that node's host, as Redis reports an unknown endpoint).
    public init(clusterSlots reply: RESPValue, askedHost: String) throws(RedisError) {
        func failure(_ reason: String) -> RedisError {
            .unexpectedReply(command: "CLUSTER SLOTS", reply: "\(reason) in \(reply)")
        }
        guard case .array(let entries?) = reply else { throw failure("expected an array") }
        var ranges: [(slots: ClosedRange<Int>, node: Node)] = []
        for entry in entries {
            guard case .array(let parts?) = entry, parts.count >= 3, case .integer(let first) = parts[0],
                case .integer(let last) = parts[1], first >= 0, first <= last, last < RedisClusterSlot.count,
                case .array(let master?) = parts[2], master.count >= 2, case .integer(let port) = master[1],
                (1...65535).contains(port)
            else { throw failure("a malformed slot range") }
            let host: String
            switch master[0] {
            case .bulkString(let bytes?): host = String(decoding: bytes, as: UTF8.self)
            case .simpleString(let text): host = text
            default: throw failure("a master without a host")
            }
            let node = Node(host: host.isEmpty || host == "?" ? askedHost : host, port: Int(port))
            ranges.append((Int(first)...Int(last), node))
        }
        try self.init(sorting: ranges, failure: failure)
    }

    private init(
        sorting ranges: [(slots: ClosedRange<Int>, node: Node)],
        failure: (String) -> RedisError
    ) throws(RedisError) {
        var ranges = ranges
        ranges.sort { $0.slots.lowerBound < $1.slots.lowerBound }
        for (previous, next) in zip(ranges, ranges.dropFirst()) where previous.slots.upperBound >= next.slots.lowerBound
        {
            throw failure("overlapping slot ranges")
        }
        self.ranges = ranges
    }

    /// The master serving `slot`, or `nil` when no master does (the cluster is incomplete).
    public func node(forSlot slot: Int) -> Node? {
        var low = 0
        var high = ranges.count - 1
        while low <= high {
            let middle = (low + high) / 2
            let range = ranges[middle].slots
            if slot < range.lowerBound {
                high = middle - 1
            } else if slot > range.upperBound {
                low = middle + 1
            } else {
                return ranges[middle].node
            }
        }
        return nil
    }

    /// Whether every slot has a master.
    public var coversEverySlot: Bool {
        var next = 0
        for range in ranges {
            guard range.slots.lowerBound == next else { return false }
            next = range.slots.upperBound + 1
        }
        return next == RedisClusterSlot.count
    }
}

extension RESPValue {
    /// A bulk or simple string as text.
    fileprivate var text: String? {
        switch self {
        case .bulkString(let bytes?): String(decoding: bytes, as: UTF8.self)
        case .simpleString(let text): text
        default: nil
        }
    }
}
