/// Which master serves each slot of a Redis Cluster, from a `CLUSTER SLOTS` reply.
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
