import Foundation
import GuardianCore

/// GitLab's Code Quality report (`artifacts:reports:codequality`): a JSON array of issues, each
/// with a description, a check name, a fingerprint unique in the report, a severity and a location.
/// GitLab compares the fingerprints of the merge request's report with the target branch's to show
/// what is new. Suppressed findings are left out: they count toward nothing.
extension ReportRenderer {
    struct CodeQualityIssue: Encodable {
        struct Lines: Encodable { var begin: Int }
        struct Location: Encodable { var path: String; var lines: Lines }
        var description: String
        var check_name: String
        var fingerprint: String
        var severity: String
        var location: Location
    }

    static func codeQualitySeverity(_ s: Severity) -> String {
        switch s {
        case .critical: "blocker"
        case .high: "critical"
        case .medium: "major"
        case .low: "minor"
        case .info: "info"
        }
    }

    public static func codeQuality(_ r: AuditReport) throws -> Data {
        let checks = Check.allCases.flatMap { c in (r.magicResults[c.rawValue]?.violations ?? []).map { (c, $0) } }
        // a finding of the repository as a whole (no license, no CI) is placed on its root, line 1
        let issues = checks.filter { $0.1.isCounted }.map { _, v in
            CodeQualityIssue(description: v.message, check_name: v.ruleId, fingerprint: v.fingerprint, severity: codeQualitySeverity(v.severity),
                             location: .init(path: v.file ?? ".", lines: .init(begin: max(1, v.line ?? 1))))
        }
        return try json(issues)
    }
}
