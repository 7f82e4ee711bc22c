import Foundation
import GuardianCore

/// The eight checks. Each reads the context and returns findings; scoring happens in `Scorer`.
enum Checks {
    static func run(_ check: Check, _ ctx: AuditContext) -> CheckOutput {
        var out = CheckOutput()
        switch check {
        case .integrity: integrity(ctx, &out)
        case .tdd: tdd(ctx, &out)
        case .flow: flow(ctx, &out)
        case .sages: sages(ctx, &out)
        case .git: gitHygiene(ctx, &out)
        case .servant: servant(ctx, &out)
        case .strict: strict(ctx, &out)
        case .predictive: predictive(ctx, &out)
        }
        let sdist = ctx.isSourceDistribution
        if sdist { out.findings.removeAll { sourceDistributionOmits.contains($0.ruleId) } }
        for rule in RuleCatalog.rules(for: check) {
            if sdist && sourceDistributionOmits.contains(rule.id) {
                out.skip(rule.id, "a source distribution (PKG-INFO): it leaves out the project's CI, tests, docs and policies")
            } else if rule.needsHistory && !ctx.isGit {
                out.skip(rule.id, "not a git repository: history is not available")
            } else if rule.needsEvents && ctx.events.isEmpty {
                out.skip(rule.id, "needs webhook events; none were supplied (local audit)")
            }
        }
        return out
    }

    /// Rules about what a project keeps beside its code, which a Python source distribution leaves
    /// out by design: in an sdist their absence says nothing about the project.
    static let sourceDistributionOmits: Set<String> = [
        "servant/no-ci", "servant/no-dependency-updates", "servant/missing-lockfile", "sages/missing-docs",
        "sages/missing-contributing", "sages/missing-security", "sages/missing-changelog", "tdd/no-tests",
        "tdd/low-test-ratio", "tdd/untested-module",
    ]

    /// Copies a file's cached raw findings of the given rule prefix.
    static func fileFindings(_ ctx: AuditContext, prefix: String, _ out: inout CheckOutput) {
        let pre = Array(prefix.utf8)
        for f in ctx.files {
            for r in f.facts.findings where r.ruleId.utf8.starts(with: pre) {
                var fix: Suggestion?
                if let o = r.fixOriginal, let rep = r.fixReplacement {
                    fix = Suggestion(ruleId: r.ruleId, kind: .replacement, message: "replace '\(o)' with '\(rep)'",
                                     file: f.path, line: Int(r.line), original: o, replacement: rep)
                }
                out.findings.append(.init(ruleId: r.ruleId, severity: r.severity, file: f.path, line: Int(r.line),
                                          column: r.column > 0 ? Int(r.column) : nil, message: r.message,
                                          contentHash: r.contentHash, fix: fix))
            }
        }
    }
}
