/// What ``GCRAScript`` answered for one ``GCRABatch``.
public struct GCRAScriptReply: Sendable, Hashable {
    /// One result per check, in check order.
    public var results: [GCRACheckResult]
    /// Indices into the batch's keys of buckets whose stored value was damaged (not a decimal
    /// integer, or a TAT beyond a full window ahead): each was decided as an empty bucket and
    /// rewritten as such.
    public var damagedKeyIndices: [Int]

    public init(results: [GCRACheckResult], damagedKeyIndices: [Int] = []) {
        self.results = results
        self.damagedKeyIndices = damagedKeyIndices
    }
}
