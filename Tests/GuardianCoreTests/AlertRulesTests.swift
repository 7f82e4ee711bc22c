import GuardianCore
import Testing

/// Which audit events a new result raises against the one before it.
@Suite struct AlertRulesTests {
    static func snap(health: Int, gate: Bool, checks: [Check: CheckStatus], findings: [(String, Severity, Bool)] = []) -> AlertSnapshot {
        AlertSnapshot(health: health, gatePassed: gate, checks: checks,
                      findings: findings.map { .init(fingerprint: $0.0, ruleId: "strict/x", severity: $0.1, location: "a.py:3", message: "m", suppressed: $0.2) })
    }

    @Test func gateChecksHealthAndNewFindings() {
        let before = Self.snap(health: 80, gate: true, checks: [.strict: .passed, .tdd: .warning, .git: .skipped], findings: [("f1", .high, false)])
        let after = Self.snap(health: 65, gate: false, checks: [.strict: .failed, .tdd: .warning, .git: .passed],
                              findings: [("f1", .high, false), ("f2", .critical, false), ("f3", .high, true)])
        let events = AlertRules.events(project: "p", previous: before, current: after, healthDrop: 10)
        #expect(events.map(\.key) == ["gate.failed", "check.status_changed:strict", "health.dropped", "finding.new:f2"],
                "a skipped check is no change, a suppressed or dismissed finding is never new: \(events.map(\.key))")
        #expect(events.first { $0.kind == .findingNew }?.severity == .critical)
        let recovered = AlertRules.events(project: "p", previous: after, current: before, healthDrop: 10)
        #expect(recovered.map(\.key) == ["gate.recovered", "check.status_changed:strict"])
        #expect(AlertRules.events(project: "p", previous: before, current: before).isEmpty, "the same result again raises nothing")
        #expect(AlertRules.events(project: "p", previous: before, current: Self.snap(health: 71, gate: true, checks: before.checks,
                                                                                      findings: [("f1", .high, false)]), healthDrop: 10).isEmpty,
                "a drop of 9 is under the threshold")
    }

    @Test func aFirstResultReportsOnlyAFailedGate() {
        let first = Self.snap(health: 40, gate: false, checks: [.strict: .failed], findings: [("f1", .critical, false)])
        #expect(AlertRules.events(project: "p", previous: nil, current: first).map(\.key) == ["gate.failed"])
        #expect(AlertRules.events(project: "p", previous: nil, current: Self.snap(health: 90, gate: true, checks: [:])).isEmpty)
    }
}

extension AlertRulesTests {
    @Test func aFingerprintListedTwiceIsOneEvent() {
        let before = Self.snap(health: 80, gate: true, checks: [:])
        let after = Self.snap(health: 80, gate: true, checks: [:], findings: [("f9", .high, false), ("f9", .high, false)])
        #expect(AlertRules.events(project: "p", previous: before, current: after).map(\.key) == ["finding.new:f9"])
    }
}
