import GuardianCore

extension AuditReport {
    /// A report with `findings` violations spread over the checks, built by the real scorer path.
    public static func sample(findings: Int) -> AuditReport {
        var results: [String: CheckResult] = [:]
        for (i, check) in Check.allCases.enumerated() {
            let count = findings / Check.allCases.count + (i < findings % Check.allCases.count ? 1 : 0)
            let vs = (0..<count).map { k in
                Violation(ruleId: RuleCatalog.rules(for: check)[0].id, severity: .medium, file: "Sources/App/File\(k).swift", line: 10 + k,
                          message: "sample finding \(k) of \(check.rawValue)", fingerprint: Fingerprint.make(path: "f\(k)", contentHash: UInt64(k), occurrence: 0),
                          lineHash: Fingerprint.lineHash(contentHash: UInt64(k), occurrence: 0))
            }
            results[check.rawValue] = CheckResult(status: .warning, score: 70, violations: vs, suggestions: [], lastRun: "1970-01-01T00:00:00Z",
                                                  executionTime: 0, skippedRules: [], counts: ["medium": count], penalty: 4)
        }
        return AuditReport(guardianVersion: Auditor.version, subject: AuditSubject(repository: "x", commit: nil, revision: nil, isGitRepository: true),
                           profile: "default", strictness: 0.8, overallHealthScore: 70, gate: .init(passed: true, reasons: []),
                           magicResults: results, aiInsights: [], statistics: AuditStatistics(), skippedFiles: [], baseline: nil,
                           timing: AuditTiming(startedAt: "1970-01-01T00:00:00Z", totalMs: 0, cacheHits: 0, cacheMisses: 0))
    }
}
