import Dispatch
import Metrics

/// Where an audit's time goes, one phase after another, recorded in
/// `guardian_audit_phase_seconds{phase}`: fetch (mirror clone or fetch), prepare (the store reads
/// the audit needs: past scores, dismissals, team learning, events), analyse (the engine), store
/// (sign, alert rows, the durable insert), summary (the fleet view's summary written to the
/// replicated registry, before the audit is announced as finished). A phase is recorded only when
/// it ends, so a failed audit records the phases it finished.
struct AuditPhases {
    enum Phase: String, CaseIterable { case fetch, prepare, analyse, store, summary }

    private var last = DispatchTime.now().uptimeNanoseconds

    mutating func end(_ phase: Phase) {
        let now = DispatchTime.now().uptimeNanoseconds
        AgentMetrics.auditPhase(phase.rawValue, nanoseconds: Int64(now - last))
        last = now
    }
}
