import CoreMetrics
import Prometheus

/// Sets up swift-metrics with the Prometheus backend and the sidecar's histogram buckets.
public enum SidecarMetricsSystem {
    /// Redis round trips: tens of microseconds on a local network, up to the deadline.
    public static let redisDurationBuckets: [Duration] = [
        .microseconds(50), .microseconds(100), .microseconds(250), .microseconds(500), .milliseconds(1),
        .microseconds(2500), .milliseconds(5), .milliseconds(10), .milliseconds(25), .milliseconds(50),
        .milliseconds(100), .milliseconds(250), .milliseconds(500), .seconds(1),
    ]
    /// Checks per Redis batch.
    public static let batchSizeBuckets: [Double] = [1, 2, 4, 8, 16, 32, 64, 128, 256]

    /// Metrics the executable records itself, straight into the registry, resolved once.
    public struct Handles: Sendable {
        public let registry: PrometheusCollectorRegistry
        /// `sidecar_upstream_errors_total{kind}`.
        public let upstreamConnectErrors: Prometheus.Counter
        public let upstreamTimeouts: Prometheus.Counter
        public let upstreamResets: Prometheus.Counter
        /// Requests answered 503 because no pool connection came free in time (`kind="pool_timeout"`).
        public let upstreamPoolTimeouts: Prometheus.Counter
        /// `sidecar_connections_active{listener="public"}`.
        public let activeConnections: Prometheus.Gauge
        /// `sidecar_tls_handshake_errors_total`.
        public let tlsHandshakeErrors: Prometheus.Counter
        /// `sidecar_tls_certificate_expiry_timestamp_seconds`; 0 without TLS.
        public let certificateExpiry: Prometheus.Gauge
        /// `sidecar_tls_certificate_reload_errors_total`: refused certificate or key files.
        public let certificateReloadErrors: Prometheus.Counter
    }

    /// Bootstraps swift-metrics (once per process) with a new registry.
    public static func bootstrap(version: String) -> Handles {
        let handles = makeHandles(version: version)
        MetricsSystem.bootstrap(DescribedPrometheusFactory(registry: handles.registry))
        return handles
    }

    /// A registry with the executable's own metrics, without touching swift-metrics (for tests).
    public static func makeHandles(version: String) -> Handles {
        let registry = PrometheusCollectorRegistry()
        func describe(_ name: String, _ help: String) -> MetricNameDescriptor {
            MetricNameDescriptor(metricName: name, unitName: "", helpText: help)
        }
        registry.makeGauge(
            descriptor: describe("sidecar_build_info", "The sidecar's version; always 1."),
            labels: [("version", version)]
        ).set(1.0)
        let upstreamErrors = describe("sidecar_upstream_errors_total", "Upstream failures by kind.")
        return Handles(
            registry: registry,
            upstreamConnectErrors: registry.makeCounter(descriptor: upstreamErrors, labels: [("kind", "connect")]),
            upstreamTimeouts: registry.makeCounter(descriptor: upstreamErrors, labels: [("kind", "timeout")]),
            upstreamResets: registry.makeCounter(descriptor: upstreamErrors, labels: [("kind", "reset")]),
            upstreamPoolTimeouts: registry.makeCounter(
                descriptor: upstreamErrors,
                labels: [("kind", "pool_timeout")]
            ),
            activeConnections: registry.makeGauge(
                descriptor: describe("sidecar_connections_active", "Open client connections, by listener."),
                labels: [("listener", "public")]
            ),
            tlsHandshakeErrors: registry.makeCounter(
                descriptor: describe("sidecar_tls_handshake_errors_total", "Failed TLS handshakes.")
            ),
            certificateExpiry: registry.makeGauge(
                descriptor: describe(
                    "sidecar_tls_certificate_expiry_timestamp_seconds",
                    "Expiry of the served certificate in unix seconds; 0 without TLS."
                )
            ),
            certificateReloadErrors: registry.makeCounter(
                descriptor: describe(
                    "sidecar_tls_certificate_reload_errors_total",
                    "Certificate or key files refused on reload (broken, or not a matching pair)."
                )
            )
        )
    }
}
