import Limiter
import NIOCore

// A limiter's check with a pending decision as a future, for tests: the proxy takes the decision
// through `RateLimitDecisionReceiver`, with no future per request.

extension RateLimiter {
    /// Decides `request`, a pending decision as a future (every promise is completed: NIO checks).
    public func check<Request: RateLimitRequest>(
        _ request: Request,
        on eventLoop: any EventLoop
    ) -> RateLimitFutureCheck {
        let receiver = PromisedDecision(promise: eventLoop.makePromise())
        switch check(request, on: eventLoop, receiver: receiver) {
        case .unlimited:
            receiver.promise.succeed(RateLimitDecision(verdict: .allowed, policy: nil))
            return .unlimited
        case .decided(let decision):
            receiver.promise.succeed(decision)
            return .decided(decision)
        case .pending:
            return .pending(receiver.promise.futureResult)
        }
    }
}

/// ``RateLimitCheck`` with a pending decision as a future.
public enum RateLimitFutureCheck: Sendable {
    /// No rule matched.
    case unlimited
    /// Decided without waiting.
    case decided(RateLimitDecision)
    /// Decided once the future completes.
    case pending(EventLoopFuture<RateLimitDecision>)
}

/// Completes a promise with the decision it receives.
private final class PromisedDecision: RateLimitDecisionReceiver {
    let promise: EventLoopPromise<RateLimitDecision>

    init(promise: EventLoopPromise<RateLimitDecision>) {
        self.promise = promise
    }

    func rateLimitDecided(_ decision: RateLimitDecision) {
        promise.succeed(decision)
    }
}
