import NIOCore

/// An outbound write held back until the next flush, with the promises of every write folded into it.
struct HeldWrite<Value> {
    /// The held value; set it to hold one, or to fold a new write into it.
    var value: Value?
    private var promise: EventLoopPromise<Void>?

    /// Completes `promise` with the held write.
    mutating func addPromise(_ promise: EventLoopPromise<Void>?) {
        guard let promise else { return }
        if let held = self.promise {
            held.futureResult.cascade(to: promise)
        } else {
            self.promise = promise
        }
    }

    /// The held value and its promise, leaving nothing held.
    mutating func take() -> (value: Value, promise: EventLoopPromise<Void>?)? {
        guard let value else { return nil }
        defer {
            self.value = nil
            promise = nil
        }
        return (value, promise)
    }
}
