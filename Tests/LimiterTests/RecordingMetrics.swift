import Metrics
import Synchronization

/// A metrics backend for one test: counters kept by label and dimensions, read back by the test;
/// recorders and timers are dropped. Passed to a limiter's configuration, never bootstrapped.
final class RecordingMetrics: MetricsFactory {
    private let counters = Mutex<[String: Int64]>([:])
    private let gauges = Mutex<[String: Double]>([:])

    /// The last value of the gauge `label` with exactly `dimensions` (`nil` when never set).
    func gauge(_ label: String, _ dimensions: [(String, String)] = []) -> Double? {
        let name = Self.name(label, dimensions)
        return self.gauges.withLock { $0[name] }
    }

    /// Every gauge named `label`, by its dimensions as written in ``gauge(_:_:)``'s key.
    func gauges(_ label: String) -> [String: Double] {
        self.gauges.withLock { $0.filter { $0.key.hasPrefix(label + "{") } }
    }

    /// The value of the counter `label` with exactly `dimensions` (0 when never incremented).
    func counter(_ label: String, _ dimensions: [(String, String)] = []) -> Int64 {
        let name = Self.name(label, dimensions)
        return self.counters.withLock { $0[name] ?? 0 }
    }

    /// `sidecar_ratelimit_decisions_total` of `rule`, `decision` and `source`.
    func decisions(_ rule: String, _ decision: String, source: String) -> Int64 {
        self.counter(
            "sidecar_ratelimit_decisions_total",
            [("rule", rule), ("decision", decision), ("source", source)]
        )
    }

    func makeCounter(label: String, dimensions: [(String, String)]) -> any CounterHandler {
        RecordedCounter(metrics: self, name: Self.name(label, dimensions))
    }

    func makeRecorder(label: String, dimensions: [(String, String)], aggregate: Bool) -> any RecorderHandler {
        aggregate ? Dropped() : RecordedGauge(metrics: self, name: Self.name(label, dimensions))
    }

    func makeTimer(label: String, dimensions: [(String, String)]) -> any TimerHandler {
        Dropped()
    }

    func destroyCounter(_ handler: any CounterHandler) {}
    func destroyRecorder(_ handler: any RecorderHandler) {
        guard let gauge = handler as? RecordedGauge else { return }
        self.gauges.withLock { _ = $0.removeValue(forKey: gauge.name) }
    }
    func destroyTimer(_ handler: any TimerHandler) {}

    fileprivate func set(_ value: Double, of name: String) {
        self.gauges.withLock { $0[name] = value }
    }

    fileprivate func add(_ amount: Int64, to name: String) {
        self.counters.withLock { $0[name, default: 0] += amount }
    }

    private static func name(_ label: String, _ dimensions: [(String, String)]) -> String {
        label + "{" + dimensions.map { "\($0.0)=\($0.1)" }.joined(separator: ",") + "}"
    }
}

private final class RecordedCounter: CounterHandler {
    let metrics: RecordingMetrics
    let name: String

    init(metrics: RecordingMetrics, name: String) {
        self.metrics = metrics
        self.name = name
    }

    func increment(by amount: Int64) { self.metrics.add(amount, to: self.name) }
    func reset() {}
}

private final class RecordedGauge: RecorderHandler {
    let metrics: RecordingMetrics
    let name: String

    init(metrics: RecordingMetrics, name: String) {
        self.metrics = metrics
        self.name = name
    }

    func record(_ value: Int64) { self.metrics.set(Double(value), of: self.name) }
    func record(_ value: Double) { self.metrics.set(value, of: self.name) }
}

private final class Dropped: RecorderHandler, TimerHandler {
    func record(_ value: Int64) {}
    func record(_ value: Double) {}
    func recordNanoseconds(_ duration: Int64) {}
}
