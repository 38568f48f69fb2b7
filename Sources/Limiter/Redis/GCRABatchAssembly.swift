/// The checks one event loop gathered, as one ``GCRABatch`` for the script, and the way back from
/// the script's results to each request's rules: plain values, tested without a server.
struct GCRABatchAssembly: Sendable {
    /// Where a request's rules sit in its check: positions in its matches, in spend order.
    struct Placement: Sendable, Equatable {
        /// The enforced rules' positions.
        var enforced: [Int]
        /// The shadow rules' positions.
        var shadow: [Int]

        /// This placement of a part of a request, as positions in the whole request's matches;
        /// `positions[i]` is where the part's `i`-th match sits in the request.
        func mapped(through positions: [Int]) -> Placement {
            Placement(enforced: enforced.map { positions[$0] }, shadow: shadow.map { positions[$0] })
        }
    }

    /// One part of a request as Redis decided it (a request split across cluster slots).
    struct PartOutcome: Sendable, Equatable {
        var outcome: Outcome
        /// The positions of the part's enforced rules.
        var enforced: [Int]
        /// The script's numbers for the part's limiting bucket.
        var result: GCRACheckResult
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

    /// One request's decision from its parts, each decided atomically on its own slot: allowed
    /// when every part is; limited by the denying part with the longest wait, or when allowed by
    /// the part with the fewest tokens left (the first on ties). A part that spent while another
    /// denied keeps its spend: the request is charged, never let through over a limit.
    static func combine(_ parts: [PartOutcome]) -> PartOutcome {
        precondition(!parts.isEmpty, "a request has at least one part")
        if parts.count == 1 { return parts[0] }
        let enforced = parts.flatMap(\.enforced)
        var chosen: PartOutcome?
        if parts.allSatisfy(\.outcome.allowed) {
            for part in parts where part.outcome.limitingPosition != nil {
                if chosen == nil || part.result.remaining < chosen!.result.remaining { chosen = part }
            }
            var combined = chosen ?? parts[0]
            combined.outcome.shadow = parts.flatMap(\.outcome.shadow)
            combined.enforced = enforced
            return combined
        }
        for part in parts where !part.outcome.allowed {
            if chosen == nil || part.result.retryAfterMicroseconds > chosen!.result.retryAfterMicroseconds {
                chosen = part
            }
        }
        var combined = chosen!
        combined.enforced = enforced
        return combined
    }
}
