import NIOCore
import NIOHTTP1

/// The life of one client connection as the proxy sees it: one exchange at a time, each either
/// forwarded to the upstream or answered locally, with the connection's pipelining, read holding,
/// flushing, deadline and closing.
///
/// Events come in through mutating functions; each returns what the ``ProxyHandler`` must do.
/// No I/O happens here, so every transition is tested with plain values. The connection-level
/// events are in `ProxyStateMachine+Connection.swift`.
struct ProxyStateMachine {
    /// Why the connection is waiting between requests.
    enum IdlePhase: Equatable {
        /// Nothing of the next request has arrived; the deadline closes quietly.
        case waitingForRequest
        /// Part of a request head has arrived; the deadline answers 408.
        case receivingHead
    }

    /// Where the response to the current request stands.
    enum ResponsePhase: Equatable {
        case notStarted
        case streaming
        case complete
    }

    /// One request forwarded, or about to be, to the upstream.
    struct Exchange {
        var keepAlive: Bool
        var requestComplete: Bool
        var response: ResponsePhase = .notStarted
        var bodyBytes = 0
        var maxBodyBytes: Int?
        /// Body parts read before the upstream was attached.
        var buffered: [ByteBuffer] = []
        /// Whether `100 Continue` is owed to the client once the request is accepted.
        var owesContinue: Bool
        /// Whether a failure before any response byte may be retried on a new connection.
        var retryable = false
        /// Whether the attached upstream connection takes more bytes; reading the client waits otherwise.
        var upstreamWritable = true
    }

    enum State {
        case idle(IdlePhase)
        case deciding(Exchange)
        case connecting(Exchange)
        case forwarding(Exchange)
        /// A local response was written; the rest of the request body is read and dropped.
        case discardingBody(keepAlive: Bool)
        case closed
    }

    private(set) var state: State = .idle(.waitingForRequest)
    /// Set once the server drains: no new request is accepted after the current one.
    private(set) var isQuiescing = false

    /// Request parts read ahead of their turn (pipelining), served in order; at most
    /// ``maxPipelinedParts``, and an empty array allocates nothing (one HTTP/2 stream is one machine).
    var pipelined: [ProxyRequestPart] = []
    /// Whether pipelined parts are being handed out further up the call stack.
    var isServingPipelined = false
    /// Whether a `read()` waits until the client's bytes can be taken.
    var readPending = false
    /// Whether a read burst from the client is under way: upstream writes are flushed at its end.
    var inReadBurst = false
    var upstreamNeedsFlush = false
    /// The deadline the connection has armed, or should have once the handler applies `deadlineChange`.
    private(set) var deadline: ConnectionDeadline?
    /// A change of deadline the handler has not applied yet.
    var deadlineChange: DeadlineChange?

    // MARK: Between requests

    /// Bytes arrived from the client: the first of a request starts the header deadline.
    mutating func clientBytesArrived() {
        guard case .idle(.waitingForRequest) = state else { return }
        state = .idle(.receivingHead)
        setDeadline(.header)
    }

    // MARK: Request

    /// What to do with a request head.
    enum HeadAction: Equatable {
        /// The connection is closing: drop the request.
        case none
        /// Ask the rate limiter; answer through ``limiterDecided(_:)``.
        case checkLimits
        /// Answer locally; close afterwards when `close` is set.
        case respond(LocalResponse, close: Bool)
    }

