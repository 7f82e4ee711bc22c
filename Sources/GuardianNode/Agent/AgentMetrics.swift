import CoreMetrics
import Foundation
import Metrics
import Prometheus

/// The agent's metrics: recorded through swift-metrics, exported in Prometheus text by
/// swift-prometheus at `GET /metrics`. `MetricsSystem` takes one factory per process, so the
/// registry is bootstrapped once, on first use (the agent touches it at start).
public enum AgentMetrics {
    public static let registry: PrometheusCollectorRegistry = {
        let r = PrometheusCollectorRegistry()
        var f = PrometheusMetricsFactory(registry: r)
        f.durationHistogramBuckets["guardian_audit_duration_seconds"] =
            [.milliseconds(100), .milliseconds(250), .milliseconds(500), .seconds(1), .milliseconds(2500), .seconds(5), .seconds(10),
             .seconds(30), .seconds(60), .seconds(300)]
        // the WAL sync that acknowledges results (Store/GroupCommitter.swift): sub-millisecond on a
        // healthy disk, and the first thing to look at when acknowledgements slow down
        f.durationHistogramBuckets["guardian_store_wal_fsync_duration_seconds"] =
            [.microseconds(250), .microseconds(500), .milliseconds(1), .milliseconds(2), .milliseconds(5), .milliseconds(10),
             .milliseconds(25), .milliseconds(100), .milliseconds(500), .seconds(1)]
        MetricsSystem.bootstrap(f)
        return r
    }()

    /// A finished audit: its duration and outcome.
    static func audit(succeeded: Bool, seconds: Double) {
        _ = registry
        Metrics.Counter(label: "guardian_audits_total", dimensions: [("outcome", succeeded ? "succeeded" : "failed")]).increment()
        if succeeded { Metrics.Timer(label: "guardian_audit_duration_seconds").recordNanoseconds(Int64(seconds * 1e9)) }
    }

    /// A replicated result that failed verification (bad signature, unknown signer, unregistered
    /// project): counted, logged, never stored.
    static func resultRefused() { Metrics.Counter(label: "guardian_results_refused_total").increment() }

    /// Gauges read at scrape time, then the whole registry as Prometheus text.
    static func render(queueDepth: Int, running: Int, resultsStored: Int, findings: [String: Int], hintsPending: Int) -> [UInt8] {
        _ = registry
        Gauge(label: "guardian_audit_queue_depth").record(queueDepth)
        Gauge(label: "guardian_audits_running").record(running)
        Gauge(label: "guardian_results_stored").record(resultsStored)
        Gauge(label: "guardian_hints_pending").record(hintsPending)
        for severity in ["critical", "high", "medium", "low", "info"] {
            Gauge(label: "guardian_findings", dimensions: [("severity", severity)]).record(findings[severity] ?? 0)
        }
        return registry.emitToBuffer()
    }
}
