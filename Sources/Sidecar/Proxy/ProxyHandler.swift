import HTTP1Wire
import Limiter
import Logging
import NIOCore
import NIOHTTP1
import SidecarMetrics

/// Forwards a client connection's requests to the upstream, one exchange at a time, streaming
/// bodies both ways. Decisions are ``ProxyStateMachine``'s; this handler carries them out.
final class ProxyHandler: ChannelDuplexHandler, RemovableChannelHandler, DeadlineSweeper.Owner {
    typealias InboundIn = ProxyRequestPart
    /// Outbound it only holds back `read()`; responses are written by ``ClientResponseWriter`` as
    /// bytes (HTTP/1.1) or frame payloads (HTTP/2), never through this handler's own type.
    typealias OutboundIn = Never
    typealias OutboundOut = Never

    private let settings: Settings
    private let pool: UpstreamPool
    private let limiter: any RateLimiter
    private let logger: Logger
    /// Writes responses as the client's connection takes them (HTTP/1.1 bytes or HTTP/2 parts).
    private var writer: ClientResponseWriter

    private var state = ProxyStateMachine()
    private var context: ChannelHandlerContext?
    /// The HTTP/1 connection's request decoder (`nil` on an HTTP/2 stream); set with the pipeline.
    weak var requestDecoder: HTTP1RequestDecoderHandler?
    /// The connection's peer, parsed once.
    private var peer: ForwardingPolicy.Peer?
    /// The verified client certificate's subject, looked up once per connection or stream.
    private var peerSubject: String??
    /// Where finished exchanges are counted and logged.
    private var exchangeLog = ExchangeLog()
    private var requestIDs = RequestIDGenerator()
    private var current: ProxiedExchange?
    private var upstream: UpstreamConnection?
    /// The timer entry of the deadline `state` has armed.
    private var deadlineEntry: DeadlineSweeper.Entry?

    init(
        settings: Settings,
        pool: UpstreamPool,
        limiter: any RateLimiter,
        logger: Logger,
        servesHTTP2Stream: Bool = false
    ) {
        self.settings = settings
        self.pool = pool
        self.limiter = limiter
        self.logger = logger
        self.writer = ClientResponseWriter(isHTTP2Stream: servesHTTP2Stream)
    }

    // MARK: Channel events

    func handlerAdded(context: ChannelHandlerContext) {
        self.context = context
        exchangeLog = ExchangeLog(
            metrics: settings.metrics,
            recorder: settings.metrics?.http.recorder(on: context.eventLoop),
            accessLog: settings.accessLog
        )
        peer = context.channel.remoteAddress?.ipAddress.map(settings.forwarding.peer)
        if context.channel.isActive { state.connectionActive() }
        if settings.connections.closesAfterExchange { state.closeAfterExchange() }
        finishEvent()
    }

    func handlerRemoved(context: ChannelHandlerContext) {
        pool.deadlines.cancel(&deadlineEntry)
        self.context = nil
    }

    func channelActive(context: ChannelHandlerContext) {
        if peer == nil { peer = context.channel.remoteAddress?.ipAddress.map(settings.forwarding.peer) }
        state.connectionActive()
        finishEvent()
        context.fireChannelActive()
    }

    func channelInactive(context: ChannelHandlerContext) {
        if state.clientClosed() == .abortUpstream { abortUpstream() }
        finishEvent()
        context.fireChannelInactive()
    }

