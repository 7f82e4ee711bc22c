import CGit2
import Dispatch
import Foundation
import GuardianCore
import GuardianCrypto

/// From loaded facts to a report: the checks, scoring, the baseline and the gate.
extension Auditor {
    static func evaluate(_ l: Loaded, options: AuditOptions, baselineFingerprints: Set<String>?, baseline: String?,
                         started: Date) -> AuditReport {
        let ctx = AuditContext(files: l.files, isGit: l.subject.isGitRepository, commits: l.commits, firstParent: l.firstParent,
                               headTime: l.headTime, profile: options.profile, thresholds: l.config.apply(to: options.profile.thresholds),
                               events: options.events, pastScores: options.pastScores, config: l.config, dismissals: options.dismissals,
                               ruleWeights: Dictionary(options.learning.map { ($0.ruleId, $0.weight) }, uniquingKeysWith: min),
                               owner: l.owner,
                               suppressions: Dictionary(l.files.filter { !$0.facts.suppressions.isEmpty }.map { ($0.path, $0.facts.suppressions) },
                                                        uniquingKeysWith: { a, _ in a }))
        func iso(_ d: Date) -> String { Timestamp.iso(seconds: d.timeIntervalSince1970) }
        var results: [String: CheckResult] = [:]
        var scores: [Check: Int] = [:]
        var statuses: [Check: CheckStatus] = [:]
        var insights: [Insight] = []
        var gateReasons: [String] = []
        let clock = ContinuousClock()
        // The checks are pure functions of the context: run them in parallel.
        let checks = options.checks
        let outputs = Slots<(CheckOutput, CheckResult, Date, Double)>(count: checks.count)
        DispatchQueue.concurrentPerform(iterations: checks.count) { i in
            let t = clock.now
            let ranAt = Date()
            let output = Checks.run(checks[i], ctx)
            let result = Scorer.score(check: checks[i], output: output, ctx: ctx)
            let d = t.duration(to: clock.now)
            outputs.items[i] = (output, result, ranAt, (d.milliseconds * 1000).rounded() / 1000)
        }
        Trace.mark("checks")
        options.progress?("scoring", 0.95)
        for (i, check) in checks.enumerated() {
            guard let (output, r, ranAt, ms) = outputs.items[i] else { continue }
            var result = r
            if let base = baselineFingerprints {
                if options.markNew {
                    for i in result.violations.indices { result.violations[i].isNew = !base.contains(result.violations[i].fingerprint) }
                } else {
                    result.violations = result.violations.filter { !base.contains($0.fingerprint) }
                }
                let severe = result.violations.filter { $0.isNew != false && $0.isCounted && $0.severity >= options.profile.gateSeverity }
                if !severe.isEmpty { gateReasons.append("\(check.rawValue): \(severe.count) new finding(s) at or above \(options.profile.gateSeverity.rawValue)") }
            } else if result.status == .failed {
                gateReasons.append("\(check.rawValue) failed with score \(result.score) (fail below \(ctx.thresholds.failScore))")
            }
            result.lastRun = iso(ranAt)
            result.executionTime = ms
            scores[check] = result.score
            statuses[check] = result.status
            insights.append(contentsOf: output.insights)
            results[check.rawValue] = result
        }
        let health = Scoring.health(scores: scores, statuses: statuses, profile: options.profile)
        var stats = AuditStatistics()
        stats.files = l.files.count + l.skipped.filter { $0.reason.hasPrefix("symlink") || $0.reason.hasPrefix("submodule") }.count
        stats.analyzedFiles = l.files.filter { $0.facts.skipReason == nil }.count
        stats.skippedFiles = l.skipped.count
        stats.lines = l.files.reduce(0) { $0 + Int($1.facts.lines) }
        stats.codeLines = ctx.codeLines
        stats.functions = l.files.reduce(0) { $0 + $1.facts.functions.count }
        stats.commits = l.commits.count
        for f in l.files where f.facts.language.isCode && f.facts.skipReason == nil {
            stats.languages[f.facts.language.rawValue, default: 0] += Int(f.facts.codeLines)
        }
        return AuditReport(guardianVersion: version, subject: l.subject, profile: options.profile.name,
                           strictness: options.profile.strictness, overallHealthScore: health,
                           gate: .init(passed: gateReasons.isEmpty, reasons: gateReasons), magicResults: results,
                           aiInsights: insights, statistics: stats, skippedFiles: l.skipped, baseline: baseline,
                           timing: AuditTiming(startedAt: iso(started), totalMs: 0, // set by `run`
                                               cacheHits: l.cacheStats.hits, cacheMisses: l.cacheStats.misses),
                           learning: options.learning.isEmpty ? nil : options.learning.sorted { $0.ruleId < $1.ruleId })
    }
}