    mutating func requestHead(
        keepAlive: Bool,
        hasBody: Bool,
        contentLength: Int?,
        expectsContinue: Bool,
        maxBodyBytes: Int?,
        refusal: LocalResponse? = nil
    ) -> HeadAction {
        switch state {
        case .idle: break
        case .closed: return .none
        default: preconditionFailure("request head while \(state); pipelined requests wait for acceptsRequestHead")
        }
        setDeadline(nil)
        if let refusal {
            // A target or Host the sidecar cannot forward faithfully: answered, and the connection
            // closes, since what follows on it cannot be trusted either.
            state = .closed
            return .respond(refusal, close: true)
        }
        let keepAlive = keepAlive && !isQuiescing
        if let maxBodyBytes, let contentLength, contentLength > maxBodyBytes {
            // The body is not read: the connection cannot be reused.
            state = .closed
            return .respond(.payloadTooLarge, close: true)
        }
        let exchange = Exchange(
            keepAlive: keepAlive,
            requestComplete: false,
            maxBodyBytes: maxBodyBytes,
            owesContinue: expectsContinue && hasBody
        )
        state = .deciding(exchange)
        return .checkLimits
    }

    /// What to do once the limiter has decided.
    enum DecisionAction: Equatable {
        case none
        /// Get an upstream connection; answer through ``upstreamAttached(reused:)`` or ``upstreamFailed(_:)``.
        case leaseUpstream
        case respond(LocalResponse, close: Bool)
    }

    mutating func limiterDecided(denial: LocalResponse?) -> DecisionAction {
        guard case .deciding(let exchange) = state else { return .none }
        if let denial {
            return respondLocally(denial, exchange: exchange)
        }
        state = .connecting(exchange)
        return .leaseUpstream
    }

    /// What to do once an upstream connection is attached.
    enum AttachAction: Equatable {
        case none
        /// Write the head, then `buffered` body parts, then the end when `sendEnd`; send `100 Continue`
        /// to the client first when `sendContinue`.
        case sendRequest(buffered: [ByteBuffer], sendEnd: Bool, sendContinue: Bool)
    }

    mutating func upstreamAttached(reused: Bool, upstreamWritable: Bool = true) -> AttachAction {
        guard case .connecting(var exchange) = state else { return .none }
        let buffered = exchange.buffered
        exchange.buffered = []
        let sendContinue = exchange.owesContinue
        exchange.owesContinue = false
        exchange.retryable = reused && exchange.requestComplete && buffered.isEmpty && exchange.bodyBytes == 0
        exchange.upstreamWritable = upstreamWritable
        state = .forwarding(exchange)
        setDeadline(.upstream)
        return .sendRequest(buffered: buffered, sendEnd: exchange.requestComplete, sendContinue: sendContinue)
    }

    /// What to do with a part of the request body.
    enum BodyAction: Equatable {
        case none
        /// Keep it until the upstream is attached (and stop reading from the client meanwhile).
        case buffered
        case forward(ByteBuffer)
        case respond(LocalResponse, close: Bool, abortUpstream: Bool)
        /// The response already started: the only way out is to close both sides.
        case abort
    }

    mutating func requestBodyPart(_ part: ByteBuffer) -> BodyAction {
        switch state {
        case .deciding(var exchange), .connecting(var exchange):
            exchange.bodyBytes += part.readableBytes
            if exchange.exceedsBodyLimit {
                let wasConnecting = if case .connecting = state { true } else { false }
                enterClosed()
                return .respond(.payloadTooLarge, close: true, abortUpstream: wasConnecting)
            }
            exchange.buffered.append(part)
            state = isDeciding ? .deciding(exchange) : .connecting(exchange)
            return .buffered
        case .forwarding(var exchange):
            exchange.bodyBytes += part.readableBytes
            exchange.retryable = false
            if exchange.exceedsBodyLimit {
                enterClosed()
                if exchange.response == .notStarted {
                    return .respond(.payloadTooLarge, close: true, abortUpstream: true)
                }
                return .abort
            }
            state = .forwarding(exchange)
            return .forward(part)
        case .discardingBody, .idle, .closed:
            return .none
        }
    }

    /// What to do at the end of the request.
    enum EndAction: Equatable {
        case none
        case forwardEnd
        /// The response is done too: release the upstream connection (when `reuseUpstream`) and
        /// either wait for the next request or close.
        case exchangeComplete(closeClient: Bool)
    }

