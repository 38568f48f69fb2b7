import Limiter
import Testing

@Test func prefixPatternMatchesOnlyItsPrefix() {
    let pattern = PathPattern(path: "/jobs/", isPrefix: true)
    #expect(pattern.matches("/jobs/1"))
    #expect(!pattern.matches("/job"))
}

@Test func patternsAreParsedInTheNormalFormRequestsAreMatchedIn() throws {
    #expect(try PathPattern(parsing: "/%6Aobs").path == "/jobs")
    #expect(try PathPattern(parsing: "/a/../jobs/*") == PathPattern(path: "/jobs/", isPrefix: true))
    #expect(try PathPattern(parsing: "//caf%c3%a9").path == "/caf%C3%A9")
    #expect(throws: RuleParseError.self) { try PathPattern(parsing: "/a%2Fb") }
    #expect(throws: RuleParseError.self) { try PathPattern(parsing: "/a%zz") }
}
