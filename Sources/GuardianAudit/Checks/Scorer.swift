import GuardianCore

/// Turns a check's findings into a scored `CheckResult` (formula in docs/scoring.md). The
/// repository's `.guardian.yml` turns rules off or re-rates them first; a finding a
/// `guardian:ignore` comment covers, or one dismissed by its fingerprint, is reported with its
/// suppression and counts toward nothing.
enum Scorer {
    static func score(check: Check, output unconfigured: CheckOutput, ctx: AuditContext) -> CheckResult {
        var output = unconfigured
        if !ctx.config.rules.isEmpty {
            output.findings = output.findings.compactMap { f in
                switch ctx.config.rules[f.ruleId] {
                case .off?: return nil
                case .severity(let s)?: var g = f; g.severity = s; return g
                case nil: return f
                }
            }
        }
        // Occurrence index per (file, content hash), in line order. Group by file first so that each
        // path is hashed once and sorting compares integers.
        var byFile: [String: [Int]] = [:]
        for (i, f) in output.findings.enumerated() { byFile[f.file ?? "", default: []].append(i) }
        var violations: [Violation] = []
        violations.reserveCapacity(output.findings.count)
        var codeWeights = 0.0, repoWeights = 0.0, lowCode = 0.0, lowRepo = 0.0
        var counts: [String: Int] = [:]
        var hasCritical = false
        var suppressed = 0
        var scopes: [String: RuleScope] = [:]
        for (file, indices) in byFile {
            let ordered = indices.sorted { a, b in
                let x = output.findings[a], y = output.findings[b]
                if (x.line ?? 0) != (y.line ?? 0) { return (x.line ?? 0) < (y.line ?? 0) }
                if (x.column ?? 0) != (y.column ?? 0) { return (x.column ?? 0) < (y.column ?? 0) }
                if x.ruleId != y.ruleId { return x.ruleId < y.ruleId }
                return x.message < y.message
            }
            let path: String? = file.isEmpty ? nil : file
            let pathKey = Fingerprint.pathKey(path)
            var seen: [UInt64: Int] = [:]
            for i in ordered {
                let f = output.findings[i]
                let occ = seen[f.contentHash, default: 0]
                seen[f.contentHash] = occ + 1
                let fingerprint = Fingerprint.make(pathKey: pathKey, contentHash: f.contentHash, occurrence: occ)
                let suppression = path.flatMap { p in f.line.flatMap { l in ctx.suppressions[p]?.first { $0.covers(ruleId: f.ruleId, line: l) } } }
                    .map { Suppression(kind: .inSource, justification: $0.reason) } ?? ctx.dismissals[fingerprint]
                violations.append(Violation(ruleId: f.ruleId, severity: f.severity, file: f.file, line: f.line, column: f.column,
                                            message: f.message, fingerprint: fingerprint,
                                            lineHash: Fingerprint.lineHash(contentHash: f.contentHash, occurrence: occ), fix: f.fix,
                                            suppression: suppression))
                if suppression != nil { suppressed += 1; continue }
                counts[f.severity.rawValue, default: 0] += 1
                if f.severity == .critical { hasCritical = true }
                let scope: RuleScope
                if let s = scopes[f.ruleId] { scope = s } else { scope = RuleCatalog.rule(f.ruleId).scope; scopes[f.ruleId] = scope }
                let w = f.severity.weight * (ctx.ruleWeights[f.ruleId] ?? 1)
                switch (scope == .code, f.severity == .low) {
                case (true, false): codeWeights += w
                case (false, false): repoWeights += w
                case (true, true): lowCode += w
                case (false, true): lowRepo += w
                }
            }
        }
        violations.sort(by: Violation.reportOrder)
        let penalty = Scoring.penalty(codeWeights: codeWeights, repositoryWeights: repoWeights, lowCodeWeights: lowCode,
                                      lowRepositoryWeights: lowRepo, codeLines: ctx.codeLines)
        let score = Scoring.score(penalty: penalty)
        let rules = RuleCatalog.rules(for: check)
        let allSkipped = rules.allSatisfy { r in output.skipped.contains { $0.ruleId == r.id } }
        let status: CheckStatus = allSkipped ? .skipped
            : Scoring.status(score: score, hasCritical: hasCritical, thresholds: ctx.thresholds, complianceMode: ctx.profile.complianceMode)
        // Suggestions: exact fixes first, then one piece of advice per triggered rule.
        var suggestions: [Suggestion] = violations.filter(\.isCounted).compactMap(\.fix)
        var advised = Set<String>()
        for v in violations where v.isCounted && advised.insert(v.ruleId).inserted {
            let r = RuleCatalog.rule(v.ruleId)
            suggestions.append(Suggestion(ruleId: r.id, kind: .advice, message: r.help))
        }
        if !ctx.profile.autoCorrection { suggestions = suggestions.filter { $0.kind == .advice } }
        return CheckResult(status: status, score: allSkipped ? 100 : score, violations: violations, suggestions: suggestions,
                           lastRun: "", executionTime: 0, skippedRules: output.skipped.sorted { $0.ruleId < $1.ruleId },
                           counts: counts, penalty: (penalty * 1000).rounded() / 1000, suppressed: suppressed > 0 ? suppressed : nil)
    }
}
