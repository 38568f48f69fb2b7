import NIOCore
import Testing

@testable import Sidecar

@Suite("ConnectionSetupState")
struct ConnectionSetupStateTests {
    @Test func aConnectionStillSettingUpClosesAtItsDeadline() {
        var state = ConnectionSetupState()
        #expect(state.deadlinePassed() == .close)
        #expect(state.phase == .closed)
        #expect(state.finished() == .none)
    }

    @Test func aConnectionStillSettingUpClosesWhenTheServerDrains() {
        var state = ConnectionSetupState()
        #expect(state.quiesce() == .close)
        #expect(state.deadlinePassed() == .none)
    }

    @Test func onceFinishedTheProtocolHandlersOwnItsTime() {
        var state = ConnectionSetupState()
        #expect(state.finished() == .cancelDeadline)
        #expect(state.deadlinePassed() == .none)
        #expect(state.quiesce() == .none)
        #expect(state.failed() == .none)
        #expect(state.phase == .finished)
    }

    @Test func aFailedSetupClosesOnce() {
        var state = ConnectionSetupState()
        #expect(state.failed() == .close)
        #expect(state.failed() == .none)
    }

    @Test func theSnifferDecidesOnTheFirstByteThatLeavesThePreface() {
        func verdict(_ text: String) -> PriorKnowledgeSniffer.Verdict {
            PriorKnowledgeSniffer.verdict(of: ByteBuffer(string: text))
        }
        #expect(verdict("") == .undecided)
        #expect(verdict("PRI * HTTP/2") == .undecided)
        #expect(verdict("PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n") == .http2)
        #expect(verdict("PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n\u{0}\u{0}") == .http2)
        #expect(verdict("G") == .http1)
        #expect(verdict("PRI /x HTTP/1.1") == .http1)
    }
}
