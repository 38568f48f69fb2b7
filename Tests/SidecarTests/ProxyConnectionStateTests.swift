import NIOCore
import NIOHTTP1
import Testing

@testable import Sidecar

/// The connection-level half of ``ProxyStateMachine``: pipelining, held reads, flushing per read
/// burst, which deadline is armed, and errors. Plain values, no channel.
@Suite("ProxyStateMachine: connection")
struct ProxyConnectionStateTests {
    private let head = ProxyRequestPart.head(
        ClientRequestHead(HTTPRequestHead(version: .http1_1, method: .GET, uri: "/"))
    )

    private func start(_ machine: inout ProxyStateMachine, hasBody: Bool = false) {
        _ = machine.requestHead(
            keepAlive: true,
            hasBody: hasBody,
            contentLength: nil,
            expectsContinue: false,
            maxBodyBytes: nil
        )
    }

    private func forward(_ machine: inout ProxyStateMachine, upstreamWritable: Bool = true) {
        start(&machine)
        _ = machine.requestEnd()
        _ = machine.limiterDecided(denial: nil)
        _ = machine.upstreamAttached(reused: false, upstreamWritable: upstreamWritable)
    }

    // MARK: Deadlines

    @Test func eachPhaseArmsItsDeadline() {
        var machine = ProxyStateMachine()
        machine.connectionActive()
        #expect(machine.takeDeadlineChange() == .arm(.header))
        #expect(machine.takeDeadlineChange() == nil)
        machine.clientBytesArrived()
        #expect(machine.takeDeadlineChange() == .arm(.header))
        start(&machine)
        #expect(machine.takeDeadlineChange() == .cancel)
        _ = machine.requestEnd()
        _ = machine.limiterDecided(denial: nil)
        #expect(machine.takeDeadlineChange() == nil)
        _ = machine.upstreamAttached(reused: false)
        #expect(machine.takeDeadlineChange() == .arm(.upstream))
        _ = machine.responseHead(isInformational: true)
        #expect(machine.takeDeadlineChange() == nil)
        _ = machine.responseHead(isInformational: false)
        #expect(machine.takeDeadlineChange() == .cancel)
        _ = machine.responseEnd(upstreamReusable: true)
        #expect(machine.takeDeadlineChange() == .arm(.idle))
        #expect(machine.deadline == .idle)
    }

    @Test func aLocalAnswerOnAKeptConnectionArmsTheIdleDeadline() {
        var machine = ProxyStateMachine()
        start(&machine)
        _ = machine.requestEnd()
        _ = machine.takeDeadlineChange()
        #expect(machine.limiterDecided(denial: .serviceUnavailable) == .respond(.serviceUnavailable, close: false))
        #expect(machine.takeDeadlineChange() == .arm(.idle))
    }

    @Test func theLatestChangeWins() {
        var machine = ProxyStateMachine()
        machine.connectionActive()
        start(&machine)
        _ = machine.requestEnd()
        _ = machine.limiterDecided(denial: .serviceUnavailable)
        // Header, then cancel, then idle: the handler only needs the last.
        #expect(machine.takeDeadlineChange() == .arm(.idle))
    }

    @Test func theUpstreamDeadlineAnswers504() {
        var machine = ProxyStateMachine()
        forward(&machine)
        _ = machine.takeDeadlineChange()
        #expect(machine.deadlinePassed() == .upstreamTimedOut(then: .respond(.gatewayTimeout, close: false)))
        // The answer keeps the connection, so the idle deadline follows.
        #expect(machine.takeDeadlineChange() == .arm(.idle))
    }

    @Test func theHeaderDeadlineAnswers408OnlyOnceBytesArrived() {
        var quiet = ProxyStateMachine()
        quiet.connectionActive()
        #expect(quiet.deadlinePassed() == .close)
        #expect(quiet.takeDeadlineChange() == nil)

        var partial = ProxyStateMachine()
        partial.connectionActive()
        partial.clientBytesArrived()
        #expect(partial.deadlinePassed() == .respondAndClose(.requestTimeout))
        #expect(partial.deadlinePassed() == .none)
    }

