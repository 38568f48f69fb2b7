/// The checks one event loop gathered, as one ``GCRABatch`` for the script, and the way back from
/// the script's results to each request's rules: plain values, tested without a server.
struct GCRABatchAssembly: Sendable {
    /// Where a request's rules sit in its check: positions in its matches, in spend order.
    struct Placement: Sendable, Equatable {
        /// The enforced rules' positions.
        var enforced: [Int]
        /// The shadow rules' positions.
        var shadow: [Int]
    }

    /// How one request's check came out, by the positions of its matches.
    struct Outcome: Sendable, Equatable {
        /// A shadow rule's position and whether its bucket had room (spent).
        struct ShadowSpend: Sendable, Equatable {
            var position: Int
            var spent: Bool
        }

        /// Whether the request may pass.
        var allowed: Bool
        /// The position of the rule whose bucket limits (the fewest tokens left when allowed, the
        /// longest wait when denied); `nil` when no enforced rule matched.
        var limitingPosition: Int?
        /// The shadow rules; only for an allowed request (a denied one spends nothing).
        var shadow: [ShadowSpend]
    }

    /// The batch: each bucket once, however many requests spend from it, in first-use order.
    var batch: GCRABatch<String>
    /// One placement per request, in request order (the order of the batch's checks).
    var placements: [Placement]

    /// One check per request; `requests` gives each request's matches and their bucket names.
    static func assemble(
        _ requests: some Collection<(matches: [RuleMatch], keys: [String])>,
        rules: [RateLimitRule],
        parameters: [GCRAParameters]
    ) -> GCRABatchAssembly {
        var keyIndex: [String: Int] = [:]
        var keys: [String] = []
        var keyParameters: [GCRAParameters] = []
        var checks: [GCRACheck] = []
        var placements: [Placement] = []
        checks.reserveCapacity(requests.count)
        placements.reserveCapacity(requests.count)
        for (matches, names) in requests {
            var placement = Placement(enforced: [], shadow: [])
            var check = GCRACheck(spends: [])
            for (position, match) in matches.enumerated() {
                let name = names[position]
                let index: Int
                if let known = keyIndex[name] {
                    index = known
                } else {
                    index = keys.count
                    keyIndex[name] = index
                    keys.append(name)
                    keyParameters.append(parameters[match.ruleIndex])
                }
                let rule = rules[match.ruleIndex]
                let spend = GCRACheck.Spend(keyIndex: index, cost: rule.cost)
                if rule.shadow {
                    check.shadowSpends.append(spend)
                    placement.shadow.append(position)
                } else {
                    check.spends.append(spend)
                    placement.enforced.append(position)
                }
            }
            checks.append(check)
            placements.append(placement)
        }
        return GCRABatchAssembly(
            batch: GCRABatch(keys: keys, parameters: keyParameters, checks: checks),
            placements: placements
        )
    }

    /// What `result`, the script's answer to the check of `placement`, means for that request.
    static func outcome(of result: GCRACheckResult, placement: Placement) -> Outcome {
        let shadow = zip(placement.shadow, result.shadowSpent).map { Outcome.ShadowSpend(position: $0, spent: $1) }
        guard !placement.enforced.isEmpty else { return Outcome(allowed: true, limitingPosition: nil, shadow: shadow) }
        let limiting = placement.enforced[min(max(0, result.limitingSpend), placement.enforced.count - 1)]
        return Outcome(allowed: result.allowed, limitingPosition: limiting, shadow: result.allowed ? shadow : [])
    }
}