    mutating func requestEnd() -> EndAction {
        switch state {
        case .deciding(var exchange):
            exchange.requestComplete = true
            state = .deciding(exchange)
            return .none
        case .connecting(var exchange):
            exchange.requestComplete = true
            state = .connecting(exchange)
            return .none
        case .forwarding(var exchange):
            exchange.requestComplete = true
            state = .forwarding(exchange)
            return .forwardEnd
        case .discardingBody(let keepAlive):
            if keepAlive && !isQuiescing {
                enterIdle()
                return .exchangeComplete(closeClient: false)
            }
            enterClosed()
            return .exchangeComplete(closeClient: true)
        case .idle, .closed:
            return .none
        }
    }

    /// The attached upstream connection's writability changed.
    mutating func upstreamWritabilityChanged(isWritable: Bool) {
        guard case .forwarding(var exchange) = state else { return }
        exchange.upstreamWritable = isWritable
        state = .forwarding(exchange)
    }

    // MARK: Response

    /// What to do with the upstream's response head.
    enum ResponseHeadAction: Equatable {
        case none
        /// Forward it, closing the client connection after the response unless `keepAlive`.
        case forward(keepAlive: Bool)
    }

    /// `endsWithClose`: the body is delimited by closing the client connection (HTTP/1.0, no length).
    mutating func responseHead(isInformational: Bool, endsWithClose: Bool = false) -> ResponseHeadAction {
        guard case .forwarding(var exchange) = state else { return .none }
        if isInformational { return .forward(keepAlive: exchange.keepAlive) }
        exchange.response = .streaming
        exchange.retryable = false
        // A client still sending its body when the response starts cannot be kept: we stop reading it.
        let keepAlive = exchange.keepAlive && !isQuiescing && !endsWithClose
        exchange.keepAlive = keepAlive
        state = .forwarding(exchange)
        setDeadline(nil)
        return .forward(keepAlive: keepAlive)
    }

    /// What to do at the end of the upstream's response.
    enum ResponseEndAction: Equatable {
        case none
        /// Write the end; reuse the upstream connection when `reuseUpstream`; close the client when `closeClient`.
        case finish(reuseUpstream: Bool, closeClient: Bool)
    }

    mutating func responseEnd(upstreamReusable: Bool) -> ResponseEndAction {
        guard case .forwarding(let exchange) = state else { return .none }
        guard exchange.requestComplete else {
            // The upstream answered before reading the whole body; its connection is in an unknown
            // state and the rest of the client's body would have to be read: close both.
            enterClosed()
            return .finish(reuseUpstream: false, closeClient: true)
        }
        if exchange.keepAlive && !isQuiescing {
            enterIdle()
            return .finish(reuseUpstream: upstreamReusable, closeClient: false)
        }
        enterClosed()
        return .finish(reuseUpstream: upstreamReusable, closeClient: true)
    }

    // MARK: Failures

    /// How the upstream failed.
    enum UpstreamFailure: Equatable {
        /// Could not connect, or the connection closed or reset before a complete response.
        case connectionFailed
        /// No response head within the upstream timeout.
        case timedOut
        /// No pool connection came free before the queue deadline.
        case poolExhausted

        /// The answer when nothing of the response was sent yet.
        var response: LocalResponse {
            switch self {
            case .connectionFailed: .badGateway
            case .timedOut: .gatewayTimeout
            case .poolExhausted: .upstreamPoolExhausted
            }
        }
    }

    /// What to do when the upstream fails.
    enum FailureAction: Equatable {
        case none
        /// Send the request again on a new connection (a reused connection failed before answering).
        case retry
        case respond(LocalResponse, close: Bool)
        /// The response already started: close the client so it does not take a truncated response as whole.
        case closeClient
    }