    @Test func noDeadlineWhileTheLimiterDecidesOrTheResponseStreams() {
        var machine = ProxyStateMachine()
        start(&machine)
        #expect(machine.deadline == nil)
        #expect(machine.deadlinePassed() == .none)
    }

    // MARK: Pipelining

    @Test func whileTheLimiterDecidesOnlyABodyStillToComeHoldsReads() {
        var machine = ProxyStateMachine()
        #expect(machine.requestPartRead(head) == head)
        start(&machine, hasBody: true)
        // The body waits in the client's socket, not in memory, while the limiter decides.
        #expect(machine.readRequested() == false)
        #expect(machine.requestPartRead(.body(ByteBuffer(string: "abc"))) == .body(ByteBuffer(string: "abc")))
        _ = machine.requestBodyPart(ByteBuffer(string: "abc"))
        #expect(machine.requestPartRead(.end) == .end)
        _ = machine.requestEnd()
        // Complete: the held read goes, and reading goes on while the decision is awaited (no
        // read interest dropped and taken again per request); what arrives is pipelined, and
        // reads stop once that queue is full.
        #expect(machine.takePendingRead() == true)
        #expect(machine.readRequested() == true)
        #expect(machine.requestPartRead(head) == Optional<ProxyRequestPart>.none)
        for _ in 1..<ProxyStateMachine.maxPipelinedParts {
            #expect(machine.readRequested() == true)
            _ = machine.requestPartRead(.end)
        }
        #expect(machine.pipelined.count == ProxyStateMachine.maxPipelinedParts)
        #expect(machine.readRequested() == false)
        // The same while the upstream connection is made.
        var connecting = ProxyStateMachine()
        start(&connecting, hasBody: true)
        #expect(connecting.limiterDecided(denial: nil) == .leaseUpstream)
        #expect(connecting.readRequested() == false)
        _ = connecting.requestEnd()
        #expect(connecting.takePendingRead() == true)
        #expect(connecting.readRequested() == true)
    }

    @Test func aHeadWaitsForTheCurrentExchangeAndWhatFollowsItQueuesBehindIt() {
        var machine = ProxyStateMachine()
        #expect(machine.requestPartRead(head) == head)
        start(&machine)
        #expect(machine.requestPartRead(.end) == .end)
        _ = machine.requestEnd()
        // The next request's head waits; its end, though not a head, queues behind it.
        #expect(machine.requestPartRead(head) == Optional<ProxyRequestPart>.none)
        #expect(machine.requestPartRead(.end) == Optional<ProxyRequestPart>.none)
        #expect(machine.startServingPipelined() == true)
        #expect(machine.nextPipelinedPart() == nil)
        #expect(!machine.isServingPipelined)

        _ = machine.limiterDecided(denial: .serviceUnavailable)
        #expect(machine.startServingPipelined() == true)
        #expect(machine.nextPipelinedPart() == head)
        start(&machine)
        #expect(machine.nextPipelinedPart() == .end)
        #expect(machine.nextPipelinedPart() == nil)
        #expect(machine.startServingPipelined() == false)
    }

    @Test func servingPipelinedPartsIsNotReentered() {
        var machine = ProxyStateMachine()
        start(&machine)
        _ = machine.requestPartRead(head)
        _ = machine.requestEnd()
        _ = machine.limiterDecided(denial: .serviceUnavailable)
        #expect(machine.startServingPipelined() == true)
        #expect(machine.startServingPipelined() == false)
    }

    @Test func readingStopsOnceEnoughPartsWaitTheirTurn() {
        var machine = ProxyStateMachine()
        forward(&machine)
        _ = machine.responseHead(isInformational: false)
        for _ in 0..<(ProxyStateMachine.maxPipelinedParts - 1) { _ = machine.requestPartRead(head) }
        #expect(machine.readRequested() == true)
        _ = machine.requestPartRead(head)
        #expect(machine.readRequested() == false)
        #expect(machine.takePendingRead() == false)
        _ = machine.responseEnd(upstreamReusable: true)
        #expect(machine.startServingPipelined() == true)
        #expect(machine.nextPipelinedPart() == head)
        #expect(machine.takePendingRead() == true)
        #expect(machine.takePendingRead() == false)
    }

    // MARK: Holding reads

