import Logging
import NIOCore

extension RedisSentinel {
    /// A sentinel's `+switch-master` announcement: a master set's new master.
    public struct MasterSwitch: Sendable, Hashable {
        public var masterName: String
        public var host: String
        public var port: Int

        /// Parses the message `<master-name> <old-ip> <old-port> <new-ip> <new-port>`.
        public init?(announcement: String) {
            let words = announcement.split(separator: " ")
            guard words.count == 5, let port = Int(words[4]), (1...65535).contains(port) else { return nil }
            self.masterName = String(words[0])
            self.host = String(words[3])
            self.port = port
        }
    }

    /// The channel sentinels announce a promotion on.
    static let switchMasterChannel = "+switch-master"

    /// Follows the sentinels' `+switch-master` announcements for this master set until the task is
    /// cancelled: subscribed on one sentinel at a time, the next one (a second later) when it
    /// cannot be reached or its connection drops. `onSwitch` runs on `eventLoop`.
    public func followSwitches(
        on eventLoop: any EventLoop,
        logger: Logger,
        onSwitch: @escaping @Sendable (MasterSwitch) -> Void
    ) async {
        var next = 0
        var failing = false
        while !Task.isCancelled {
            let sentinel = self.sentinels[next % self.sentinels.count]
            next += 1
            do {
                try await self.listen(to: sentinel, on: eventLoop, logger: logger, onSwitch: onSwitch)
                failing = false
            } catch {
                if !failing, !Task.isCancelled {
                    logger.warning(
                        "cannot follow the sentinels' announcements; a failover is found when the master's connection fails instead",
                        metadata: ["sentinel": "\(sentinel.host):\(sentinel.port)", "error": "\(error)"]
                    )
                }
                failing = true
            }
            try? await Task.sleep(for: .seconds(1))
        }
    }

    /// Subscribes on `sentinel`; returns when the connection closes or the task is cancelled.
    private func listen(
        to sentinel: RedisConnection.Configuration,
        on eventLoop: any EventLoop,
        logger: Logger,
        onSwitch: @escaping @Sendable (MasterSwitch) -> Void
    ) async throws {
        let connection = try await RedisConnection.connect(configuration: sentinel, on: eventLoop, logger: logger).get()
        let name = self.masterName
        do {
            try await eventLoop.submit {
                let pipeline = connection.channel.pipeline.syncOperations
                let requests = try pipeline.handler(type: RedisConnectionHandler.self)
                let announcements = RedisAnnouncementHandler(channel: Self.switchMasterChannel) { message in
                    guard let change = MasterSwitch(announcement: message), change.masterName == name else { return }
                    onSwitch(change)
                }
                try pipeline.addHandler(announcements, position: .before(requests))
            }.get()
            let reply = try await connection.send(
                RESPCommand("SUBSCRIBE", Self.switchMasterChannel),
                timeout: max(sentinel.requestTimeout, .seconds(2))
            ).get()
            guard case .array(let parts?) = reply, parts.first == .bulkString(Array("subscribe".utf8)) else {
                throw RedisError.unexpectedReply(command: "SUBSCRIBE \(Self.switchMasterChannel)", reply: "\(reply)")
            }
            logger.debug(
                "following the sentinels' announcements",
                metadata: ["sentinel": "\(sentinel.host):\(sentinel.port)"]
            )
        } catch {
            _ = try? await connection.close().get()
            throw error
        }
        await withTaskCancellationHandler {
            try? await connection.closeFuture.get()
        } onCancel: {
            _ = connection.close()
        }
        if !Task.isCancelled {
            throw RedisError.connectionClosed(reason: "the sentinel closed the subscription")
        }
    }
}

/// Takes a subscriber connection's `message` pushes on one channel out of the reply stream (so
/// the request handler after it sees only replies) and hands their text to `onMessage`.
final class RedisAnnouncementHandler: ChannelInboundHandler, RemovableChannelHandler {
    typealias InboundIn = RESPValue
    typealias InboundOut = RESPValue

    private let channel: [UInt8]
    private let onMessage: (String) -> Void

    init(channel: String, onMessage: @escaping (String) -> Void) {
        self.channel = Array(channel.utf8)
        self.onMessage = onMessage
    }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        let value = Self.unwrapInboundIn(data)
        guard case .array(let parts?) = value, parts.count == 3, parts[0] == .bulkString(Array("message".utf8)) else {
            context.fireChannelRead(data)
            return
        }
        if parts[1] == .bulkString(channel), case .bulkString(let text?) = parts[2] {
            onMessage(String(decoding: text, as: UTF8.self))
        }
    }
}

@available(*, unavailable)
extension RedisAnnouncementHandler: Sendable {}
