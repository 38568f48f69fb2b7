import NIOCore
import NIOHTTP1

/// The deadline a client connection has armed.
enum ConnectionDeadline: Equatable {
    /// A request head must arrive in full (`SIDECAR_HEADER_TIMEOUT`); on expiry, 408 or a quiet close.
    case header
    /// Between requests (`SIDECAR_IDLE_TIMEOUT`); on expiry, a quiet close.
    case idle
    /// The upstream's response head must arrive (`SIDECAR_UPSTREAM_TIMEOUT`); on expiry, 504.
    case upstream
}

/// What the handler must do to the connection's timer.
enum DeadlineChange: Equatable {
    /// Start this deadline from now, replacing any other.
    case arm(ConnectionDeadline)
    case cancel
}

extension ProxyStateMachine {
    // MARK: Connection

    /// The connection became active: the first request head has the header timeout.
    mutating func connectionActive() {
        if case .idle(.waitingForRequest) = state { setDeadline(.header) }
    }

    /// Takes the deadline change the last events asked for, if any.
    mutating func takeDeadlineChange() -> DeadlineChange? {
        defer { deadlineChange = nil }
        return deadlineChange
    }

    /// What to do when the armed deadline passes.
    enum DeadlinePassedAction: Equatable {
        case none
        case close
        /// Answer (part of a head had arrived) and close.
        case respondAndClose(LocalResponse)
        /// The upstream did not answer in time: abort its connection, then carry out `then`.
        case upstreamTimedOut(then: FailureAction)
    }

    mutating func deadlinePassed() -> DeadlinePassedAction {
        let passed = deadline
        setDeadline(nil)
        deadlineChange = nil
        switch passed {
        case .header, .idle:
            switch state {
            case .idle(.waitingForRequest):
                enterClosed()
                return .close
            case .idle(.receivingHead):
                enterClosed()
                return .respondAndClose(.requestTimeout)
            default:
                return .none
            }
        case .upstream:
            return .upstreamTimedOut(then: upstreamFailed(.timedOut))
        case nil:
            return .none
        }
    }

    /// What went wrong below the proxy handler.
    enum ClientError: Equatable {
        /// The request was refused by the decoder: answered with `response` if nothing was sent yet.
        case refused(LocalResponse)
        /// Anything else (TLS, I/O): the connection just closes.
        case other
    }

    /// What to do about an error on the client connection.
    enum ErrorAction: Equatable {
        /// The connection is closing already.
        case none
        /// Close; abort the upstream exchange (or withdraw its lease) when `abortUpstream`.
        case close(abortUpstream: Bool)
        /// Answer, then close.
        case respondAndClose(LocalResponse, abortUpstream: Bool)
    }

    mutating func errorCaught(_ error: ClientError) -> ErrorAction {
        let canRespond: Bool
        switch state {
        case .closed: return .none
        case .idle, .deciding, .connecting, .discardingBody: canRespond = true
        case .forwarding(let exchange): canRespond = exchange.response == .notStarted
        }
        let abortUpstream = clientClosed() == .abortUpstream
        if case .refused(let response) = error, canRespond {
            return .respondAndClose(response, abortUpstream: abortUpstream)
        }
        return .close(abortUpstream: abortUpstream)
    }

    // MARK: Reading from the client

    /// A request part was read: returns it when it is served now, `nil` when it waits its turn
    /// behind the current exchange (pipelining).
    mutating func requestPartRead(_ part: ProxyRequestPart) -> ProxyRequestPart? {
        inReadBurst = true
        guard pipelined.isEmpty, !part.isHead || acceptsRequestHead else {
            pipelined.append(part)
            return nil
        }
        return part
    }

    /// Starts handing out pipelined parts; `false` when there are none or it is under way already.
    mutating func startServingPipelined() -> Bool {
        guard !isServingPipelined, !pipelined.isEmpty else { return false }
        isServingPipelined = true
        return true
    }

    /// The next pipelined part whose turn has come, or `nil` (which ends the serving).
    mutating func nextPipelinedPart() -> ProxyRequestPart? {
        if let next = pipelined.first {
            if !next.isHead || acceptsRequestHead { return pipelined.removeFirst() }
        }
        isServingPipelined = false
        return nil
    }

    /// The pipeline asked to read: `true` to read now, `false` when the read is held.
    mutating func readRequested() -> Bool {
        if holdsClientReads {
            readPending = true
            return false
        }
        return true
    }

    /// Whether a held read can go now; taking it clears it.
    mutating func takePendingRead() -> Bool {
        guard readPending, !holdsClientReads else { return false }
        readPending = false
        return true
    }

    // MARK: Flushing

    /// Bytes were written to the upstream: `true` to flush now, `false` when the read burst's end will.
    mutating func upstreamWritten() -> Bool {
        if inReadBurst {
            upstreamNeedsFlush = true
            return false
        }
        return true
    }

    /// The client's read burst ended: `true` when the upstream needs a flush.
    mutating func readBurstEnded() -> Bool {
        inReadBurst = false
        defer { upstreamNeedsFlush = false }
        return upstreamNeedsFlush
    }
}