    @Test func readsWaitWhileTheLimiterDecidesAndTheUpstreamIsLeased() {
        var machine = ProxyStateMachine()
        start(&machine, hasBody: true)
        #expect(machine.readRequested() == false)
        _ = machine.limiterDecided(denial: nil)
        #expect(machine.takePendingRead() == false)
        _ = machine.upstreamAttached(reused: false)
        #expect(machine.takePendingRead() == true)
    }

    @Test func readsWaitWhileTheUpstreamIsNotWritable() {
        var machine = ProxyStateMachine()
        forward(&machine, upstreamWritable: false)
        #expect(machine.readRequested() == false)
        machine.upstreamWritabilityChanged(isWritable: true)
        #expect(machine.takePendingRead() == true)
        machine.upstreamWritabilityChanged(isWritable: false)
        #expect(machine.readRequested() == false)
        // The exchange ends with the upstream still full: the next request reads again.
        _ = machine.responseHead(isInformational: false)
        _ = machine.responseEnd(upstreamReusable: true)
        #expect(machine.takePendingRead() == true)
    }

    @Test func aRetryForgetsTheFailedConnectionsWritability() {
        var machine = ProxyStateMachine()
        _ = machine.requestHead(
            keepAlive: true,
            hasBody: false,
            contentLength: nil,
            expectsContinue: false,
            maxBodyBytes: nil
        )
        _ = machine.requestEnd()
        _ = machine.limiterDecided(denial: nil)
        _ = machine.upstreamAttached(reused: true, upstreamWritable: false)
        #expect(machine.upstreamFailed(.connectionFailed) == .retry)
        _ = machine.upstreamAttached(reused: false, upstreamWritable: true)
        #expect(machine.readRequested() == true)
    }

    // MARK: Flushing

    @Test func writesDuringAReadBurstFlushOnceAtItsEnd() {
        var machine = ProxyStateMachine()
        #expect(machine.upstreamWritten() == true)
        _ = machine.requestPartRead(.body(ByteBuffer(string: "a")))
        #expect(machine.upstreamWritten() == false)
        #expect(machine.upstreamWritten() == false)
        #expect(machine.readBurstEnded() == true)
        #expect(machine.readBurstEnded() == false)
        _ = machine.requestPartRead(.end)
        #expect(machine.readBurstEnded() == false)
    }

    // MARK: Errors

    @Test func aMalformedRequestIsAnsweredUntilTheResponseStarted() {
        let malformed = LocalResponse(refusing: .invalidFieldName)
        #expect(malformed.status == .badRequest)
        var idle = ProxyStateMachine()
        #expect(idle.errorCaught(.refused(malformed)) == .respondAndClose(malformed, abortUpstream: false))
        #expect(idle.errorCaught(.refused(malformed)) == .none)

        var tooLarge = ProxyStateMachine()
        let headersTooLarge = LocalResponse(refusing: .tooManyFields)
        #expect(headersTooLarge == .headersTooLarge)
        #expect(
            tooLarge.errorCaught(.refused(headersTooLarge)) == .respondAndClose(.headersTooLarge, abortUpstream: false)
        )

        var forwarding = ProxyStateMachine()
        forward(&forwarding)
        let badChunk = LocalResponse(refusing: .invalidChunkSize)
        #expect(forwarding.errorCaught(.refused(badChunk)) == .respondAndClose(badChunk, abortUpstream: true))

        var streaming = ProxyStateMachine()
        forward(&streaming)
        _ = streaming.responseHead(isInformational: false)
        #expect(streaming.errorCaught(.refused(badChunk)) == .close(abortUpstream: true))
    }

    @Test func otherErrorsCloseAndLeaveTheLeaseOrUpstream() {
        var connecting = ProxyStateMachine()
        start(&connecting)
        _ = connecting.limiterDecided(denial: nil)
        #expect(connecting.errorCaught(.other) == .close(abortUpstream: true))
        #expect(connecting.takeDeadlineChange() == nil)

        var idle = ProxyStateMachine()
        idle.connectionActive()
        #expect(idle.errorCaught(.other) == .close(abortUpstream: false))
        #expect(idle.takeDeadlineChange() == .cancel)
    }
}