    /// Raw bytes arrived (see ``HTTP1RequestDecoderHandler``).
    func clientBytesArrived() {
        state.clientBytesArrived()
        finishEvent()
    }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        if let part = state.requestPartRead(unwrapInboundIn(data)) {
            receive(part, context: context)
        }
        finishEvent()
    }

    private func receive(_ part: ProxyRequestPart, context: ChannelHandlerContext) {
        switch part {
        case .head(let head):
            receiveHead(head, context: context)
        case .body(let body):
            receiveBody(body, context: context)
        case .end:
            receiveEnd(context: context)
        }
    }

    func channelReadComplete(context: ChannelHandlerContext) {
        if state.readBurstEnded() { upstream?.flush() }
        context.fireChannelReadComplete()
    }

    func channelWritabilityChanged(context: ChannelHandlerContext) {
        if context.channel.isWritable {
            upstream?.resumeReads()
        } else {
            upstream?.holdReads()
        }
        context.fireChannelWritabilityChanged()
    }

    func read(context: ChannelHandlerContext) {
        if state.readRequested() { context.read() }
    }

    func userInboundEventTriggered(context: ChannelHandlerContext, event: Any) {
        if event is ChannelShouldQuiesceEvent {
            if state.quiesce() == .close { context.close(promise: nil) }
            finishEvent()
            return
        }
        if event is CloseAfterExchangeEvent {
            state.closeAfterExchange()
            return
        }
        context.fireUserInboundEventTriggered(event)
    }

    func errorCaught(context: ChannelHandlerContext, error: any Error) {
        let refusal = error as? ClientRequestRefusal
        switch state.errorCaught(refusal.map { .refused($0.response) } ?? .other) {
        case .none:
            break
        case .close(let abort):
            logger.debug("closing connection", metadata: ["error": "\(error)"])
            if abort { abortUpstream() }
            context.close(promise: nil)
        case .respondAndClose(let response, let abort):
            if abort { abortUpstream() }
            writeLocalResponse(response, close: true, refusedRequestLine: refusal?.requestLine, context: context)
        }
        finishEvent()
    }

    /// After every event: serve pipelined requests whose turn came, apply the deadline the state
    /// machine asks for, pass on a held read once the client's bytes can be taken, and let the
    /// request decoder go on when it paused for a switch of protocols that did not happen.
    private func finishEvent() {
        guard let context else { return }
        if state.startServingPipelined() {
            while let part = state.nextPipelinedPart() { receive(part, context: context) }
        }
        switch state.takeDeadlineChange() {
        case .none:
            break
        case .cancel:
            pool.deadlines.cancel(&deadlineEntry)
        case .arm(let deadline):
            let amount: TimeAmount
            switch deadline {
            case .header: amount = settings.headerTimeout
            case .idle: amount = settings.idleTimeout
            case .upstream: amount = settings.upstreamTimeout
            }
            pool.deadlines.set(.now() + amount, for: self, entry: &deadlineEntry)
        }
        if state.takePendingRead() { context.read() }
        // An exchange that asked to switch protocols ended without switching: HTTP goes on.
        if case .idle = state.state { requestDecoder?.resumeIfPaused() }
    }

    // MARK: Request

    private func receiveHead(_ head: ClientRequestHead, context: ChannelHandlerContext) {
        let forwarded = settings.forwarding.forwardRequest(head, peer: peer) {
            requestIDs.next()
        }
        current = ProxiedExchange(
            forwarded: forwarded,
            method: head.method,
            clientVersion: head.version,
            start: .now(),
            policy: nil
        )
        let action = state.requestHead(
            keepAlive: forwarded.keepAlive,
            hasBody: forwarded.hasBody,
            contentLength: forwarded.contentLength,
            expectsContinue: forwarded.expectsContinue,
            maxBodyBytes: settings.maxBodyBytes,
            refusal: forwarded.refusal
        )
        switch action {
        case .none:
            break
        case .checkLimits:
            checkLimits(head: head, forwarded: forwarded, context: context)
        case .respond(let response, let close):
            writeLocalResponse(response, close: close, context: context)
        }
    }

    private func checkLimits(
        head: ClientRequestHead,
        forwarded: ForwardingPolicy.ForwardedRequest,
        context: ChannelHandlerContext
    ) {
        // The state machine asks for limits only when nothing refused the request, target included.
        guard let target = forwarded.target else { preconditionFailure("a refused request reached the limiter") }
        if settings.usesTLSSubject && peerSubject == nil {
            peerSubject = .some(ClientCertificate.subject(of: context.channel))
        }
        var request = ProxiedRequest(
            head: head,
            target: target,
            clientAddress: forwarded.clientAddress,
            host: forwarded.host,
            tlsSubject: peerSubject ?? nil
        )
        guard let jwt = settings.jwt else {
            checkLimits(request, context)
            return
        }
        switch jwt.lookup(authorization: head.first(named: "authorization"), on: context.eventLoop) {
        case .absent:
            checkLimits(request, context)
        case .known(let claims):
            request.claims = claims
            checkLimits(request, context)
        case .pending(let future):
            // The first request with a token waits for its verification; later ones find it cached.
            future.assumeIsolated().whenComplete { result in
                request.claims = (try? result.get()) ?? nil
                self.checkLimits(request, context)
                self.finishEvent()
            }
        }
    }

    private func checkLimits(_ request: ProxiedRequest, _ context: ChannelHandlerContext) {
        switch limiter.check(request, on: context.eventLoop, receiver: self) {
        case .unlimited:
            limiterDecided(nil, context: context)
        case .decided(let decision):
            limiterDecided(decision, context: context)
        case .pending:
            // `rateLimitDecided(_:)` is called on this loop with the decision.
            break
        }
    }

    private func limiterDecided(_ decision: RateLimitDecision?, context: ChannelHandlerContext) {
        current?.policy = decision?.policy
        var denial: LocalResponse?
        switch decision?.verdict {
        case .limited:
            denial = decision?.policy.map(settings.rateLimitHeaders.denial) ?? .serviceUnavailable
        case .unavailable:
            denial = .serviceUnavailable
        case .allowed, .none:
            denial = nil
        }
        switch state.limiterDecided(denial: denial) {
        case .none:
            break
        case .leaseUpstream:
            leaseUpstream(context: context)
        case .respond(let response, let close):
            writeLocalResponse(response, close: close, context: context)
        }
    }

    private func leaseUpstream(context: ChannelHandlerContext) {
        pool.lease(for: self)
    }

    private func attach(_ connection: UpstreamConnection, reused: Bool, context: ChannelHandlerContext) {
        guard let current,
            case .sendRequest(let buffered, let sendEnd, let sendContinue) = state.upstreamAttached(
                reused: reused,
                upstreamWritable: connection.isWritable
            )
        else {
            pool.release(connection, reusable: true)
            return
        }
        upstream = connection
        connection.delegate = self
        if context.channel.isWritable { connection.resumeReads() } else { connection.holdReads() }
        if sendContinue { writer.writeContinue(context: context) }
        let forwarded = current.forwarded
        connection.writeHead(
            ForwardingPolicy.serialize(forwarded, allocator: context.channel.allocator),
            isHeadRequest: current.method == .HEAD,
            chunkedBody: forwarded.isChunked
        )
        for part in buffered { connection.writeBody(part) }
        if sendEnd { connection.writeEnd() }
        connection.flush()
        // A write the upstream's pipeline refuses closes it at once, and its failure has already
        // been handled (retried or answered) by the time the writes return.
        guard upstream === connection else { return }
        self.current?.forwardedAt = .now()
    }

    private func receiveBody(_ body: ByteBuffer, context: ChannelHandlerContext) {
        switch state.requestBodyPart(body) {
        case .none, .buffered:
            break
        case .forward(let part):
            upstream?.writeBody(part)
            if state.upstreamWritten() { upstream?.flush() }
        case .respond(let response, let close, let abortUpstream):
            if abortUpstream { self.abortUpstream() }
            writeLocalResponse(response, close: close, context: context)
        case .abort:
            abortUpstream()
            context.close(promise: nil)
        }
    }

    private func receiveEnd(context: ChannelHandlerContext) {
        switch state.requestEnd() {
        case .none:
            break
        case .forwardEnd:
            upstream?.writeEnd()
            if state.upstreamWritten() { upstream?.flush() }
        case .exchangeComplete(let closeClient):
            if closeClient { context.close(promise: nil) }
        }
    }

    // MARK: Upstream failures

    private func failUpstream(_ failure: ProxyStateMachine.UpstreamFailure, context: ChannelHandlerContext) {
        runFailureAction(state.upstreamFailed(failure), context: context)
    }

    private func runFailureAction(_ action: ProxyStateMachine.FailureAction, context: ChannelHandlerContext) {
        switch action {
        case .none:
            break
        case .retry:
            leaseUpstream(context: context)
        case .respond(let response, let close):
            writeLocalResponse(response, close: close, context: context)
        case .closeClient:
            if let status = current?.upstreamStatus { recordExchange(status: status, source: "upstream-truncated") }
            context.close(promise: nil)
        }
    }

    /// Ends the exchange with the upstream: aborts its connection, or withdraws the lease request.
    private func abortUpstream() {
        if let upstream {
            self.upstream = nil
            upstream.abort()
        } else {
            pool.cancel(self)
        }
    }

    // MARK: Writing

    /// Answers `response` for the current exchange, or for a request refused before it became one
    /// (counted and logged under `refusedRequestLine` when its method was read).
    private func writeLocalResponse(
        _ response: LocalResponse,
        close: Bool,
        refusedRequestLine: (method: String, target: String)? = nil,
        context: ChannelHandlerContext
    ) {
        let requestID = current?.forwarded.requestID ?? requestIDs.next()
        let written = writer.writeLocal(
            response,
            requestID: requestID,
            close: close,
            isHeadRequest: current?.method == .HEAD,
            context: context
        )
        if let written { closeAfterWriting(written, context: context) }
        recordExchange(
            status: response.status,
            source: "sidecar",
            requestID: requestID,
            refusedRequestLine: refusedRequestLine
        )
        if case .idle = state.state { current = nil }
    }

    /// Closes once `written` completes; the connection's ``LingeringCloseHandler`` closes the write
    /// side first, so that a client still sending reads the response instead of a reset.
    private func closeAfterWriting(_ written: EventLoopFuture<Void>, context: ChannelHandlerContext) {
        written.assumeIsolated().whenComplete { _ in context.close(promise: nil) }
    }

    /// Counts the finished exchange and writes its access-log line (see ``ExchangeLog``).
    private func recordExchange(
        status: HTTPResponseStatus,
        source: String,
        duration: TimeAmount? = nil,
        requestID: String? = nil,
        refusedRequestLine: (method: String, target: String)? = nil
    ) {
        exchangeLog.record(
            current,
            status: status,
            source: source,
            duration: duration,
            requestID: requestID,
            refusedRequestLine: refusedRequestLine,
            peer: peer
        )
    }

    // MARK: Deadlines

    func deadlinePassed() {
        deadlineEntry = nil
        guard let context else { return }
        switch state.deadlinePassed() {
        case .none:
            break
        case .close:
            context.close(promise: nil)
        case .respondAndClose(let response):
            // Part of a head, never completed: 408, counted without a request (method and route `other`).
            current = nil
            let requestID = requestIDs.next()
            recordExchange(
                status: response.status,
                source: "sidecar",
                duration: settings.headerTimeout,
                requestID: requestID
            )
            if let written = writer.writeLocal(
                response,
                requestID: requestID,
                close: true,
                isHeadRequest: false,
                context: context
            ) {
                closeAfterWriting(written, context: context)
            }
        case .upstreamTimedOut(let then):
            settings.metrics?.handles.upstreamTimeouts.increment()
            abortUpstream()
            runFailureAction(then, context: context)
        }
        finishEvent()
    }
}

