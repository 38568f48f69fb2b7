import SidecarMetrics

/// The metrics the proxy records: per-loop request metrics and the registry's own handles.
struct ProxyMetrics: Sendable {
    var http: HTTPMetrics
    var handles: SidecarMetricsSystem.Handles
}
