import Foundation
import GuardianCore

extension Checks {
    // MARK: strict

    static func strict(_ ctx: AuditContext, _ out: inout CheckOutput) {
        fileFindings(ctx, prefix: "strict/", &out)
        // a `try!` that fails in a command-line tool stops that run, not a service: the tool's author
        // chose to crash on a broken invariant
        let executables = executableTargets(ctx)
        if !executables.isEmpty {
            out.findings.removeAll { f in
                f.ruleId == "strict/dangerous-call" && f.message.hasPrefix("try!") && f.file.map { executables.contains(target(of: $0)) } == true
            }
        }
        let t = ctx.thresholds
        for f in ctx.files where f.facts.language.isCode && f.facts.skipReason == nil {
            if !f.facts.isTest && Int(f.facts.codeLines) > t.maxFileLines {
                out.findings.append(.init(ruleId: "strict/file-length", severity: metricSeverity(Int(f.facts.codeLines), t.maxFileLines, .low, .medium),
                                          file: f.path, line: nil, column: nil,
                                          message: "\(f.facts.codeLines) code lines (threshold \(t.maxFileLines))",
                                          contentHash: Fingerprint.contentHash(ruleId: "strict/file-length", normalizedLine: StableHash.of(f.path))))
            }
            // examples, demos and development sandboxes show an API; their shape is not the product's
            guard !f.facts.isTest, !PathRules.isSampleOrExample(f.path) else { continue }
            for fn in f.facts.functions {
                func add(_ rule: String, _ sev: Severity, _ msg: String) {
                    out.findings.append(.init(ruleId: rule, severity: sev, file: f.path, line: Int(fn.startLine), column: nil,
                                              message: msg, contentHash: Fingerprint.contentHash(ruleId: rule, normalizedLine: fn.signatureHash)))
                }
                // Complexity, length and parameter count are info by default; a team that wants them
                // counted re-rates them in .guardian.yml. Why: docs/precision.md.
                let ccn = Int(fn.modifiedCcn)
                if ccn > t.maxCyclomatic {
                    add("strict/cyclomatic-complexity", .info,
                        "function '\(fn.name)' has cyclomatic complexity \(ccn) (threshold \(t.maxCyclomatic)\(fn.switches > 0 ? ", each switch counted once" : ""))")
                }
                let length = Int(fn.codeLength)
                if length > t.maxFunctionLines {
                    add("strict/function-length", .info,
                        "function '\(fn.name)' has \(length) code lines (threshold \(t.maxFunctionLines))")
                }
                if Int(fn.params) > t.maxParameters {
                    add("strict/parameter-count", .info,
                        "function '\(fn.name)' has \(fn.params) parameters (threshold \(t.maxParameters))")
                }
                if Int(fn.maxNesting) > t.maxNesting {
                    add("strict/nesting-depth", .medium, "function '\(fn.name)' nests \(fn.maxNesting) levels deep (threshold \(t.maxNesting))")
                }
            }
        }
        Duplicates.find(ctx, window: t.duplicateMinLines, &out)
    }

    /// Info up to half over the threshold, `base` past half, `above2x` past twice (docs/scoring.md).
    static func metricSeverity(_ value: Int, _ threshold: Int, _ base: Severity, _ above2x: Severity) -> Severity {
        if value > 2 * threshold { return above2x }
        return 2 * value <= 3 * threshold ? .info : base
    }
}
