import Metrics

/// Who decided a request, the `source` label of `sidecar_ratelimit_decisions_total`.
public enum RateLimitDecisionSource: Int, CaseIterable, Sendable {
    case redis, local, open, closed, cache

    var label: String {
        switch self {
        case .redis: "redis"
        case .local: "local"
        case .open: "open"
        case .closed: "closed"
        case .cache: "cache"
        }
    }
}

/// `sidecar_ratelimit_decisions_total{rule,decision,source}` for every rule, resolved once:
/// recording is an index into an array and a counter increment, with no label built per request.
struct DecisionCounters: Sendable {
    /// The `decision` label.
    enum Decision: Int, CaseIterable, Sendable {
        case allowed, limited, shadowLimited

        var label: String {
            switch self {
            case .allowed: "allowed"
            case .limited: "limited"
            case .shadowLimited: "shadow_limited"
            }
        }
    }

    /// Counters by rule, decision and source, flattened; `nil` for sources this limiter never reports.
    private let counters: [Counter?]

    /// Counters for `rules`, exported for `sources` only (so that `/metrics` lists no series that cannot move).
    init(rules: [RateLimitRule], sources: [RateLimitDecisionSource], factory: any MetricsFactory) {
        var counters: [Counter?] = []
        counters.reserveCapacity(rules.count * Decision.allCases.count * RateLimitDecisionSource.allCases.count)
        for rule in rules {
            for decision in Decision.allCases {
                for source in RateLimitDecisionSource.allCases {
                    guard sources.contains(source) else {
                        counters.append(nil)
                        continue
                    }
                    counters.append(
                        Counter(
                            label: "sidecar_ratelimit_decisions_total",
                            dimensions: [("rule", rule.name), ("decision", decision.label), ("source", source.label)],
                            factory: factory
                        )
                    )
                }
            }
        }
        self.counters = counters
    }

    func record(rule: Int, _ decision: Decision, _ source: RateLimitDecisionSource) {
        let sources = RateLimitDecisionSource.allCases.count
        counters[(rule * Decision.allCases.count + decision.rawValue) * sources + source.rawValue]?.increment()
    }
}
