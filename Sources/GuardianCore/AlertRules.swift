/// The audit events an alert channel can subscribe to (docs/alerts.md), derived from a project's
/// previous and current results. Pure: the node feeds it what it stored.
public enum AlertEventKind: String, Sendable, Codable, CaseIterable {
    case gateFailed = "gate.failed"
    case gateRecovered = "gate.recovered"
    case checkStatusChanged = "check.status_changed"
    case findingNew = "finding.new"
    case healthDropped = "health.dropped"
    case auditError = "audit.error"
    /// The mesh declared a member dead, or it left: sent by one node chosen from the ring for it.
    case memberFailed = "member.failed"
    case memberLeft = "member.left"
    /// `guardian channels test`: no channel subscribes to it.
    case test
    /// A weekly digest's line on a project's score trend (not an event a channel subscribes to).
    case trend = "score.trend"
}

/// One audit event: what happened to which project, with what a message shows.
public struct AlertEvent: Sendable, Equatable, Codable {
    public var kind: AlertEventKind
    public var project: String
    /// What the event is about within the result: a check's name, a finding's fingerprint; empty otherwise.
    public var subject: String
    public var summary: String
    public var severity: Severity?

    public init(kind: AlertEventKind, project: String, subject: String = "", summary: String, severity: Severity? = nil) {
        self.kind = kind; self.project = project; self.subject = subject; self.summary = summary; self.severity = severity
    }

    /// The event's id within the result that caused it: with the result id and the channel, the
    /// delivery id every owner computes the same way.
    public var key: String { subject.isEmpty ? kind.rawValue : "\(kind.rawValue):\(subject)" }
}

/// What alerting needs of one audit result.
public struct AlertSnapshot: Sendable, Equatable {
    public struct Finding: Sendable, Equatable {
        public var fingerprint: String
        public var ruleId: String
        public var severity: Severity
        public var location: String?
        public var message: String
        /// Suppressed in the source or dismissed: never alerted.
        public var suppressed: Bool
        public init(fingerprint: String, ruleId: String, severity: Severity, location: String?, message: String, suppressed: Bool) {
            self.fingerprint = fingerprint; self.ruleId = ruleId; self.severity = severity; self.location = location
            self.message = message; self.suppressed = suppressed
        }
    }
    public var health: Int
    public var gatePassed: Bool
    public var checks: [Check: CheckStatus]
    public var findings: [Finding]

    public init(health: Int, gatePassed: Bool, checks: [Check: CheckStatus], findings: [Finding]) {
        self.health = health; self.gatePassed = gatePassed; self.checks = checks; self.findings = findings
    }

    public init(_ report: AuditReport) {
        health = report.overallHealthScore
        gatePassed = report.gate.passed
        var checks: [Check: CheckStatus] = [:]
        var findings: [Finding] = []
        for check in Check.allCases {
            guard let c = report.magicResults[check.rawValue] else { continue }
            checks[check] = c.status
            for v in c.violations {
                findings.append(Finding(fingerprint: v.fingerprint, ruleId: v.ruleId, severity: v.severity,
                                        location: v.file.map { f in v.line.map { "\(f):\($0)" } ?? f }, message: v.message,
                                        suppressed: !v.isCounted))
            }
        }
        self.checks = checks
        self.findings = findings
    }
}

public enum AlertRules {
    /// The events of `current` against `previous` (nil for a project's first result, which has no
    /// change to report: its failed gate is reported, its findings are not "new").
    /// `healthDrop`: the fewest points that make `health.dropped`.
    public static func events(project: String, previous: AlertSnapshot?, current: AlertSnapshot, healthDrop: Int = 10) -> [AlertEvent] {
        var out: [AlertEvent] = []
        let wasPassing = previous?.gatePassed ?? true
        if wasPassing && !current.gatePassed {
            out.append(AlertEvent(kind: .gateFailed, project: project, summary: "the quality gate failed (health \(current.health))", severity: .high))
        } else if !wasPassing && current.gatePassed, previous != nil {
            out.append(AlertEvent(kind: .gateRecovered, project: project, summary: "the quality gate passes again (health \(current.health))"))
        }
        guard let previous else { return out }
        for check in Check.allCases {
            // a move between passed, warning and failed; a check that was or is skipped is no change
            guard let before = previous.checks[check], let now = current.checks[check], before != now,
                  before != .skipped, now != .skipped else { continue }
            out.append(AlertEvent(kind: .checkStatusChanged, project: project, subject: check.rawValue,
                                  summary: "\(check.rawValue): \(before.rawValue) → \(now.rawValue)", severity: now == .failed ? .high : nil))
        }
        if previous.health - current.health >= healthDrop {
            out.append(AlertEvent(kind: .healthDropped, project: project, summary: "health dropped from \(previous.health) to \(current.health)",
                                  severity: .medium))
        }
        var known = Set(previous.findings.map(\.fingerprint))
        // a fingerprint is reported once, however often the result lists it
        for f in current.findings where !f.suppressed && known.insert(f.fingerprint).inserted {
            out.append(AlertEvent(kind: .findingNew, project: project, subject: f.fingerprint,
                                  summary: "\(f.ruleId)\(f.location.map { " at \($0)" } ?? ""): \(f.message)", severity: f.severity))
        }
        return out
    }
}
