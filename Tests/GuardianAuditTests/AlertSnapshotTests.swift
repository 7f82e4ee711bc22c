import GuardianAudit
import GuardianCore
import Testing

/// A signed report read as alerting reads it.
@Suite struct AlertSnapshotTests {
    @Test func aReportBecomesASnapshot() throws {
        var report = AuditReport.sample(findings: 3)
        // one finding dismissed: the snapshot must mark it suppressed
        let check = try #require(report.magicResults.first { !$0.value.violations.isEmpty }?.key)
        report.magicResults[check]!.violations[0].suppression = Suppression(kind: .external, justification: "wont_fix")
        let s = AlertSnapshot(report)
        #expect(s.health == report.overallHealthScore && s.gatePassed == report.gate.passed)
        #expect(s.checks.count == report.magicResults.count)
        #expect(s.findings.count == report.magicResults.values.map(\.violations.count).reduce(0, +))
        let suppressed = s.findings.filter(\.suppressed).count
        #expect(suppressed >= 1 && suppressed == report.magicResults.values.flatMap(\.violations).filter { !$0.isCounted }.count)
        #expect(s.findings.contains { $0.location?.contains(":") == true })
    }
}