    mutating func upstreamFailed(_ failure: UpstreamFailure) -> FailureAction {
        switch state {
        case .connecting(let exchange):
            return respondLocally(failure.response, exchange: exchange)
        case .forwarding(var exchange):
            if exchange.response == .notStarted {
                if failure == .connectionFailed && exchange.retryable {
                    exchange.retryable = false
                    exchange.upstreamWritable = true
                    state = .connecting(exchange)
                    return .retry
                }
                return respondLocally(failure.response, exchange: exchange)
            }
            enterClosed()
            return .closeClient
        default:
            return .none
        }
    }

    /// The client went away.
    enum ClientClosedAction: Equatable { case none, abortUpstream }

    mutating func clientClosed() -> ClientClosedAction {
        let hadUpstream: Bool
        switch state {
        case .connecting, .forwarding: hadUpstream = true
        default: hadUpstream = false
        }
        enterClosed()
        return hadUpstream ? .abortUpstream : .none
    }

    /// The server is about to drain (`/drain`): the current exchange, or the next one if idle,
    /// is the last (`Connection: close`); the connection stays open until then.
    mutating func closeAfterExchange() {
        isQuiescing = true
    }

    /// The server began draining.
    enum QuiesceAction: Equatable { case none, close }

    mutating func quiesce() -> QuiesceAction {
        isQuiescing = true
        if case .idle = state {
            enterClosed()
            return .close
        }
        return .none
    }

    // MARK: Backpressure

    /// Whether a new request head can be taken now; otherwise it waits its turn.
    var acceptsRequestHead: Bool {
        switch state {
        case .idle, .closed: true
        default: false
        }
    }

    /// Whether reading from the client must wait: nothing can take more of its bytes yet.
    ///
    /// While the limiter decides or the upstream connection is made, only a request whose body is
    /// still to come holds reads (its body waits in the client's socket, not in memory). A complete
    /// request lets reading go on: what follows is the next request, kept within
    /// ``maxPipelinedParts``, and holding would cost two `epoll_ctl` calls per request each time
    /// the decision waits for Redis.
    var holdsClientReads: Bool {
        if pipelined.count >= Self.maxPipelinedParts { return true }
        switch state {
        case .deciding(let exchange), .connecting(let exchange): return !exchange.requestComplete
        case .forwarding(let exchange): return !exchange.upstreamWritable
        default: return false
        }
    }

    /// Request parts read ahead of their turn before reading stops.
    static let maxPipelinedParts = 16

    // MARK: Helpers

    private mutating func enterIdle() {
        state = .idle(.waitingForRequest)
        setDeadline(.idle)
    }

    mutating func enterClosed() {
        state = .closed
        setDeadline(nil)
    }

    /// Records the deadline the connection needs now: `nil` cancels; a value (re)starts it.
    mutating func setDeadline(_ new: ConnectionDeadline?) {
        if new == nil && deadline == nil { return }
        deadline = new
        deadlineChange = new.map(DeadlineChange.arm) ?? .cancel
    }

    private var isDeciding: Bool {
        if case .deciding = state { return true }
        return false
    }

    private mutating func respondLocally(_ response: LocalResponse, exchange: Exchange) -> DecisionAction {
        if exchange.requestComplete {
            let keepAlive = exchange.keepAlive && !isQuiescing
            if keepAlive { enterIdle() } else { enterClosed() }
            return .respond(response, close: !keepAlive)
        }
        if exchange.owesContinue {
            // The client waits for 100 Continue before its body; it may or may not send it now.
            enterClosed()
            return .respond(response, close: true)
        }
        state = .discardingBody(keepAlive: exchange.keepAlive)
        setDeadline(nil)
        return .respond(response, close: false)
    }

    private mutating func respondLocally(_ response: LocalResponse, exchange: Exchange) -> FailureAction {
        switch respondLocally(response, exchange: exchange) as DecisionAction {
        case .respond(let response, let close): .respond(response, close: close)
        case .none, .leaseUpstream: .none
        }
    }
}

extension ProxyStateMachine.Exchange {
    var exceedsBodyLimit: Bool {
        guard let maxBodyBytes else { return false }
        return bodyBytes > maxBodyBytes
    }
}
