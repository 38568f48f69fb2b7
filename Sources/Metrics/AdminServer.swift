import Logging
import NIOCore
import NIOHTTP1
import NIOPosix
import Prometheus

/// The admin listener (`SIDECAR_ADMIN_LISTEN`): `/metrics`, `/healthz`, `/readyz` and `/drain`,
/// never proxied.
public final class AdminServer: Sendable {
    /// What the admin endpoints report.
    public struct Sources: Sendable {
        /// Metrics recorded through swift-metrics.
        public var registry: PrometheusCollectorRegistry
        /// Per-loop request metrics, when the proxy records them.
        public var http: HTTPMetrics?
        /// Whether the sidecar should receive traffic (`/readyz`).
        public var isReady: @Sendable () async -> Bool
        /// Drains the proxy (`/drain`, a pod's `preStop`) given the request's query; answers once
        /// drained, with the status and text to send.
        public var drain: (@Sendable (_ query: String?) async -> (HTTPResponseStatus, String))?

        public init(
            registry: PrometheusCollectorRegistry,
            http: HTTPMetrics?,
            drain: (@Sendable (_ query: String?) async -> (HTTPResponseStatus, String))? = nil,
            isReady: @escaping @Sendable () async -> Bool
        ) {
            self.registry = registry
            self.http = http
            self.drain = drain
            self.isReady = isReady
        }
    }

    /// `Content-Type` of `/metrics`: Prometheus text format 0.0.4.
    public static let metricsContentType = "text/plain; version=0.0.4; charset=utf-8"

    /// The address the admin listener is bound to.
    public let localAddress: SocketAddress
    private let channel: NIOAsyncChannel<NIOAsyncChannel<HTTPServerRequestPart, HTTPServerResponsePart>, Never>
    private let sources: Sources
    private let logger: Logger

    private init(
        channel: NIOAsyncChannel<NIOAsyncChannel<HTTPServerRequestPart, HTTPServerResponsePart>, Never>,
        sources: Sources,
        logger: Logger
    ) throws {
        self.channel = channel
        self.sources = sources
        self.logger = logger
        guard let address = channel.channel.localAddress else { throw ChannelError.unknownLocalAddress }
        self.localAddress = address
    }

    /// Binds the admin listener; serve it with ``run()``.
    public static func bind(
        host: String,
        port: Int,
        group: any EventLoopGroup,
        sources: Sources,
        logger: Logger
    ) async throws -> AdminServer {
        let channel = try await ServerBootstrap(group: group)
            .serverChannelOption(.socketOption(.so_reuseaddr), value: 1)
            .bind(host: host, port: port) { channel in
                channel.eventLoop.makeCompletedFuture {
                    try channel.pipeline.syncOperations.configureHTTPServerPipeline()
                    return try NIOAsyncChannel<HTTPServerRequestPart, HTTPServerResponsePart>(
                        wrappingChannelSynchronously: channel
                    )
                }
            }
        let server = try AdminServer(channel: channel, sources: sources, logger: logger)
        logger.info("admin listening", metadata: ["address": "\(server.localAddress)"])
        return server
    }

    /// Serves connections until the task is cancelled.
    public func run() async {
        await withDiscardingTaskGroup { connections in
            do {
                try await channel.executeThenClose { inbound in
                    try await withTaskCancellationHandler {
                        for try await connection in inbound {
                            connections.addTask { await self.serve(connection) }
                        }
                    } onCancel: {
                        self.channel.channel.close(promise: nil)
                    }
                }
            } catch {
                logger.debug("admin listener closed", metadata: ["error": "\(error)"])
            }
            connections.cancelAll()
        }
    }

    private func serve(_ connection: NIOAsyncChannel<HTTPServerRequestPart, HTTPServerResponsePart>) async {
        do {
            try await connection.executeThenClose { inbound, outbound in
                var head: HTTPRequestHead?
                for try await part in inbound {
                    switch part {
                    case .head(let requestHead): head = requestHead
                    case .body: break
                    case .end:
                        guard let request = head else { continue }
                        let (status, contentType, body) = await respond(to: request)
                        var headers = HTTPHeaders([
                            ("Content-Type", contentType), ("Content-Length", String(body.readableBytes)),
                        ])
                        if !request.isKeepAlive { headers.add(name: "Connection", value: "close") }
                        try await outbound.write(
                            .head(HTTPResponseHead(version: request.version, status: status, headers: headers))
                        )
                        if request.method != .HEAD { try await outbound.write(.body(.byteBuffer(body))) }
                        try await outbound.write(.end(nil))
                        if !request.isKeepAlive { return }
                        head = nil
                    }
                }
            }
        } catch {
            logger.debug("admin connection failed", metadata: ["error": "\(error)"])
        }
    }

    private func respond(to request: HTTPRequestHead) async -> (HTTPResponseStatus, String, ByteBuffer) {
        let parts = request.uri.split(separator: "?", maxSplits: 1, omittingEmptySubsequences: false)
        let path = parts.first.map(String.init) ?? request.uri
        let query = parts.count > 1 ? String(parts[1]) : nil
        guard request.method == .GET || request.method == .HEAD else {
            return (.methodNotAllowed, "text/plain; charset=utf-8", ByteBuffer(string: "GET or HEAD only\n"))
        }
        switch path {
        case "/metrics":
            var text = sources.registry.emitToString()
            if let http = sources.http { text += await http.render() }
            text += ProcessMetrics.render()
            return (.ok, Self.metricsContentType, ByteBuffer(string: text))
        case "/healthz":
            return (.ok, "text/plain; charset=utf-8", ByteBuffer(string: "ok\n"))
        case "/readyz":
            if await sources.isReady() {
                return (.ok, "text/plain; charset=utf-8", ByteBuffer(string: "ready\n"))
            }
            return (.serviceUnavailable, "text/plain; charset=utf-8", ByteBuffer(string: "not ready\n"))
        case "/drain" where sources.drain != nil:
            let (status, text) = await sources.drain!(query)
            return (status, "text/plain; charset=utf-8", ByteBuffer(string: text + "\n"))
        default:
            return (
                .notFound, "text/plain; charset=utf-8", ByteBuffer(string: "/metrics, /healthz, /readyz or /drain\n")
            )
        }
    }
}
