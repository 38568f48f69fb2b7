import NIOCore

/// A command on its way to Redis, with the promise its reply completes and its deadline.
struct RedisRequest: Sendable {
    var command: RESPCommand
    var promise: EventLoopPromise<RESPValue>
    /// The deadline as the caller gave it, for the error.
    var timeout: TimeAmount
    var deadline: NIODeadline
}
