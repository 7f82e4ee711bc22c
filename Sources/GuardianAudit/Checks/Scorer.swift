import GuardianCore

/// Turns a check's findings into a scored `CheckResult` (formula in docs/scoring.md).
enum Scorer {
    static func score(check: Check, output: CheckOutput, ctx: AuditContext) -> CheckResult {
        // occurrence index per (file, content hash), in line order
        let ordered = output.findings.sorted {
            let fa = $0.file ?? "", fb = $1.file ?? ""
            if fa != fb { return fa < fb }
            if ($0.line ?? 0) != ($1.line ?? 0) { return ($0.line ?? 0) < ($1.line ?? 0) }
            if ($0.column ?? 0) != ($1.column ?? 0) { return ($0.column ?? 0) < ($1.column ?? 0) }
            if $0.ruleId != $1.ruleId { return $0.ruleId < $1.ruleId }
            return $0.message < $1.message
        }
        var seen: [String: [UInt64: Int]] = [:]
        var violations: [Violation] = []
        violations.reserveCapacity(ordered.count)
        var codeWeights = 0.0, repoWeights = 0.0
        var counts: [String: Int] = [:]
        var hasCritical = false
        for f in ordered {
            let occ = seen[f.file ?? "", default: [:]][f.contentHash, default: 0]
            seen[f.file ?? "", default: [:]][f.contentHash] = occ + 1
            let v = Violation(ruleId: f.ruleId, severity: f.severity, file: f.file, line: f.line, column: f.column,
                              message: f.message, fingerprint: Fingerprint.make(path: f.file, contentHash: f.contentHash, occurrence: occ),
                              lineHash: Fingerprint.lineHash(contentHash: f.contentHash, occurrence: occ), fix: f.fix)
            violations.append(v)
            counts[f.severity.rawValue, default: 0] += 1
            if f.severity == .critical { hasCritical = true }
            if RuleCatalog.rule(f.ruleId).scope == .code { codeWeights += f.severity.weight } else { repoWeights += f.severity.weight }
        }
        violations.sort(by: Violation.reportOrder)
        let penalty = Scoring.penalty(codeWeights: codeWeights, repositoryWeights: repoWeights, codeLines: ctx.codeLines)
        let score = Scoring.score(penalty: penalty)
        let rules = RuleCatalog.rules(for: check)
        let allSkipped = rules.allSatisfy { r in output.skipped.contains { $0.ruleId == r.id } }
        let status: CheckStatus = allSkipped ? .skipped
            : Scoring.status(score: score, hasCritical: hasCritical, thresholds: ctx.thresholds, complianceMode: ctx.profile.complianceMode)
        // Suggestions: exact fixes first, then one piece of advice per triggered rule.
        var suggestions: [Suggestion] = violations.compactMap(\.fix)
        var advised = Set<String>()
        for v in violations where advised.insert(v.ruleId).inserted {
            let r = RuleCatalog.rule(v.ruleId)
            suggestions.append(Suggestion(ruleId: r.id, kind: .advice, message: r.help))
        }
        if !ctx.profile.autoCorrection { suggestions = suggestions.filter { $0.kind == .advice } }
        return CheckResult(status: status, score: allSkipped ? 100 : score, violations: violations, suggestions: suggestions,
                           lastRun: "", executionTime: 0, skippedRules: output.skipped.sorted { $0.ruleId < $1.ruleId },
                           counts: counts, penalty: (penalty * 1000).rounded() / 1000)
    }

    static func health(scores: [Check: Int], statuses: [Check: CheckStatus], profile: TeamProfile) -> Int {
        Scoring.health(scores: scores, statuses: statuses, profile: profile)
    }
}
