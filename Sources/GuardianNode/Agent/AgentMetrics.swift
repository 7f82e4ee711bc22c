import CoreMetrics
import Foundation
import GuardianAudit
import GuardianStore
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
        f.durationHistogramBuckets["guardian_http_request_duration_seconds"] =
            [.milliseconds(1), .milliseconds(5), .milliseconds(10), .milliseconds(25), .milliseconds(50), .milliseconds(100),
             .milliseconds(250), .milliseconds(500), .seconds(1), .milliseconds(2500), .seconds(10)]
        f.durationHistogramBuckets["guardian_audit_phase_seconds"] =
            [.milliseconds(5), .milliseconds(10), .milliseconds(25), .milliseconds(50), .milliseconds(100), .milliseconds(250),
             .milliseconds(500), .seconds(1), .milliseconds(2500), .seconds(10), .seconds(60)]
        f.nameAndLabelSanitizer = { name, labels in sanitize(name, labels) }
        MetricsSystem.bootstrap(f)
        Gauge(label: "guardian_build_info", dimensions: [("version", Auditor.version)]).record(1)
        for (label, dimensions) in zeroed { Metrics.Counter(label: label, dimensions: dimensions).increment(by: 0) }
        // histograms exported empty from the start, for the same reason
        for label in ["guardian_audit_duration_seconds", "guardian_store_wal_fsync_duration_seconds"] { _ = Metrics.Timer(label: label) }
        for phase in AuditPhases.Phase.allCases { _ = Metrics.Timer(label: "guardian_audit_phase_seconds", dimensions: [("phase", phase.rawValue)]) }
        return r
    }()

    /// Counters whose series are known in advance, exposed at 0 from the start: a rate over a
    /// series that appears only at its first event misses that event, and "none happened" must
    /// read as 0, not as an absent series. (Series named by an open set of reasons appear when
    /// they first occur.)
    static let zeroed: [(String, [(String, String)])] = [
        ("guardian_results_refused_total", []), ("guardian_results_corrupt_total", []), ("guardian_results_pushed_total", []),
        ("guardian_results_handed_off_total", []), ("guardian_read_repairs_total", []),
        ("guardian_hints_stored_total", []), ("guardian_hints_delivered_total", []), ("guardian_hints_expired_total", []),
        ("guardian_antientropy_sessions_total", []), ("guardian_antientropy_bytes_total", [("part", "frames")]),
        ("guardian_antientropy_bytes_total", [("part", "records")]),
        ("guardian_audits_total", [("outcome", "succeeded")]), ("guardian_audits_total", [("outcome", "failed")]),
        ("guardian_shards_sent_total", []), ("guardian_shards_served_total", []), ("guardian_shards_reassigned_total", []),
        ("guardian_store_commits_total", []), ("guardian_store_wal_fsync_failures_total", []), ("guardian_results_pruned_total", []),
        ("guardian_registry_refused_total", [("reason", "future")]), ("guardian_registry_refused_total", [("reason", "invalid")]),
        ("guardian_registry_refused_total", [("reason", "malformed")]),
        ("guardian_config_reloads_total", [("result", "success")]), ("guardian_config_reloads_total", [("result", "failure")]),
    ] + (["malformed", "oversized", "unknown_key", "forged", "replayed", "stale", "bad_identity"] as [String]).map {
        ("guardian_gossip_rejected_total", [("reason", $0)])
    }

    /// Names from other packages made Prometheus names: Hummingbird's `MetricsMiddleware` records
    /// `hb.requests`, `http.server.request.duration`, `hb.request.errors` and
    /// `http.server.active_requests`, labelled `http.route`, `http.request.method`,
    /// `http.response.status_code` and `error.type`; they become `guardian_http_*` with `route`,
    /// `method` and `status`. Any other character outside `[a-zA-Z0-9_:]` becomes `_`.
    static func sanitize(_ name: String, _ labels: [(String, String)]) -> (String, [(String, String)]) {
        let names = ["hb.requests": "guardian_http_requests_total", "http.server.request.duration": "guardian_http_request_duration_seconds",
                     "hb.request.errors": "guardian_http_request_errors_total", "http.server.active_requests": "guardian_http_active_requests"]
        let labelNames = ["http.route": "route", "http.request.method": "method", "http.response.status_code": "status", "error.type": "status"]
        func clean(_ s: String) -> String {
            String(s.unicodeScalars.map { u -> Character in
                (u.isASCII && (CharacterSet.alphanumerics.contains(u) || u == "_" || u == ":")) ? Character(u) : "_"
            })
        }
        return (names[name] ?? clean(name), labels.map { (labelNames[$0.0] ?? clean($0.0), $0.1) })
    }

    /// A finished audit: its duration and outcome.
    static func audit(succeeded: Bool, seconds: Double) {
        _ = registry
        Metrics.Counter(label: "guardian_audits_total", dimensions: [("outcome", succeeded ? "succeeded" : "failed")]).increment()
        if succeeded { Metrics.Timer(label: "guardian_audit_duration_seconds").recordNanoseconds(Int64(seconds * 1e9)) }
    }

    /// One phase of an audit ended (`AuditPhases`).
    static func auditPhase(_ phase: String, nanoseconds: Int64) {
        _ = registry
        Metrics.Timer(label: "guardian_audit_phase_seconds", dimensions: [("phase", phase)]).recordNanoseconds(nanoseconds)
    }

    /// A replicated result that failed verification (bad signature, unknown signer, unregistered
    /// project): counted, logged, never stored.
    static func resultRefused() { Metrics.Counter(label: "guardian_results_refused_total").increment() }

    /// The configuration was loaded (at start) or reloaded (SIGHUP): whether the last attempt
    /// succeeded and when one last did, and the queue limits now in force.
    static func configReloaded(successfully ok: Bool, maxConcurrentAudits: Int, queueCapacity: Int) {
        _ = registry
        Gauge(label: "guardian_config_last_reload_successful").record(ok ? 1 : 0)
        if ok { Gauge(label: "guardian_config_last_reload_success_timestamp_seconds").record(Date().timeIntervalSince1970) }
        Metrics.Counter(label: "guardian_config_reloads_total", dimensions: [("result", ok ? "success" : "failure")]).increment()
        Gauge(label: "guardian_audit_concurrency_limit").record(maxConcurrentAudits)
        Gauge(label: "guardian_audit_queue_capacity").record(queueCapacity)
    }

    /// Where the agent's memory is: its caches (estimated bytes and their limits) and the C heap.
    static func recordMemory() {
        let facts = Auditor.memoryCacheUsage
        Gauge(label: "guardian_facts_cache_bytes").record(facts.bytes)
        Gauge(label: "guardian_facts_cache_entries").record(facts.entries)
        Gauge(label: "guardian_facts_cache_limit_bytes").record(facts.limit)
        let git = Auditor.gitCacheUsage
        Gauge(label: "guardian_git_cache_bytes").record(git.bytes)
        Gauge(label: "guardian_git_cache_limit_bytes").record(git.limit)
        if let heap = Heap.usage() {
            Gauge(label: "guardian_heap_bytes", dimensions: [("state", "in_use")]).record(heap.inUse)
            Gauge(label: "guardian_heap_bytes", dimensions: [("state", "free")]).record(heap.free)
        }
    }

    /// Gauges read at scrape time, then the whole registry as Prometheus text.
    public static func render(queueDepth: Int, running: Int, resultsStored: Int, findings: [String: Int], hintsPending: Int,
                              members: [String: Int]) -> [UInt8] {
        _ = registry
        for status in ["alive", "suspect", "dead", "left"] {
            Gauge(label: "guardian_members", dimensions: [("status", status)]).record(members[status] ?? 0)
        }
        Gauge(label: "guardian_audit_queue_depth").record(queueDepth)
        Gauge(label: "guardian_audits_running").record(running)
        Gauge(label: "guardian_results_stored").record(resultsStored)
        Gauge(label: "guardian_hints_pending").record(hintsPending)
        recordMemory()
        for severity in ["critical", "high", "medium", "low", "info"] {
            Gauge(label: "guardian_findings", dimensions: [("severity", severity)]).record(findings[severity] ?? 0)
        }
        return registry.emitToBuffer() + ProcessMetrics.read().text()
    }
}