// MARK: - WebSocket

extension ProxyHandler {
    /// After the upstream's `101`: forward it, count the exchange, and hand both connections to a
    /// ``TunnelHandler`` pair.
    private func switchToTunnel(
        _ response: UpstreamResponseHead,
        upstream connection: UpstreamConnection,
        context: ChannelHandlerContext
    ) {
        guard let current else { return }
        pool.deadlines.cancel(&deadlineEntry)
        var head = settings.forwarding.clientResponseHead(
            response,
            requestID: current.forwarded.requestID,
            keepClientAlive: true,
            framing: .asSent
        )
        head.headers.replaceOrAdd(name: "Connection", value: "Upgrade")
        head.headers.replaceOrAdd(name: "Upgrade", value: "websocket")
        self.current?.upstreamStatus = head.status
        if let forwardedAt = current.forwardedAt { self.current?.upstreamDuration = .now() - forwardedAt }
        recordExchange(status: head.status, source: "upstream")
        upstream = nil
        connection.delegate = nil
        _ = state.clientClosed()
        _ = state.takeDeadlineChange()
        // WebSocket is switched to over HTTP/1.1 only.
        context.writeAndFlush(NIOAny(HTTP1ResponseBytes.head(head, allocator: context.channel.allocator)), promise: nil)
        guard let requestDecoder else {
            context.close(promise: nil)
            return
        }
        TunnelHandler.join(
            client: context,
            proxy: self,
            requestDecoder: requestDecoder,
            upstream: connection,
            logger: logger
        )
    }
}

