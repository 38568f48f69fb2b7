import NIOCore

/// Pipelines ``RedisRequest``s on one connection: writes each command, and completes the oldest
/// pending promise with each reply.
///
/// Replies come back in request order, so a request that misses its deadline fails with
/// ``RedisError/timeout(_:)`` and closes the connection: its reply, if it ever came, would be taken
/// for the next request's. When the connection closes every pending promise fails.
final class RedisConnectionHandler: ChannelDuplexHandler {
    typealias InboundIn = RESPValue
    typealias OutboundIn = RedisRequest
    typealias OutboundOut = ByteBuffer

    private struct Pending {
        var id: UInt64
        var command: String
        var promise: EventLoopPromise<RESPValue>
        var timeout: Scheduled<Void>
    }

    private var pending = CircularBuffer<Pending>()
    private var nextID: UInt64 = 0
    /// Set once the connection is going away: new requests fail with it at once.
    private var closeReason: RedisError?

    init() {}

    func write(context: ChannelHandlerContext, data: NIOAny, promise: EventLoopPromise<Void>?) {
        let request = Self.unwrapOutboundIn(data)
        if let closeReason = self.closeReason {
            request.promise.fail(closeReason)
            promise?.fail(closeReason)
            return
        }
        assert(request.command.isComplete, "\(request.command.name) lacks arguments it announced")
        let buffer = request.command.bytes
        let id = self.nextID
        self.nextID &+= 1
        let allowed = request.timeout
        let timeout = context.eventLoop.assumeIsolated().scheduleTask(deadline: request.deadline) {
            self.timedOut(id: id, after: allowed, context: context)
        }
        self.pending.append(Pending(id: id, command: request.command.name, promise: request.promise, timeout: timeout))
        context.write(Self.wrapOutboundOut(buffer), promise: promise)
    }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        let value = Self.unwrapInboundIn(data)
        guard let first = self.pending.popFirst() else {
            self.close(
                context: context,
                reason: .protocolViolation("a reply arrived with no request waiting: \(value)")
            )
            return
        }
        first.timeout.cancel()
        if case .error(let message) = value {
            first.promise.fail(RedisError.server(message))
        } else {
            first.promise.succeed(value)
        }
    }

    func channelInactive(context: ChannelHandlerContext) {
        self.failAll(self.closeReason ?? .connectionClosed(reason: "Redis or the network closed it"))
        context.fireChannelInactive()
    }

    func errorCaught(context: ChannelHandlerContext, error: any Error) {
        let reason = (error as? RedisError) ?? .connectionClosed(reason: "\(error)")
        self.close(context: context, reason: reason)
    }

    func handlerRemoved(context: ChannelHandlerContext) {
        self.failAll(self.closeReason ?? .connectionClosed(reason: "the connection handler was removed"))
    }

    private func timedOut(id: UInt64, after amount: TimeAmount, context: ChannelHandlerContext) {
        guard let index = self.pending.firstIndex(where: { $0.id == id }) else { return }
        let request = self.pending.remove(at: index)
        request.promise.fail(RedisError.timeout(amount))
        self.close(
            context: context,
            reason: .connectionClosed(
                reason: "an earlier \(request.command) timed out, so later replies could be misaligned"
            )
        )
    }

    private func close(context: ChannelHandlerContext, reason: RedisError) {
        if self.closeReason == nil { self.closeReason = reason }
        self.failAll(reason)
        context.close(promise: nil)
    }

    private func failAll(_ error: RedisError) {
        if self.closeReason == nil { self.closeReason = error }
        while let request = self.pending.popFirst() {
            request.timeout.cancel()
            request.promise.fail(error)
        }
    }
}

@available(*, unavailable)
extension RedisConnectionHandler: Sendable {}
