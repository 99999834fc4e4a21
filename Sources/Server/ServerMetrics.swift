import CoreMetrics
import Foundation
import LLaVA
import Prometheus

/// The server's metrics, through swift-metrics into a Prometheus registry of its own (one per server, so
/// several servers in one process — tests — never share counters).
final class ServerMetrics: Sendable {
    let registry = PrometheusCollectorRegistry()
    private let factory: PrometheusMetricsFactory

    init() {
        var factory = PrometheusMetricsFactory(registry: registry)
        factory.defaultDurationHistogramBuckets = [.milliseconds(5), .milliseconds(10), .milliseconds(25), .milliseconds(50),
                                                   .milliseconds(100), .milliseconds(250), .milliseconds(500), .seconds(1),
                                                   .seconds(2.5), .seconds(5), .seconds(10)]
        factory.defaultValueHistogramBuckets = [1, 2, 4, 8, 16, 32]
        self.factory = factory
    }

    /// Requests by route pattern, method and status, and their latency.
    func request(route: String, method: String, status: Int, duration: Duration) {
        Counter(label: "mneme_http_requests_total", dimensions: [("route", route), ("method", method), ("status", String(status))],
                factory: factory).increment()
        CoreMetrics.Timer(label: "mneme_http_request_duration_seconds", dimensions: [("route", route)], factory: factory)
            .recordNanoseconds(duration.components.seconds * 1_000_000_000 + duration.components.attoseconds / 1_000_000_000)
    }

    func batch(size: Int) {
        Recorder(label: "mneme_inference_batch_size", aggregate: true, factory: factory).record(size)
    }

    func queueDepth(_ depth: Int) {
        Gauge(label: "mneme_inference_queue_depth", factory: factory).record(depth)
    }

    func tuning(progress: Double, step: Int, loss: Double) {
        Gauge(label: "mneme_tuning_progress_ratio", factory: factory).record(progress)
        Gauge(label: "mneme_tuning_step", factory: factory).record(step)
        Gauge(label: "mneme_tuning_loss", factory: factory).record(loss)
    }

    func jobs(queued: Int, running: Int) {
        Gauge(label: "mneme_tuning_jobs", dimensions: [("state", "queued")], factory: factory).record(queued)
        Gauge(label: "mneme_tuning_jobs", dimensions: [("state", "running")], factory: factory).record(running)
    }

    func jobFinished(state: String) {
        Counter(label: "mneme_tuning_jobs_finished_total", dimensions: [("state", state)], factory: factory).increment()
    }

    func feedback(snapshot: String, task: String, correct: Bool) {
        Counter(label: "mneme_feedback_total", dimensions: [("snapshot", snapshot), ("task", task), ("correct", String(correct))],
                factory: factory).increment()
    }

    /// Answered queries held for feedback, and how many were dropped (oldest first) to stay within bounds.
    func queryLog(held: Int, bytes: Int, dropped: Int) {
        Gauge(label: "mneme_feedback_queries_held", factory: factory).record(held)
        Gauge(label: "mneme_feedback_queries_bytes", factory: factory).record(bytes)
        Gauge(label: "mneme_feedback_queries_dropped", factory: factory).record(dropped)
    }

    /// 1 for the active snapshot, 0 for the one it replaced.
    func activeSnapshot(_ id: String, previous: String?) {
        if let previous, previous != id {
            Gauge(label: "mneme_active_snapshot", dimensions: [("snapshot", previous)], factory: factory).record(0)
        }
        Gauge(label: "mneme_active_snapshot", dimensions: [("snapshot", id)], factory: factory).record(1)
    }

    /// The merged-decoder cache, read when the metrics are rendered.
    private func mergedWeights() {
        let usage = MergedWeights.shared.usage
        Gauge(label: "mneme_merged_weights_bytes", factory: factory).record(usage.bytes)
        Gauge(label: "mneme_merged_weights_variants", factory: factory).record(usage.variants)
        Gauge(label: "mneme_merged_weights_merges", factory: factory).record(usage.merges)
        Gauge(label: "mneme_merged_weights_evictions", factory: factory).record(usage.evictions)
    }

    /// Snapshots on disk and the bytes they take (each one's own files), read when the metrics are rendered.
    private func snapshotStorage(_ storage: (count: Int, bytes: Int)?) {
        guard let storage else { return }
        Gauge(label: "mneme_snapshots", factory: factory).record(storage.count)
        Gauge(label: "mneme_snapshots_bytes", factory: factory).record(storage.bytes)
    }

    func render(storage: (count: Int, bytes: Int)? = nil) -> String {
        mergedWeights()
        snapshotStorage(storage)
        return registry.emitToString()
    }
}
