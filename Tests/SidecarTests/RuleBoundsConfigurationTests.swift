import Testing

@testable import Sidecar

/// Rule values past the limiters' bounds stop the start (exit 78) with a line that names the
/// variable and the largest value accepted.
@Suite struct RuleBoundsConfigurationTests {
    @Test(arguments: [
        ("SIDECAR_LIMIT_BIG", "3000000000/d", "count 3000000000 is too large: the largest accepted is 1000000000"),
        (
            "SIDECAR_LIMIT_SLOW", "1/36500d burst 3000 cost 3000",
            #"burst 3000 is too large for "1/36500d": the largest accepted is 1 "#
        ),
        ("SIDECAR_LIMIT_COST", "10/s burst 10 cost 1000000001", "cost 1000000001 is too large"),
    ])
    func refusedWithTheLargestValueNamed(variable: String, value: String, expected: String) async {
        do {
            _ = try await SidecarConfiguration.load(environment: [variable: value])
            Issue.record("\(variable)=\(value) was accepted")
        } catch {
            #expect(error.problems.count == 1)
            let line = error.problems.first ?? ""
            #expect(line.hasPrefix("\(variable)=\"\(value)\": \(expected)"), "\(line)")
        }
    }

    @Test func theLargestValuesLoad() async throws {
        let configuration = try await SidecarConfiguration.load(environment: [
            "SIDECAR_LIMIT_EDGE": "1000000000/36500d cost 1000000000",
            "SIDECAR_LIMIT_ISSUE": "1000000/d burst 1000000000 cost 1000000000",
        ])
        #expect(configuration.rules.count == 2)
    }
}
