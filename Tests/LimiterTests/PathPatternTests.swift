import Limiter
import Testing

@Test func prefixPatternMatchesOnlyItsPrefix() {
    let pattern = PathPattern(path: "/jobs/", isPrefix: true)
    #expect(pattern.matches("/jobs/1"))
    #expect(!pattern.matches("/job"))
}
