/// One all-or-nothing check of a batch: every listed bucket spends its cost, or none does.
///
/// A check is one request; each spend is one matching rule's bucket and that rule's cost.
/// Shadow spends (shadow rules) never deny: once the check is allowed, each is decided on its own
/// bucket and spends only when that bucket has room; a denied check spends none of them.
public struct GCRACheck: Sendable, Hashable {
    /// One bucket of the check and the tokens it spends.
    public struct Spend: Sendable, Hashable {
        /// Index of the bucket in the batch's keys (0-based).
        public var keyIndex: Int
        /// Tokens spent from that bucket.
        public var cost: Int

        public init(keyIndex: Int, cost: Int) {
            self.keyIndex = keyIndex
            self.cost = cost
        }
    }

    /// The buckets spent from, in order.
    public var spends: [Spend]
    /// Buckets of shadow rules, decided one by one after the check is allowed.
    public var shadowSpends: [Spend]

    public init(spends: [Spend], shadowSpends: [Spend] = []) {
        self.spends = spends
        self.shadowSpends = shadowSpends
    }

    /// A check spending the same `cost` from each of `keyIndices`.
    public init(cost: Int, keyIndices: [Int]) {
        self.spends = keyIndices.map { Spend(keyIndex: $0, cost: cost) }
        self.shadowSpends = []
    }
}

/// The outcome of one ``GCRACheck``, as the Lua script returns it.
public struct GCRACheckResult: Sendable, Hashable {
    /// Whether every bucket of the check allowed it (and so spent).
    public var allowed: Bool
    /// Tokens left in the limiting bucket (see ``limitingSpend``): after spending when allowed
    /// (the fewest over the check's buckets), untouched when denied.
    public var remaining: Int
    /// 0 when allowed; else the longest retry-after over the denying buckets.
    public var retryAfterMicroseconds: Int64
    /// Time until the limiting bucket (see ``limitingSpend``) is full again.
    public var resetMicroseconds: Int64
    /// Index into the check's spends of the limiting bucket: the fewest tokens left when allowed,
    /// the longest retry-after when denied (the first on ties).
    public var limitingSpend: Int
    /// For each shadow spend of an allowed check, whether it spent (`false`: its bucket would have
    /// denied); empty when the check was denied.
    public var shadowSpent: [Bool]

    public init(
        allowed: Bool,
        remaining: Int,
        retryAfterMicroseconds: Int64,
        resetMicroseconds: Int64,
        limitingSpend: Int = 0,
        shadowSpent: [Bool] = []
    ) {
        self.allowed = allowed
        self.remaining = remaining
        self.retryAfterMicroseconds = retryAfterMicroseconds
        self.resetMicroseconds = resetMicroseconds
        self.limitingSpend = limitingSpend
        self.shadowSpent = shadowSpent
    }
}
