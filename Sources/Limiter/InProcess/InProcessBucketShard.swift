import Synchronization

/// One lock-protected slice of the in-process limiter's buckets.
///
/// `@unchecked Sendable`: ``store`` is only read or written inside ``withLock(_:)``. The limiter
/// holds several shards' locks at once for one request, always taken in ascending shard order.
final class InProcessBucketShard: @unchecked Sendable {
    private let mutex = Mutex(())
    /// The shard's buckets; only touched while locked.
    var store: InProcessBucketStore

    init(capacity: Int) {
        self.store = InProcessBucketStore(capacity: capacity)
    }

    func withLock<Result>(_ body: () -> Result) -> Result {
        self.mutex.withLock { _ in body() }
    }
}
