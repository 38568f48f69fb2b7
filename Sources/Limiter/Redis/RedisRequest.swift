import NIOCore

/// A command on its way to Redis, with the promise its reply completes and its deadline.
struct RedisRequest: Sendable {
    var command: RESPCommand
    var promise: EventLoopPromise<RESPValue>
    var deadline: NIODeadline
}
