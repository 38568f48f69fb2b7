import Limiter
import NIOCore
import Testing

/// A fixed origin: the breaker only compares deadlines, so any start works.
private let start = NIODeadline.uptimeNanoseconds(1_000_000_000_000)

@Suite struct CircuitBreakerTests {
    @Test func staysClosedBelowTheThreshold() {
        var breaker = CircuitBreaker(threshold: 3, initialBackoff: .milliseconds(100), maximumBackoff: .seconds(1))
        #expect(breaker.state == .closed(consecutiveFailures: 0))
        breaker.recordFailure(now: start)
        breaker.recordFailure(now: start)
        #expect(breaker.state == .closed(consecutiveFailures: 2))
        #expect(breaker.isClosed)
        #expect(breaker.admit(now: start) == .redis)
    }

    @Test func aSuccessResetsTheConsecutiveFailures() {
        var breaker = CircuitBreaker(threshold: 3, initialBackoff: .milliseconds(100), maximumBackoff: .seconds(1))
        breaker.recordFailure(now: start)
        breaker.recordFailure(now: start)
        breaker.recordSuccess()
        breaker.recordFailure(now: start)
        breaker.recordFailure(now: start)
        #expect(breaker.state == .closed(consecutiveFailures: 2))
        #expect(breaker.admit(now: start) == .redis)
    }

    @Test func opensAtTheThresholdAndFallsBackUntilTheBackoffPasses() {
        var breaker = CircuitBreaker(threshold: 3, initialBackoff: .milliseconds(100), maximumBackoff: .seconds(1))
        for _ in 0..<3 { breaker.recordFailure(now: start) }
        #expect(breaker.state == .open(until: start + .milliseconds(100), backoff: .milliseconds(100)))
        #expect(!breaker.isClosed)
        #expect(breaker.admit(now: start) == .fallback)
        #expect(breaker.admit(now: start + .milliseconds(99)) == .fallback)
        // Failures of batches sent before it opened do not extend the back-off.
        breaker.recordFailure(now: start + .milliseconds(50))
        #expect(breaker.state == .open(until: start + .milliseconds(100), backoff: .milliseconds(100)))
    }

    @Test func afterTheBackoffExactlyOneProbe() {
        var breaker = CircuitBreaker(threshold: 1, initialBackoff: .milliseconds(100), maximumBackoff: .seconds(1))
        breaker.recordFailure(now: start)
        let later = start + .milliseconds(100)
        #expect(breaker.admit(now: later) == .probe)
        #expect(breaker.state == .halfOpen(backoff: .milliseconds(100)))
        // While the probe is out, everything else falls back, however late.
        #expect(breaker.admit(now: later) == .fallback)
        #expect(breaker.admit(now: later + .seconds(60)) == .fallback)
        #expect(!breaker.isClosed)
    }

    @Test func aSuccessfulProbeCloses() {
        var breaker = CircuitBreaker(threshold: 2, initialBackoff: .milliseconds(100), maximumBackoff: .seconds(1))
        breaker.recordFailure(now: start)
        breaker.recordFailure(now: start)
        #expect(breaker.admit(now: start + .milliseconds(150)) == .probe)
        breaker.recordSuccess()
        #expect(breaker.state == .closed(consecutiveFailures: 0))
        #expect(breaker.admit(now: start + .milliseconds(150)) == .redis)
        #expect(breaker.admit(now: start + .milliseconds(150)) == .redis)
        // Closed again: it takes the whole threshold to reopen.
        breaker.recordFailure(now: start + .milliseconds(200))
        #expect(breaker.isClosed)
    }

    @Test func aFailedProbeDoublesTheBackoffUpToTheMaximum() {
        var breaker = CircuitBreaker(
            threshold: 1,
            initialBackoff: .milliseconds(100),
            maximumBackoff: .milliseconds(500)
        )
        var now = start
        breaker.recordFailure(now: now)
        var expected: [TimeAmount] = []
        for _ in 0..<5 {
            guard case .open(let until, let backoff) = breaker.state else {
                Issue.record("expected the breaker open, it is \(breaker.state)")
                return
            }
            expected.append(backoff)
            #expect(until == now + backoff)
            #expect(breaker.admit(now: until - .nanoseconds(1)) == .fallback)
            now = until
            #expect(breaker.admit(now: now) == .probe)
            breaker.recordFailure(now: now)
        }
        #expect(
            expected == [
                .milliseconds(100), .milliseconds(200), .milliseconds(400), .milliseconds(500), .milliseconds(500),
            ]
        )
    }

    @Test func aThresholdBelowOneMeansOne() {
        var breaker = CircuitBreaker(threshold: 0, initialBackoff: .milliseconds(100), maximumBackoff: .seconds(1))
        #expect(breaker.threshold == 1)
        breaker.recordFailure(now: start)
        #expect(breaker.admit(now: start) == .fallback)
    }
}
