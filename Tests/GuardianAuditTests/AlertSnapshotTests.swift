import GuardianAudit
import GuardianCore
import Testing

/// A signed report read as alerting reads it.
@Suite struct AlertSnapshotTests {
    @Test func aReportBecomesASnapshot() throws {
        var report = AuditReport.sample(findings: 3)
        let strict = try #require(report.magicResults["strict"])
        if var first = strict.violations.first {
            first.suppression = Suppression(kind: .external, justification: "wont_fix")
            report.magicResults["strict"]!.violations[0] = first
        }
        let s = AlertSnapshot(report)
        #expect(s.health == report.overallHealthScore && s.gatePassed == report.gate.passed)
        #expect(s.checks.count == report.magicResults.count)
        #expect(s.findings.count == report.magicResults.values.map(\.violations.count).reduce(0, +))
        #expect(s.findings.filter(\.suppressed).count == report.magicResults.values.flatMap(\.violations).filter { !$0.isCounted }.count)
        #expect(s.findings.contains { $0.location?.contains(":") == true })
    }
}