// MARK: - Rate-limit decisions

extension ProxyHandler: RateLimitDecisionReceiver {
    func rateLimitDecided(_ decision: RateLimitDecision) {
        // The client may have gone meanwhile: the state machine then ignores the decision.
        guard let context else { return }
        limiterDecided(decision, context: context)
        finishEvent()
    }
}

// MARK: - Upstream events

extension ProxyHandler: UpstreamConnectionDelegate {
    func upstreamResponseHead(_ response: UpstreamResponseHead) {
        guard let context, let current else { return }
        if response.status == 101 {
            guard current.forwarded.upgradesToWebSocket, let connection = upstream else {
                // A switch nobody asked for: what follows is not HTTP, so the exchange failed.
                abortUpstream()
                failUpstream(.connectionFailed, context: context)
                finishEvent()
                return
            }
            switchToTunnel(response, upstream: connection, context: context)
            return
        }
        let status = HTTPResponseStatus(statusCode: response.status)
        let framing = ForwardingPolicy.responseFraming(
            status: status,
            hasContentLength: response.head.facts.contentLength != nil,
            method: current.method,
            clientVersion: current.clientVersion
        )
        guard
            case .forward(let keepAlive) = state.responseHead(
                isInformational: response.status < 200,
                endsWithClose: framing == .untilClose
            )
        else { return }
        if response.status < 200 { return }
        writer.writeProxiedHead(
            response,
            policy: settings.forwarding,
            requestID: current.forwarded.requestID,
            keepClientAlive: keepAlive,
            framing: framing,
            rateLimit: current.policy.map { (settings.rateLimitHeaders, $0) },
            context: context
        )
        self.current?.upstreamStatus = status
        if let forwardedAt = current.forwardedAt { self.current?.upstreamDuration = .now() - forwardedAt }
        finishEvent()
    }

