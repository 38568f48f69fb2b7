import Testing

@testable import Limiter

/// Batch assembly and result mapping as plain values: no Redis.
@Suite struct GCRABatchAssemblyTests {
    let rules = [
        try! RuleParser.parse(name: "ip", "10/s by ip"),
        try! RuleParser.parse(name: "fleet", "100/s cost 3"),
        try! RuleParser.parse(name: "audit", "5/s by ip shadow"),
    ]
    var parameters: [GCRAParameters] { rules.map { GCRAParameters(rule: $0) } }

    @Test func sharedBucketsAppearOnceAndRulesKeepTheirPositions() {
        let first = (
            matches: [
                RuleMatch(ruleIndex: 2, clientKey: "a"), RuleMatch(ruleIndex: 0, clientKey: "a"),
                RuleMatch(ruleIndex: 1, clientKey: nil),
            ],
            keys: ["audit:a", "ip:a", "fleet"]
        )
        let second = (
            matches: [RuleMatch(ruleIndex: 0, clientKey: "b"), RuleMatch(ruleIndex: 1, clientKey: nil)],
            keys: ["ip:b", "fleet"]
        )
        let assembly = GCRABatchAssembly.assemble([first, second], rules: rules, parameters: parameters)
        #expect(assembly.batch.keys == ["audit:a", "ip:a", "fleet", "ip:b"])
        #expect(assembly.batch.parameters == [parameters[2], parameters[0], parameters[1], parameters[0]])
        #expect(
            assembly.batch.checks == [
                GCRACheck(
                    spends: [.init(keyIndex: 1, cost: 1), .init(keyIndex: 2, cost: 3)],
                    shadowSpends: [.init(keyIndex: 0, cost: 1)]
                ),
                GCRACheck(spends: [.init(keyIndex: 3, cost: 1), .init(keyIndex: 2, cost: 3)]),
            ]
        )
        #expect(
            assembly.placements == [
                .init(enforced: [1, 2], shadow: [0]),
                .init(enforced: [0, 1], shadow: []),
            ]
        )
    }

    @Test func resultsMapBackToTheRequestsRules() {
        let placement = GCRABatchAssembly.Placement(enforced: [1, 2], shadow: [0])
        let allowed = GCRACheckResult(
            allowed: true,
            remaining: 4,
            retryAfterMicroseconds: 0,
            resetMicroseconds: 10,
            limitingSpend: 1,
            shadowSpent: [false]
        )
        #expect(
            GCRABatchAssembly.outcome(of: allowed, placement: placement)
                == .init(allowed: true, limitingPosition: 2, shadow: [.init(position: 0, spent: false)])
        )
        // Denied: nothing spent, no shadow rule counted; the limiting rule is the one that denied.
        let denied = GCRACheckResult(allowed: false, remaining: 0, retryAfterMicroseconds: 5, resetMicroseconds: 9)
        #expect(
            GCRABatchAssembly.outcome(of: denied, placement: placement)
                == .init(allowed: false, limitingPosition: 1, shadow: [])
        )
        // Only shadow rules matched: the request passes, the shadow rules count.
        let shadowOnly = GCRABatchAssembly.Placement(enforced: [], shadow: [0, 1])
        let result = GCRACheckResult(
            allowed: true,
            remaining: 0,
            retryAfterMicroseconds: 0,
            resetMicroseconds: 0,
            shadowSpent: [true, false]
        )
        #expect(
            GCRABatchAssembly.outcome(of: result, placement: shadowOnly)
                == .init(
                    allowed: true,
                    limitingPosition: nil,
                    shadow: [.init(position: 0, spent: true), .init(position: 1, spent: false)]
                )
        )
    }
}
