import NIOCore
import NIOHTTP1
import SidecarMetrics

/// Counts finished exchanges in this loop's request metrics and writes their access-log lines.
struct ExchangeLog {
    var metrics: ProxyMetrics?
    var recorder: HTTPMetricsRecorder?
    var accessLog: AccessLog?

    /// Records an exchange answered with `status`.
    ///
    /// Without an exchange (the head was refused, or never came), the answer is still counted and
    /// logged: under the method and target of `refusedRequestLine` when the request line named a
    /// known method, else method `other` and path `-`; the route is `other`.
    func record(
        _ exchange: ProxiedExchange?,
        status: HTTPResponseStatus,
        source: String,
        duration: TimeAmount?,
        requestID: String?,
        refusedRequestLine: (method: String, target: String)? = nil,
        peer: ForwardingPolicy.Peer?
    ) {
        let method = exchange?.method.rawValue ?? refusedRequestLine?.method
        let duration = duration ?? exchange.map { NIODeadline.now() - $0.start } ?? .zero
        // A refused target is logged as sent, but never names a route.
        let routable = exchange?.forwarded.target != nil
        if let recorder, let metrics {
            recorder.record(
                method: HTTPMethodLabel.index(of: method ?? ""),
                status: Int(status.code),
                route: routable
                    ? metrics.http.routes.route(of: exchange?.forwarded.target?.path ?? "")
                    : metrics.http.routes.labels.count - 1,
                duration: duration,
                upstream: exchange?.upstreamDuration
            )
        }
        guard let accessLog else { return }
        let path: String
        if let target = exchange?.forwarded.target {
            path = String(target.path)
        } else {
            // Refused: the target as sent, without its query.
            let target = exchange?.forwarded.head.uri ?? refusedRequestLine?.target
            path = target.map { String($0.prefix { $0 != "?" }) } ?? "-"
        }
        accessLog.record(
            AccessLog.Entry(
                method: method ?? "-",
                path: path,
                status: Int(status.code),
                durationSeconds: Double(duration.nanoseconds) / 1e9,
                requestID: exchange?.forwarded.requestID ?? requestID ?? "-",
                client: exchange?.forwarded.clientAddress?.description ?? peer?.text,
                source: source,
                timeUnixSeconds: Double(wallClockNanoseconds()) / 1e9
            )
        )
    }
}
