import NIOCore
import PerEventLoop

/// The `method` label values: the standard methods, and `other` for any extension method.
public enum HTTPMethodLabel {
    public static let values = [
        "GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS", "CONNECT", "TRACE", "other",
    ]

    /// The index into ``values`` of `method`.
    public static func index(of method: String) -> Int {
        switch method {
        case "GET": 0
        case "HEAD": 1
        case "POST": 2
        case "PUT": 3
        case "PATCH": 4
        case "DELETE": 5
        case "OPTIONS": 6
        case "CONNECT": 7
        case "TRACE": 8
        default: 9
        }
    }
}

/// Request metrics of one event loop, recorded without locks or allocation and summed over the
/// loops when `/metrics` is scraped. Used only on its loop.
///
/// Holds `sidecar_http_requests_total{method,code,route}`,
/// `sidecar_http_request_duration_seconds{method,route}` and
/// `sidecar_upstream_request_duration_seconds{route}`.
public final class HTTPMetricsRecorder {
    /// Upper bounds of the duration buckets, in seconds: a loopback proxy answers in well under
    /// a millisecond, a slow upstream in seconds.
    public static let durationBuckets: [Double] = [
        0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60,
    ]
    static let bucketBoundsNanoseconds: [Int64] = durationBuckets.map { Int64(($0 * 1e9).rounded()) }

    private(set) var counts: HTTPMetricsCounts

    init(routeCount: Int) {
        counts = HTTPMetricsCounts(routeCount: routeCount)
    }

    /// Records one answered request. `upstream` is the time to the upstream's response head, if it answered.
    public func record(method: Int, status: Int, route: Int, duration: TimeAmount, upstream: TimeAmount?) {
        counts.record(method: method, status: status, route: route, duration: duration, upstream: upstream)
    }
}

/// The numbers behind ``HTTPMetricsRecorder``: plain values, copied out of a loop to be summed.
struct HTTPMetricsCounts: Sendable {
    let routeCount: Int
    /// Requests by method, status code (100...599) and route, flattened.
    var requests: [UInt64]
    /// Request durations by method and route.
    var requestDurations: [DurationHistogramState]
    /// Upstream durations by route.
    var upstreamDurations: [DurationHistogramState]

    init(routeCount: Int) {
        self.routeCount = routeCount
        let methods = HTTPMethodLabel.values.count
        requests = Array(repeating: 0, count: methods * 500 * routeCount)
        requestDurations = Array(repeating: DurationHistogramState(), count: methods * routeCount)
        upstreamDurations = Array(repeating: DurationHistogramState(), count: routeCount)
    }

    mutating func record(method: Int, status: Int, route: Int, duration: TimeAmount, upstream: TimeAmount?) {
        let code = min(max(status, 100), 599) - 100
        requests[(method * 500 + code) * routeCount + route] &+= 1
        requestDurations[method * routeCount + route].record(duration.nanoseconds)
        if let upstream { upstreamDurations[route].record(upstream.nanoseconds) }
    }

    mutating func add(_ other: HTTPMetricsCounts) {
        for index in requests.indices { requests[index] &+= other.requests[index] }
        for index in requestDurations.indices { requestDurations[index].add(other.requestDurations[index]) }
        for index in upstreamDurations.indices { upstreamDurations[index].add(other.upstreamDurations[index]) }
    }
}

/// A histogram of durations: counts per bucket (not cumulative), a count and a sum.
struct DurationHistogramState: Sendable {
    var buckets = [UInt64](repeating: 0, count: HTTPMetricsRecorder.durationBuckets.count)
    var count: UInt64 = 0
    var sumNanoseconds: Int64 = 0

    mutating func record(_ nanoseconds: Int64) {
        count &+= 1
        sumNanoseconds &+= nanoseconds
        let bounds = HTTPMetricsRecorder.bucketBoundsNanoseconds
        var index = 0
        while index < bounds.count && nanoseconds > bounds[index] { index += 1 }
        if index < bounds.count { buckets[index] &+= 1 }
    }

    mutating func add(_ other: DurationHistogramState) {
        count &+= other.count
        sumNanoseconds &+= other.sumNanoseconds
        for index in buckets.indices { buckets[index] &+= other.buckets[index] }
    }
}

