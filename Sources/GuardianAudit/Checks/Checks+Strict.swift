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
                out.findings.append(.init(ruleId: "strict/file-length", severity: Int(f.facts.codeLines) > 2 * t.maxFileLines ? .medium : .low,
                                          file: f.path, line: nil, column: nil,
                                          message: "\(f.facts.codeLines) code lines (threshold \(t.maxFileLines))",
                                          contentHash: Fingerprint.contentHash(ruleId: "strict/file-length", normalizedLine: StableHash.of(f.path))))
            }
            guard !f.facts.isTest else { continue }
            for fn in f.facts.functions {
                func add(_ rule: String, _ sev: Severity, _ msg: String) {
                    out.findings.append(.init(ruleId: rule, severity: sev, file: f.path, line: Int(fn.startLine), column: nil,
                                              message: msg, contentHash: Fingerprint.contentHash(ruleId: rule, normalizedLine: fn.signatureHash)))
                }
                if Int(fn.ccn) > t.maxCyclomatic {
                    add("strict/cyclomatic-complexity", Int(fn.ccn) > 2 * t.maxCyclomatic ? .high : .medium,
                        "function '\(fn.name)' has cyclomatic complexity \(fn.ccn) (threshold \(t.maxCyclomatic))")
                }
                if Int(fn.length) > t.maxFunctionLines {
                    add("strict/function-length", Int(fn.length) > 2 * t.maxFunctionLines ? .medium : .low,
                        "function '\(fn.name)' is \(fn.length) lines long (threshold \(t.maxFunctionLines))")
                }
                if Int(fn.params) > t.maxParameters {
                    add("strict/parameter-count", .low, "function '\(fn.name)' has \(fn.params) parameters (threshold \(t.maxParameters))")
                }
                if Int(fn.maxNesting) > t.maxNesting {
                    add("strict/nesting-depth", .medium, "function '\(fn.name)' nests \(fn.maxNesting) levels deep (threshold \(t.maxNesting))")
                }
            }
        }
        Duplicates.find(ctx, window: t.duplicateMinLines, &out)
    }
}
