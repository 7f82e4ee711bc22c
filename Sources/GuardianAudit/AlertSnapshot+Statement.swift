import GuardianCore

extension AlertSnapshot {
    /// What alerting needs of a stored result, read from its signed statement: every owner builds
    /// the same snapshot from the same result, so every owner raises the same events.
    public init(_ s: StatementSummary) {
        self.init(health: s.overallHealthScore, gatePassed: s.gatePassed, checks: s.checkStatuses,
                  findings: s.findings.map { f in
                      Finding(fingerprint: f.fingerprint, ruleId: f.ruleId, severity: f.severity,
                              location: f.file.map { file in f.line.map { "\(file):\($0)" } ?? file }, message: f.message, suppressed: f.suppressed)
                  })
    }
}
