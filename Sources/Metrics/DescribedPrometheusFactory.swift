import CoreMetrics
import Prometheus

/// The swift-metrics backend: swift-prometheus's registry, with each metric's `# HELP` text and
/// histogram buckets taken from one table, so that `/metrics` passes `promtool check metrics`.
struct DescribedPrometheusFactory: MetricsFactory {
    let registry: PrometheusCollectorRegistry

    /// Help text by metric name; metrics recorded through swift-metrics are listed here.
    static let help: [String: String] = [
        "sidecar_ratelimit_decisions_total": "Rate-limit decisions, by rule, decision and the source that decided.",
        "sidecar_ratelimit_untracked_total":
            "In-process decisions for buckets not remembered because the key cap was reached.",
        "sidecar_redis_request_duration_seconds": "Round trip of one Redis batch.",
        "sidecar_redis_batch_size": "Checks sent to Redis in one batch.",
        "sidecar_redis_errors_total": "Failed Redis batches and connections, by kind.",
        "sidecar_redis_up":
            "1 while Redis answers, 0 while the failure mode decides; in cluster mode one series per master (node).",
        "sidecar_redis_redirects_total": "Redis Cluster redirects followed (moved, ask, tryagain).",
        "sidecar_redis_failovers_total":
            "Times the Redis master moved: a new address (Sentinel promotion, DNS failover) or a cluster replica promoted.",
    ]

    private func descriptor(_ label: String) -> MetricNameDescriptor {
        MetricNameDescriptor(
            metricName: label,
            unitName: "",
            helpText: Self.help[label] ?? label.replacingUnderscores()
        )
    }

    func makeCounter(label: String, dimensions: [(String, String)]) -> any CounterHandler {
        registry.makeCounter(descriptor: descriptor(label), labels: dimensions)
    }

    func makeFloatingPointCounter(label: String, dimensions: [(String, String)]) -> any FloatingPointCounterHandler {
        registry.makeCounter(descriptor: descriptor(label), labels: dimensions)
    }

    func makeRecorder(label: String, dimensions: [(String, String)], aggregate: Bool) -> any RecorderHandler {
        guard aggregate else { return registry.makeGauge(descriptor: descriptor(label), labels: dimensions) }
        let buckets = label == "sidecar_redis_batch_size" ? SidecarMetricsSystem.batchSizeBuckets : [1, 10, 100, 1000]
        return registry.makeValueHistogram(descriptor: descriptor(label), labels: dimensions, buckets: buckets)
    }

    func makeMeter(label: String, dimensions: [(String, String)]) -> any MeterHandler {
        registry.makeGauge(descriptor: descriptor(label), labels: dimensions)
    }

    func makeTimer(label: String, dimensions: [(String, String)]) -> any TimerHandler {
        registry.makeDurationHistogram(
            descriptor: descriptor(label),
            labels: dimensions,
            buckets: SidecarMetricsSystem.redisDurationBuckets
        )
    }

    func destroyCounter(_ handler: any CounterHandler) {
        if let counter = handler as? Prometheus.Counter { registry.unregisterCounter(counter) }
    }

    func destroyFloatingPointCounter(_ handler: any FloatingPointCounterHandler) {
        if let counter = handler as? Prometheus.Counter { registry.unregisterCounter(counter) }
    }

    func destroyRecorder(_ handler: any RecorderHandler) {
        if let gauge = handler as? Prometheus.Gauge { registry.unregisterGauge(gauge) }
        if let histogram = handler as? Histogram<Double> { registry.unregisterValueHistogram(histogram) }
    }

    func destroyMeter(_ handler: any MeterHandler) {
        if let gauge = handler as? Prometheus.Gauge { registry.unregisterGauge(gauge) }
    }

    func destroyTimer(_ handler: any TimerHandler) {
        if let histogram = handler as? Histogram<Duration> { registry.unregisterDurationHistogram(histogram) }
    }
}

extension String {
    fileprivate func replacingUnderscores() -> String {
        String(map { $0 == "_" ? " " : $0 })
    }
}
