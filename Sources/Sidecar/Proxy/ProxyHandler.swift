import Limiter
import Logging
import NIOCore
import NIOHTTP1
import SidecarMetrics

/// Forwards a client connection's requests to the upstream, one exchange at a time, streaming
/// bodies both ways. Decisions are ``ProxyStateMachine``'s; this handler carries them out.
final class ProxyHandler: ChannelDuplexHandler, RemovableChannelHandler, DeadlineSweeper.Owner {
    typealias InboundIn = HTTPServerRequestPart
    typealias OutboundIn = HTTPServerResponsePart
    typealias OutboundOut = HTTPServerResponsePart

    /// What every connection of a listener shares.
    struct Settings: Sendable {
        var forwarding: ForwardingPolicy
        var rateLimitHeaders: RateLimitResponseHeaders
        var maxBodyBytes: Int?
        var headerTimeout: TimeAmount
        var idleTimeout: TimeAmount
        var upstreamTimeout: TimeAmount
        var accessLog: AccessLog?
        /// Verifies bearer tokens when a rule takes a `jwt:` key.
        var jwt: JWTClaimVerifier? = nil
        /// Where requests are counted; `nil` records nothing.
        var metrics: ProxyMetrics? = nil
        /// Whether a rule takes a `tls:subject` key, so the client certificate is read.
        var usesTLSSubject = false
    }

    /// The request being served.
    private struct Current {
        var forwarded: ForwardingPolicy.ForwardedRequest
        var method: HTTPMethod
        var start: NIODeadline
        var policy: RateLimitPolicyState?
        /// The upstream's status, once its response head arrived.
        var upstreamStatus: HTTPResponseStatus?
        /// When the request went upstream, and how long its response head took.
        var forwardedAt: NIODeadline?
        var upstreamDuration: TimeAmount?
    }

    /// Which deadline the connection's timer watches.
    private enum DeadlineKind { case idle, upstream }

    private let settings: Settings
    private let pool: UpstreamPool
    private let limiter: any RateLimiter
    private let logger: Logger

    private var state = ProxyStateMachine()
    private var context: ChannelHandlerContext?
    /// Writes below the HTTP codec; set when the pipeline is built.
    weak var tap: ClientBytesTap?
    private var isClosing = false
    /// The connection's peer, parsed once.
    private var peer: ForwardingPolicy.Peer?
    private var current: Current?
    private var upstream: UpstreamConnection?

    private var requestIDs = RequestIDGenerator()
    /// Whether this handler serves one HTTP/2 stream (its requests arrive as version 2).
    private var isHTTP2 = false
    /// The verified client certificate's subject, looked up once per connection or stream.
    private var peerSubject: String??
    /// This loop's request metrics.
    private var recorder: HTTPMetricsRecorder?
    private var clientReadPending = false
    /// Parts of requests that arrived while an exchange was in progress.
    private var pipelined = CircularBuffer<HTTPServerRequestPart>()
    private var servingPipelined = false
    private var upstreamWritable = true
    private var inClientReadBurst = false
    private var upstreamNeedsFlush = false

    private var deadlineKind = DeadlineKind.idle
    private var deadline: DeadlineSweeper.Entry?

    init(settings: Settings, pool: UpstreamPool, limiter: any RateLimiter, logger: Logger) {
        self.settings = settings
        self.pool = pool
        self.limiter = limiter
        self.logger = logger
    }

    // MARK: Channel events

    func handlerAdded(context: ChannelHandlerContext) {
        self.context = context
        recorder = settings.metrics?.http.recorder(on: context.eventLoop)
        peer = context.channel.remoteAddress?.ipAddress.map(settings.forwarding.peer)
        if context.channel.isActive { armDeadline(.idle, in: settings.headerTimeout) }
    }

    func handlerRemoved(context: ChannelHandlerContext) {
        cancelDeadline()
        self.context = nil
    }

    func channelActive(context: ChannelHandlerContext) {
        if peer == nil { peer = context.channel.remoteAddress?.ipAddress.map(settings.forwarding.peer) }
        armDeadline(.idle, in: settings.headerTimeout)
        context.fireChannelActive()
    }

    func channelInactive(context: ChannelHandlerContext) {
        cancelDeadline()
        if state.clientClosed() == .abortUpstream {
            if let upstream {
                self.upstream = nil
                upstream.abort()
            } else {
                pool.cancel(self)
            }
        }
        context.fireChannelInactive()
    }

