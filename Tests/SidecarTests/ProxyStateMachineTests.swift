import NIOCore
import Testing

@testable import Sidecar

@Suite("ProxyStateMachine")
struct ProxyStateMachineTests {
    private func startRequest(
        _ machine: inout ProxyStateMachine,
        keepAlive: Bool = true,
        hasBody: Bool = false,
        contentLength: Int? = nil,
        expectsContinue: Bool = false,
        maxBodyBytes: Int? = nil
    ) -> ProxyStateMachine.HeadAction {
        machine.requestHead(
            keepAlive: keepAlive,
            hasBody: hasBody,
            contentLength: contentLength,
            expectsContinue: expectsContinue,
            maxBodyBytes: maxBodyBytes
        )
    }

    @Test func forwardsAKeepAliveExchangeAndReturnsToIdle() {
        var machine = ProxyStateMachine()
        machine.clientBytesArrived()
        #expect(machine.deadline == .header)
        #expect(startRequest(&machine) == .checkLimits)
        #expect(machine.holdsClientReads)
        #expect(machine.requestEnd() == .none)
        #expect(machine.limiterDecided(denial: nil) == .leaseUpstream)
        #expect(
            machine.upstreamAttached(reused: false) == .sendRequest(buffered: [], sendEnd: true, sendContinue: false)
        )
        #expect(!machine.holdsClientReads)
        #expect(machine.responseHead(isInformational: false) == .forward(keepAlive: true))
        #expect(machine.responseEnd(upstreamReusable: true) == .finish(reuseUpstream: true, closeClient: false))
        guard case .idle(.waitingForRequest) = machine.state else {
            Issue.record("expected idle, got \(machine.state)")
            return
        }
    }

    @Test func buffersBodyPartsUntilTheUpstreamIsAttached() {
        var machine = ProxyStateMachine()
        _ = startRequest(&machine, hasBody: true, contentLength: 6)
        #expect(machine.requestBodyPart(ByteBuffer(string: "abc")) == .buffered)
        #expect(machine.limiterDecided(denial: nil) == .leaseUpstream)
        #expect(machine.requestBodyPart(ByteBuffer(string: "def")) == .buffered)
        let action = machine.upstreamAttached(reused: true)
        #expect(
            action
                == .sendRequest(
                    buffered: [ByteBuffer(string: "abc"), ByteBuffer(string: "def")],
                    sendEnd: false,
                    sendContinue: false
                )
        )
        #expect(machine.requestBodyPart(ByteBuffer(string: "g")) == .forward(ByteBuffer(string: "g")))
        #expect(machine.requestEnd() == .forwardEnd)
    }

    @Test func refusesADeclaredBodyOverTheLimitAndCloses() {
        var machine = ProxyStateMachine()
        #expect(
            startRequest(&machine, hasBody: true, contentLength: 11, maxBodyBytes: 10)
                == .respond(.payloadTooLarge, close: true)
        )
    }

    @Test func refusesAStreamedBodyOnceItPassesTheLimit() {
        var machine = ProxyStateMachine()
        _ = startRequest(&machine, hasBody: true, maxBodyBytes: 4)
        _ = machine.limiterDecided(denial: nil)
        _ = machine.upstreamAttached(reused: false)
        #expect(machine.requestBodyPart(ByteBuffer(string: "abc")) == .forward(ByteBuffer(string: "abc")))
        #expect(
            machine.requestBodyPart(ByteBuffer(string: "de"))
                == .respond(.payloadTooLarge, close: true, abortUpstream: true)
        )
    }

    @Test func abortsWhenTheBodyPassesTheLimitAfterTheResponseStarted() {
        var machine = ProxyStateMachine()
        _ = startRequest(&machine, hasBody: true, maxBodyBytes: 4)
        _ = machine.limiterDecided(denial: nil)
        _ = machine.upstreamAttached(reused: false)
        _ = machine.responseHead(isInformational: false)
        #expect(machine.requestBodyPart(ByteBuffer(string: "abcde")) == .abort)
    }

    @Test func aDenialWithTheRequestCompleteKeepsTheConnection() {
        var machine = ProxyStateMachine()
        _ = startRequest(&machine)
        _ = machine.requestEnd()
        let denial = LocalResponse(status: .tooManyRequests, detail: "slow down")
        #expect(machine.limiterDecided(denial: denial) == .respond(denial, close: false))
    }

    @Test func aDenialMidBodyDiscardsTheRestThenIdles() {
        var machine = ProxyStateMachine()
        _ = startRequest(&machine, hasBody: true, contentLength: 3)
        let denial = LocalResponse(status: .tooManyRequests, detail: "slow down")
        #expect(machine.limiterDecided(denial: denial) == .respond(denial, close: false))
        #expect(machine.requestBodyPart(ByteBuffer(string: "abc")) == .none)
        #expect(machine.requestEnd() == .exchangeComplete(closeClient: false))
    }

    @Test func aDenialOwingContinueCloses() {
        var machine = ProxyStateMachine()
        _ = startRequest(&machine, hasBody: true, contentLength: 3, expectsContinue: true)
        let denial = LocalResponse(status: .tooManyRequests, detail: "slow down")
        #expect(machine.limiterDecided(denial: denial) == .respond(denial, close: true))
    }

    @Test func sendsContinueOnlyOnceAccepted() {
        var machine = ProxyStateMachine()
        _ = startRequest(&machine, hasBody: true, contentLength: 3, expectsContinue: true)
        _ = machine.limiterDecided(denial: nil)
        #expect(
            machine.upstreamAttached(reused: false) == .sendRequest(buffered: [], sendEnd: false, sendContinue: true)
        )
    }

    @Test func retriesABodylessRequestOnceWhenAReusedConnectionFails() {
        var machine = ProxyStateMachine()
        _ = startRequest(&machine)
        _ = machine.requestEnd()
        _ = machine.limiterDecided(denial: nil)
        _ = machine.upstreamAttached(reused: true)
        #expect(machine.upstreamFailed(.connectionFailed) == .retry)
        _ = machine.upstreamAttached(reused: false)
        #expect(machine.upstreamFailed(.connectionFailed) == .respond(.badGateway, close: false))
    }

    @Test func doesNotRetryAfterABodyWasSent() {
        var machine = ProxyStateMachine()
        _ = startRequest(&machine, hasBody: true, contentLength: 1)
        _ = machine.limiterDecided(denial: nil)
        _ = machine.upstreamAttached(reused: true)
        _ = machine.requestBodyPart(ByteBuffer(string: "a"))
        _ = machine.requestEnd()
        #expect(machine.upstreamFailed(.connectionFailed) == .respond(.badGateway, close: false))
    }

    @Test func timeoutAnswers504AndAFailureAfterTheHeadCloses() {
        var machine = ProxyStateMachine()
        _ = startRequest(&machine)
        _ = machine.requestEnd()
        _ = machine.limiterDecided(denial: nil)
        _ = machine.upstreamAttached(reused: false)
        #expect(machine.upstreamFailed(.timedOut) == .respond(.gatewayTimeout, close: false))

        var streaming = ProxyStateMachine()
        _ = startRequest(&streaming)
        _ = streaming.requestEnd()
        _ = streaming.limiterDecided(denial: nil)
        _ = streaming.upstreamAttached(reused: false)
        _ = streaming.responseHead(isInformational: false)
        #expect(streaming.upstreamFailed(.connectionFailed) == .closeClient)
    }

    @Test func noPoolConnectionInTimeAnswers503AndKeepsTheClient() {
        var machine = ProxyStateMachine()
        _ = startRequest(&machine)
        _ = machine.requestEnd()
        #expect(machine.limiterDecided(denial: nil) == .leaseUpstream)
        #expect(machine.upstreamFailed(.poolExhausted) == .respond(.upstreamPoolExhausted, close: false))
        #expect(machine.acceptsRequestHead)
        #expect(LocalResponse.upstreamPoolExhausted.status == .serviceUnavailable)
        #expect(LocalResponse.upstreamPoolExhausted.detail.contains("SIDECAR_UPSTREAM_MAX_CONNECTIONS"))
    }

    @Test func anEarlyResponseClosesBothSides() {
        var machine = ProxyStateMachine()
        _ = startRequest(&machine, hasBody: true)
        _ = machine.limiterDecided(denial: nil)
        _ = machine.upstreamAttached(reused: false)
        _ = machine.responseHead(isInformational: false)
        #expect(machine.responseEnd(upstreamReusable: true) == .finish(reuseUpstream: false, closeClient: true))
    }

    @Test func idleDeadlineClosesQuietlyOrAnswers408() {
        var quiet = ProxyStateMachine()
        quiet.connectionActive()
        #expect(quiet.deadlinePassed() == .close)
        var partial = ProxyStateMachine()
        partial.clientBytesArrived()
        #expect(partial.deadlinePassed() == .respondAndClose(.requestTimeout))
        var busy = ProxyStateMachine()
        _ = startRequest(&busy)
        #expect(busy.deadlinePassed() == .none)
    }

    @Test func quiescingClosesIdleConnectionsAndEndsKeepAlive() {
        var idle = ProxyStateMachine()
        #expect(idle.quiesce() == .close)

        var busy = ProxyStateMachine()
        _ = startRequest(&busy)
        _ = busy.requestEnd()
        #expect(busy.quiesce() == .none)
        _ = busy.limiterDecided(denial: nil)
        _ = busy.upstreamAttached(reused: false)
        #expect(busy.responseHead(isInformational: false) == .forward(keepAlive: false))
        #expect(busy.responseEnd(upstreamReusable: true) == .finish(reuseUpstream: true, closeClient: true))
    }

    @Test func clientGoingAwayAbortsTheUpstream() {
        var machine = ProxyStateMachine()
        _ = startRequest(&machine)
        _ = machine.limiterDecided(denial: nil)
        #expect(machine.clientClosed() == .abortUpstream)
        #expect(machine.upstreamAttached(reused: false) == .none)
    }
}