/// Every event loop's ``HTTPMetricsRecorder``, summed into Prometheus text on demand.
public final class HTTPMetrics: Sendable {
    public let routes: RouteClassifier
    private let recorders: PerEventLoop<HTTPMetricsRecorder>

    public init(routes: RouteClassifier, group: any EventLoopGroup) {
        self.routes = routes
        self.recorders = PerEventLoop(group: group)
    }

    /// The recorder of `eventLoop`; call on that loop.
    public func recorder(on eventLoop: any EventLoop) -> HTTPMetricsRecorder {
        let routeCount = routes.labels.count
        return recorders.value(on: eventLoop) { _ in HTTPMetricsRecorder(routeCount: routeCount) }
    }

    /// The sum over every loop, as Prometheus text format 0.0.4.
    public func render() async -> String {
        var total = HTTPMetricsCounts(routeCount: routes.labels.count)
        // A copy is taken on the loop that owns it; the sum is made here.
        for counts in await recorders.gather({ $0.counts }) { total.add(counts) }
        return Self.render(total, routes: routes.labels)
    }

    static func render(_ metrics: HTTPMetricsCounts, routes: [String]) -> String {
        let methods = HTTPMethodLabel.values
        var text = "# HELP sidecar_http_requests_total Requests answered, by method, status sent and route.\n"
        text += "# TYPE sidecar_http_requests_total counter\n"
        for method in methods.indices {
            for code in 0..<500 {
                for route in routes.indices {
                    let value = metrics.requests[(method * 500 + code) * routes.count + route]
                    guard value > 0 else { continue }
                    text += "sidecar_http_requests_total{method=\"\(methods[method])\",code=\"\(code + 100)\","
                    text += "route=\"\(escape(routes[route]))\"} \(value)\n"
                }
            }
        }
        text +=
            "# HELP sidecar_http_request_duration_seconds Time from request head to response end, by method and route.\n"
        text += "# TYPE sidecar_http_request_duration_seconds histogram\n"
        for method in methods.indices {
            for route in routes.indices {
                let state = metrics.requestDurations[method * routes.count + route]
                guard state.count > 0 else { continue }
                appendHistogram(
                    &text,
                    name: "sidecar_http_request_duration_seconds",
                    labels: "method=\"\(methods[method])\",route=\"\(escape(routes[route]))\"",
                    state: state
                )
            }
        }
        text +=
            "# HELP sidecar_upstream_request_duration_seconds Time from forwarding to the upstream's response head, by route.\n"
        text += "# TYPE sidecar_upstream_request_duration_seconds histogram\n"
        for route in routes.indices where metrics.upstreamDurations[route].count > 0 {
            appendHistogram(
                &text,
                name: "sidecar_upstream_request_duration_seconds",
                labels: "route=\"\(escape(routes[route]))\"",
                state: metrics.upstreamDurations[route]
            )
        }
        return text
    }

    private static func appendHistogram(
        _ text: inout String,
        name: String,
        labels: String,
        state: DurationHistogramState
    ) {
        var cumulative: UInt64 = 0
        for (index, bound) in HTTPMetricsRecorder.durationBuckets.enumerated() {
            cumulative &+= state.buckets[index]
            text += "\(name)_bucket{\(labels),le=\"\(formatBound(bound))\"} \(cumulative)\n"
        }
        text += "\(name)_bucket{\(labels),le=\"+Inf\"} \(state.count)\n"
        text += "\(name)_sum{\(labels)} \(Double(state.sumNanoseconds) / 1e9)\n"
        text += "\(name)_count{\(labels)} \(state.count)\n"
    }

    private static func formatBound(_ bound: Double) -> String {
        bound == bound.rounded() ? String(format0: bound) : "\(bound)"
    }

    /// A label value with `\`, `"` and newlines escaped.
    static func escape(_ value: String) -> String {
        var escaped = ""
        for character in value {
            switch character {
            case "\\": escaped += "\\\\"
            case "\"": escaped += "\\\""
            case "\n": escaped += "\\n"
            default: escaped.append(character)
            }
        }
        return escaped
    }
}

extension String {
    /// A whole number written without a fraction (`1.0` as `1`).
    fileprivate init(format0 value: Double) {
        self = String(Int64(value))
    }
}