    /// Raw bytes arrived (see ``ClientBytesTap``).
    func clientBytesArrived() {
        if state.clientBytesArrived() == .startHeadDeadline {
            armDeadline(.idle, in: settings.headerTimeout)
        }
    }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        inClientReadBurst = true
        let part = unwrapInboundIn(data)
        if !pipelined.isEmpty || (part.isHead && !state.acceptsRequestHead) {
            // A pipelined request: answered in order once the current exchange is complete.
            pipelined.append(part)
            return
        }
        receive(part, context: context)
    }

    private func receive(_ part: HTTPServerRequestPart, context: ChannelHandlerContext) {
        switch part {
        case .head(let head):
            receiveHead(head, context: context)
        case .body(let body):
            receiveBody(body, context: context)
        case .end:
            receiveEnd(context: context)
        }
    }

    /// Serves pipelined requests that waited for the previous exchange to complete.
    private func servePipelined(context: ChannelHandlerContext) {
        guard !servingPipelined else { return }
        servingPipelined = true
        defer { servingPipelined = false }
        while let next = pipelined.first {
            if next.isHead && !state.acceptsRequestHead { break }
            pipelined.removeFirst()
            receive(next, context: context)
        }
        resumeClientReadsIfPossible()
    }

    func channelReadComplete(context: ChannelHandlerContext) {
        inClientReadBurst = false
        flushUpstreamIfNeeded()
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
        if mustHoldClientReads {
            clientReadPending = true
        } else {
            context.read()
        }
    }

    func userInboundEventTriggered(context: ChannelHandlerContext, event: Any) {
        if event is ChannelShouldQuiesceEvent {
            if state.quiesce() == .close { context.close(promise: nil) }
            return
        }
        context.fireUserInboundEventTriggered(event)
    }

    func errorCaught(context: ChannelHandlerContext, error: any Error) {
        guard !isClosing else { return }
        abortUpstreamConnection()
        guard let parserError = error as? HTTPParserError else {
            logger.debug("closing connection", metadata: ["error": "\(error)"])
            isClosing = true
            _ = state.clientClosed()
            context.close(promise: nil)
            return
        }
        let canRespond: Bool
        switch state.state {
        case .idle, .deciding, .connecting, .discardingBody: canRespond = true
        case .forwarding(let exchange): canRespond = exchange.response == .notStarted
        case .closed: canRespond = false
        }
        _ = state.clientClosed()
        if canRespond {
            writeLocalResponse(
                parserError == .headerOverflow ? .headersTooLarge : .badRequest,
                close: true,
                context: context
            )
        } else {
            isClosing = true
            context.close(promise: nil)
        }
    }

    // MARK: Request

    private func receiveHead(_ head: HTTPRequestHead, context: ChannelHandlerContext) {
        isHTTP2 = head.version.major == 2
        let forwarded = settings.forwarding.forwardRequest(head, peer: peer) {
            requestIDs.next()
        }
        current = Current(forwarded: forwarded, method: head.method, start: .now(), policy: nil)
        cancelDeadline()
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
        head: HTTPRequestHead,
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
        switch jwt.lookup(authorization: head.headers.first(name: "authorization"), on: context.eventLoop) {
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
            case .sendRequest(let buffered, let sendEnd, let sendContinue) = state.upstreamAttached(reused: reused)
        else {
            pool.release(connection, reusable: true)
            return
        }
        upstream = connection
        connection.delegate = self
        upstreamWritable = connection.isWritable
        if context.channel.isWritable { connection.resumeReads() } else { connection.holdReads() }
        if sendContinue {
            context.writeAndFlush(
                wrapOutboundOut(.head(HTTPResponseHead(version: .http1_1, status: .continue))),
                promise: nil
            )
        }
        connection.write(.head(current.forwarded.head))
        for part in buffered { connection.write(.body(.byteBuffer(part))) }
        if sendEnd { connection.write(.end(nil)) }
        connection.flush()
        // A write the upstream's pipeline refuses closes it at once, and its failure has already
        // been handled (retried or answered) by the time the writes return.
        guard upstream === connection else { return }
        armDeadline(.upstream, in: settings.upstreamTimeout)
        self.current?.forwardedAt = .now()
        resumeClientReadsIfPossible()
    }

    private func receiveBody(_ body: ByteBuffer, context: ChannelHandlerContext) {
        switch state.requestBodyPart(body) {
        case .none, .buffered:
            break
        case .forward(let part):
            upstream?.write(.body(.byteBuffer(part)))
            markUpstreamWritten()
        case .respond(let response, let close, let abortUpstream):
            if abortUpstream { abortUpstreamConnection() }
            writeLocalResponse(response, close: close, context: context)
        case .abort:
            abortUpstreamConnection()
            context.close(promise: nil)
        }
    }

    private func receiveEnd(context: ChannelHandlerContext) {
        switch state.requestEnd() {
        case .none:
            break
        case .forwardEnd:
            upstream?.write(.end(nil))
            markUpstreamWritten()
        case .exchangeComplete(let closeClient):
            if closeClient {
                context.close(promise: nil)
            } else {
                armDeadline(.idle, in: settings.idleTimeout)
                servePipelined(context: context)
            }
        }
    }

    // MARK: Upstream failures

    private func failUpstream(_ failure: ProxyStateMachine.UpstreamFailure, context: ChannelHandlerContext) {
        switch state.upstreamFailed(failure) {
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

    private func abortUpstreamConnection() {
        guard let upstream else { return }
        self.upstream = nil
        upstreamWritable = true
        upstream.abort()
    }

    // MARK: Writing

    private func writeLocalResponse(_ response: LocalResponse, close: Bool, context: ChannelHandlerContext) {
        cancelDeadline()
        let body = response.body(allocator: context.channel.allocator)
        let requestID = current?.forwarded.requestID ?? requestIDs.next()
        // HTTP/2 has no `Connection` header: a stream simply ends.
        let head = response.head(
            bodyLength: body.readableBytes,
            requestID: requestID,
            close: close && !isHTTP2
        )
        context.write(wrapOutboundOut(.head(head)), promise: nil)
        context.write(wrapOutboundOut(.body(.byteBuffer(body))), promise: nil)
        if close {
            closeAfterWriting(context.writeAndFlush(wrapOutboundOut(.end(nil))), context: context)
        } else {
            context.writeAndFlush(wrapOutboundOut(.end(nil)), promise: nil)
            if case .idle = state.state { armDeadline(.idle, in: settings.idleTimeout) }
        }
        recordExchange(status: response.status, source: "sidecar", requestID: requestID)
        if case .idle = state.state {
            current = nil
            servePipelined(context: context)
        }
        resumeClientReadsIfPossible()
    }

    /// Closes once `written` completes: the write side first, so that a client still sending reads
    /// the response instead of a reset, then the whole connection after a short linger.
    private func closeAfterWriting(_ written: EventLoopFuture<Void>, context: ChannelHandlerContext) {
        isClosing = true
        written.assumeIsolated().whenComplete { _ in
            context.close(mode: .output).assumeIsolated().whenComplete { result in
                if case .failure = result {
                    context.close(promise: nil)
                    return
                }
                context.eventLoop.assumeIsolated().scheduleTask(in: Self.lingerTime) {
                    context.close(promise: nil)
                }
            }
        }
    }

    /// How long a closing connection keeps reading (and dropping) what the client still sends.
    static let lingerTime = TimeAmount.seconds(2)

    private func markUpstreamWritten() {
        if inClientReadBurst {
            upstreamNeedsFlush = true
        } else {
            upstream?.flush()
        }
    }

    private func flushUpstreamIfNeeded() {
        if upstreamNeedsFlush {
            upstreamNeedsFlush = false
            upstream?.flush()
        }
    }

    /// Whether reading more from the client must wait: nothing can take its bytes yet.
    private var mustHoldClientReads: Bool {
        state.holdsClientReads || !upstreamWritable || pipelined.count >= Self.maxPipelinedParts
    }

    /// Request parts read ahead of their turn before reading stops.
    static let maxPipelinedParts = 16

    private func resumeClientReadsIfPossible() {
        guard clientReadPending, !mustHoldClientReads, let context else { return }
        clientReadPending = false
        context.read()
    }

    /// Counts the finished exchange and writes its access-log line.
    ///
    /// Without a current request (the head could not be parsed, or never came), the answer is
    /// still counted and logged: method and route `other`, the path `-`.
    private func recordExchange(
        status: HTTPResponseStatus,
        source: String,
        duration: TimeAmount? = nil,
        requestID: String? = nil
    ) {
        let duration = duration ?? current.map { NIODeadline.now() - $0.start } ?? .zero
        // A refused target is logged as sent, but never names a route.
        let routable = current?.forwarded.target != nil
        if let recorder, let metrics = settings.metrics {
            recorder.record(
                method: HTTPMethodLabel.index(of: current?.method.rawValue ?? ""),
                status: Int(status.code),
                route: routable
                    ? metrics.http.routes.route(of: current?.forwarded.target?.path ?? "")
                    : metrics.http.routes.labels.count - 1,
                duration: duration,
                upstream: current?.upstreamDuration
            )
        }
        guard let accessLog = settings.accessLog else { return }
        let path: String
        if let target = current?.forwarded.target {
            path = String(target.path)
        } else {
            // Refused: the target as sent, without its query.
            path = current.map { String($0.forwarded.head.uri.prefix { $0 != "?" }) } ?? "-"
        }
        accessLog.record(
            AccessLog.Entry(
                method: current?.method.rawValue ?? "-",
                path: path,
                status: Int(status.code),
                durationSeconds: Double(duration.nanoseconds) / 1e9,
                requestID: current?.forwarded.requestID ?? requestID ?? "-",
                client: current?.forwarded.clientAddress?.description ?? peer?.text,
                source: source,
                timeUnixSeconds: Double(wallClockNanoseconds()) / 1e9
            )
        )
    }

    // MARK: Deadlines

    private func armDeadline(_ kind: DeadlineKind, in amount: TimeAmount) {
        deadlineKind = kind
        pool.deadlines.set(.now() + amount, for: self, entry: &deadline)
    }

    private func cancelDeadline() {
        pool.deadlines.cancel(&deadline)
    }

    func deadlinePassed() {
        deadline = nil
        guard let context else { return }
        switch deadlineKind {
        case .idle:
            switch state.idleDeadlinePassed() {
            case .none: break
            case .close: context.close(promise: nil)
            case .respondAndClose(let response):
                // No request head was read, so the HTTP codec has no exchange to answer: write below it.
                current = nil
                recordExchange(status: response.status, source: "sidecar", duration: settings.headerTimeout)
                if let written = tap?.writeRaw(response.serialized(allocator: context.channel.allocator)) {
                    closeAfterWriting(written, context: context)
                } else {
                    context.close(promise: nil)
                }
            }
        case .upstream:
            settings.metrics?.handles.upstreamTimeouts.increment()
            abortUpstreamConnection()
            failUpstream(.timedOut, context: context)
        }
    }
}

// MARK: - Rate-limit decisions

extension ProxyHandler: RateLimitDecisionReceiver {
    func rateLimitDecided(_ decision: RateLimitDecision) {
        // The client may have gone meanwhile: the state machine then ignores the decision.
        guard let context else { return }
        limiterDecided(decision, context: context)
    }
}

// MARK: - Upstream events

extension ProxyHandler: UpstreamConnectionDelegate {
    func upstreamResponseHead(_ head: HTTPResponseHead) {
        guard let context, let current else { return }
        if head.status == .switchingProtocols, current.forwarded.upgradesToWebSocket, let connection = upstream {
            switchToTunnel(head, upstream: connection, context: context)
            return
        }
        guard case .forward(let keepAlive) = state.responseHead(isInformational: head.status.code < 200) else { return }
        if head.status.code < 200 { return }
        cancelDeadline()
        var head = head
        _ = settings.forwarding.forwardResponse(
            &head,
            requestID: current.forwarded.requestID,
            keepClientAlive: keepAlive || isHTTP2
        )
        if let policy = current.policy { settings.rateLimitHeaders.add(policy, to: &head.headers) }
        context.write(wrapOutboundOut(.head(head)), promise: nil)
        self.current?.upstreamStatus = head.status
        if let forwardedAt = current.forwardedAt { self.current?.upstreamDuration = .now() - forwardedAt }
    }

    func upstreamResponseBody(_ body: ByteBuffer) {
        guard let context else { return }
        context.write(wrapOutboundOut(.body(.byteBuffer(body))), promise: nil)
        if !context.channel.isWritable { upstream?.holdReads() }
    }

    func upstreamResponseEnd(reusable: Bool) {
        guard let context, let connection = upstream else { return }
        upstream = nil
        upstreamWritable = true
        switch state.responseEnd(upstreamReusable: reusable) {
        case .none:
            pool.release(connection, reusable: false)
        case .finish(let reuseUpstream, let closeClient):
            pool.release(connection, reusable: reuseUpstream)
            if let status = current?.upstreamStatus { recordExchange(status: status, source: "upstream") }
            current = nil
            if closeClient {
                closeAfterWriting(context.writeAndFlush(wrapOutboundOut(.end(nil))), context: context)
            } else {
                context.writeAndFlush(wrapOutboundOut(.end(nil)), promise: nil)
                armDeadline(.idle, in: settings.idleTimeout)
                servePipelined(context: context)
            }
        }
    }

    func upstreamReadComplete() {
        context?.flush()
    }

    func upstreamFailed() {
        guard let context else { return }
        settings.metrics?.handles.upstreamResets.increment()
        upstream = nil
        upstreamWritable = true
        failUpstream(.connectionFailed, context: context)
    }

    func upstreamWritabilityChanged(isWritable: Bool) {
        upstreamWritable = isWritable
        if isWritable { resumeClientReadsIfPossible() }
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
    }
}

extension ProxyHandler {
    /// After the upstream's `101`, the HTTP codecs leave both pipelines and the two connections
    /// are joined by a ``TunnelHandler`` pair: WebSocket frames pass as bytes, with backpressure.
    fileprivate func switchToTunnel(
        _ head: HTTPResponseHead,
        upstream connection: UpstreamConnection,
        context: ChannelHandlerContext
    ) {
        guard let current, let upstreamChannel = connection.channel else { return }
        cancelDeadline()
        var head = head
        _ = settings.forwarding.forwardResponse(&head, requestID: current.forwarded.requestID, keepClientAlive: true)
        head.headers.replaceOrAdd(name: "Connection", value: "Upgrade")
        head.headers.replaceOrAdd(name: "Upgrade", value: "websocket")
        self.current?.upstreamStatus = head.status
        if let forwardedAt = current.forwardedAt { self.current?.upstreamDuration = .now() - forwardedAt }
        recordExchange(status: head.status, source: "upstream")
        upstream = nil
        connection.delegate = nil
        _ = state.clientClosed()
        context.writeAndFlush(wrapOutboundOut(.head(head)), promise: nil)
        do {
            // The client side now: it cannot send frames before it reads the 101 just written, and
            // until the upstream side is joined, its tunnel end keeps what arrives and stops reading.
            let (clientSide, upstreamSide) = TunnelHandler.pair()
            let client = context.pipeline.syncOperations
            try client.addHandler(clientSide)
            if let tap { client.removeHandler(tap, promise: nil) }
            try client.removeHandler(context: client.context(handlerType: HTTPResponseEncoder.self), promise: nil)
            try client.removeHandler(
                context: client.context(handlerType: ByteToMessageHandler<HTTPRequestDecoder>.self),
                promise: nil
            )
            client.removeHandler(self, promise: nil)
            // The upstream side once its decoder has delivered this response (its end follows the head).
            let logger = self.logger
            upstreamChannel.eventLoop.assumeIsolated().execute {
                do {
                    let upstream = upstreamChannel.pipeline.syncOperations
                    try upstream.addHandler(upstreamSide)
                    upstream.removeHandler(connection, promise: nil)
                    try upstream.removeHandler(
                        context: upstream.context(handlerType: HTTPRequestEncoder.self),
                        promise: nil
                    )
                    if let validator = try? upstream.context(handlerType: NIOHTTPRequestHeadersValidator.self) {
                        upstream.removeHandler(context: validator, promise: nil)
                    }
                    // Bytes the upstream sent right after its 101 come out of the decoder into the tunnel.
                    let decoderRemoved = upstreamChannel.eventLoop.makePromise(of: Void.self)
                    try upstream.removeHandler(
                        context: upstream.context(handlerType: ByteToMessageHandler<HTTPResponseDecoder>.self),
                        promise: decoderRemoved
                    )
                    decoderRemoved.futureResult.assumeIsolated().whenComplete { _ in
                        clientSide.partnerIsReady()
                        upstreamChannel.read()
                    }
                } catch {
                    logger.debug("cannot join the upstream to the tunnel", metadata: ["error": "\(error)"])
                    upstreamChannel.close(promise: nil)
                    context.close(promise: nil)
                }
            }
        } catch {
            logger.debug("cannot switch to a tunnel", metadata: ["error": "\(error)"])
            upstreamChannel.close(promise: nil)
            context.close(promise: nil)
        }
    }
}

/// A request as the rate limiter sees it.
struct ProxiedRequest: RateLimitRequest {
    var head: HTTPRequestHead
    /// The normalised target; rules match its path.
    var target: RequestTarget
    var clientAddress: ClientAddress?
    var host: String?
    var tlsSubject: String? = nil
    var claims: JWTClaims? = nil

    var method: String { head.method.rawValue }

    var path: Substring { target.pathForRules }

    func firstHeader(named name: String) -> String? {
        head.headers.first(name: name)
    }

    func jwtClaim(named name: String) -> String? {
        claims?.values[name]
    }
}

extension HTTPServerRequestPart {
    fileprivate var isHead: Bool {
        if case .head = self { return true }
        return false
    }
}

/// The metrics the proxy records: per-loop request metrics and the registry's own handles.
struct ProxyMetrics: Sendable {
    var http: HTTPMetrics
    var handles: SidecarMetricsSystem.Handles
}