    func upstreamResponseBody(_ body: ByteBuffer) {
        guard let context else { return }
        writer.writeBody(body, context: context)
        if !context.channel.isWritable { upstream?.holdReads() }
    }

    func upstreamResponseEnd(reusable: Bool) {
        guard let context, let connection = upstream else { return }
        upstream = nil
        // An upstream that declined to switch protocols may have stopped parsing after the
        // request (llhttp-based servers do): its connection is not used again.
        let reusable = reusable && current?.forwarded.upgradesToWebSocket != true
        switch state.responseEnd(upstreamReusable: reusable) {
        case .none:
            pool.release(connection, reusable: false)
        case .finish(let reuseUpstream, let closeClient):
            pool.release(connection, reusable: reuseUpstream)
            if let status = current?.upstreamStatus { recordExchange(status: status, source: "upstream") }
            current = nil
            if let written = writer.writeEnd(close: closeClient, context: context) {
                closeAfterWriting(written, context: context)
            }
        }
        finishEvent()
    }

    func upstreamReadComplete() {
        context?.flush()
    }

    func upstreamFailed() {
        guard let context else { return }
        settings.metrics?.handles.upstreamResets.increment()
        upstream = nil
        failUpstream(.connectionFailed, context: context)
        finishEvent()
    }

    func upstreamWritabilityChanged(isWritable: Bool) {
        state.upstreamWritabilityChanged(isWritable: isWritable)
        finishEvent()
    }
}

// MARK: - Upstream lease

extension ProxyHandler: UpstreamLeaseWaiter {
    func leased(_ connection: UpstreamConnection, reused: Bool) {
        guard let context else {
            pool.release(connection, reusable: true)
            return
        }
        attach(connection, reused: reused, context: context)
        finishEvent()
    }

    func leaseFailed(_ failure: UpstreamLeaseFailure) {
        guard let context else { return }
        switch failure {
        case .gatewayDown:
            settings.metrics?.handles.upstreamConnectErrors.increment()
            failUpstream(.connectionFailed, context: context)
        case .queueTimeout:
            settings.metrics?.handles.upstreamPoolTimeouts.increment()
            failUpstream(.poolExhausted, context: context)
        }
        finishEvent()
    }
}
