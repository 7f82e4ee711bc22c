import Foundation

/// Result of one check, with the fields of the original design's `MagicResult`.
public struct CheckResult: Codable, Sendable, Equatable {
    public var status: CheckStatus
    public var score: Int
    public var violations: [Violation]
    public var suggestions: [Suggestion]
    /// ISO-8601 time the check ran. A timing field: see docs/json-schema.md, "Timing fields".
    public var lastRun: String
    /// Milliseconds the check took. A timing field.
    public var executionTime: Double
    /// Rules that could not run, with the reason.
    public var skippedRules: [SkippedRule]
    /// Counts by severity over all violations (before any baseline filter).
    public var counts: [String: Int]
    /// Normalised penalty that produced `score` (docs/scoring.md).
    public var penalty: Double
    /// Violations reported but suppressed (`guardian:ignore`, dismissals); absent when none.
    public var suppressed: Int?

    public init(status: CheckStatus, score: Int, violations: [Violation], suggestions: [Suggestion],
                lastRun: String, executionTime: Double, skippedRules: [SkippedRule],
                counts: [String: Int], penalty: Double, suppressed: Int? = nil) {
        self.status = status; self.score = score; self.violations = violations; self.suggestions = suggestions
        self.lastRun = lastRun; self.executionTime = executionTime; self.skippedRules = skippedRules
        self.counts = counts; self.penalty = penalty; self.suppressed = suppressed
    }
}

/// A forward-looking statement from the predictive check (the design's `aiInsights`).
public struct Insight: Codable, Sendable, Equatable {
    public var kind: String
    public var message: String
    /// 0–1.
    public var confidence: Double
    public var file: String?
    public var check: Check?
    public init(kind: String, message: String, confidence: Double, file: String? = nil, check: Check? = nil) {
        self.kind = kind; self.message = message; self.confidence = confidence; self.file = file; self.check = check
    }
}

/// What was audited.
public struct AuditSubject: Codable, Sendable, Equatable {
    public var repository: String
    /// Commit id, or nil for a plain directory.
    public var commit: String?
    public var revision: String?
    public var isGitRepository: Bool
    /// The registered project an agent audited it for (nil for `guardian audit`): a signed result
    /// names its project, so it cannot be stored as another project's.
    public var project: String?
    /// The pull (merge) request an agent audited the commit for: its result is the request's, not
    /// the project's branch's, and its findings are marked new or not against the merge base.
    public var pullRequest: Int?
    public init(repository: String, commit: String?, revision: String?, isGitRepository: Bool, project: String? = nil) {
        self.repository = repository; self.commit = commit; self.revision = revision
        self.isGitRepository = isGitRepository; self.project = project
    }
}

/// A rule weighed down for a team because the team dismissed many of its findings as false
/// positives (the design's team learning, explained in the report that used it).
public struct LearnedWeight: Codable, Sendable, Equatable {
    public var ruleId: String
    public var team: String
    /// Multiplies the rule's severity weight in the score (0.25–1).
    public var weight: Double
    public var dismissed: Int
    public var total: Int
    public var explanation: String
    public init(ruleId: String, team: String, weight: Double, dismissed: Int, total: Int) {
        self.ruleId = ruleId; self.team = team; self.weight = weight; self.dismissed = dismissed; self.total = total
        explanation = "\(ruleId) weighs \(Self.format(weight)) for team \(team): \(dismissed) of \(total) dismissed as false positive"
    }

    /// The weight `dismissed` false-positive dismissals out of `total` findings give: 1 − their
    /// share, never below 0.25; nil (weight 1) until the team has dismissed at least 3 of at least 5.
    public static func learned(ruleId: String, team: String, dismissed: Int, total: Int) -> LearnedWeight? {
        let total = max(total, dismissed)
        guard dismissed >= 3, total >= 5 else { return nil }
        let w = max(0.25, 1 - Double(dismissed) / Double(total))
        return LearnedWeight(ruleId: ruleId, team: team, weight: (w * 100).rounded() / 100, dismissed: dismissed, total: total)
    }

    /// The prior that teams sharing their feedback give a team without enough evidence of its own:
    /// the same rule on their dismissals, explained as theirs.
    public static func communityPrior(ruleId: String, team: String, dismissed: Int, total: Int, teams: Int) -> LearnedWeight? {
        guard var w = learned(ruleId: ruleId, team: team, dismissed: dismissed, total: total) else { return nil }
        w.explanation = "\(ruleId) weighs \(format(w.weight)) for team \(team): \(w.dismissed) of \(w.total) dismissed as false positive "
            + "by \(teams) team\(teams == 1 ? "" : "s") that share their feedback (community prior)"
        return w
    }

    static func format(_ w: Double) -> String { w == w.rounded() ? "\(Int(w))" : String(format: "%.2f", w).replacingOccurrences(of: "0$", with: "", options: .regularExpression) }
}

/// Size and coverage facts about the audit.
public struct AuditStatistics: Codable, Sendable, Equatable {
    public var files: Int
    public var analyzedFiles: Int
    public var skippedFiles: Int
    public var lines: Int
    public var codeLines: Int
    public var functions: Int
    public var commits: Int
    public var languages: [String: Int]
    public init(files: Int = 0, analyzedFiles: Int = 0, skippedFiles: Int = 0, lines: Int = 0, codeLines: Int = 0,
                functions: Int = 0, commits: Int = 0, languages: [String: Int] = [:]) {
        self.files = files; self.analyzedFiles = analyzedFiles; self.skippedFiles = skippedFiles
        self.lines = lines; self.codeLines = codeLines; self.functions = functions; self.commits = commits
        self.languages = languages
    }
}

/// A file that was not analysed, with the reason (binary, too large, minified, symlink, submodule).
public struct SkippedFile: Codable, Sendable, Equatable {
    public var path: String
    public var reason: String
    public init(path: String, reason: String) { self.path = path; self.reason = reason }
}

/// Wall-clock facts. The only non-deterministic part of a report besides each check's
/// `lastRun` and `executionTime`.
public struct AuditTiming: Codable, Sendable, Equatable {
    public var startedAt: String
    public var totalMs: Double
    public var cacheHits: Int
    public var cacheMisses: Int
    public init(startedAt: String, totalMs: Double, cacheHits: Int, cacheMisses: Int) {
        self.startedAt = startedAt; self.totalMs = totalMs; self.cacheHits = cacheHits; self.cacheMisses = cacheMisses
    }
}

/// The audit report. Its JSON form is documented in docs/json-schema.md.
public struct AuditReport: Codable, Sendable, Equatable {
    public var schemaVersion: Int
    public var guardianVersion: String
    public var subject: AuditSubject
    public var profile: String
    public var strictness: Double
    public var overallHealthScore: Int
    public var gate: Gate
    public var magicResults: [String: CheckResult]
    public var aiInsights: [Insight]
    public var statistics: AuditStatistics
    public var skippedFiles: [SkippedFile]
    public var baseline: String?
    public var timing: AuditTiming
    /// Rules weighed down by the team's dismissals (absent when none).
    public var learning: [LearnedWeight]?

    public struct Gate: Codable, Sendable, Equatable {
        public var passed: Bool
        public var reasons: [String]
        public init(passed: Bool, reasons: [String]) { self.passed = passed; self.reasons = reasons }
    }

    public init(schemaVersion: Int = 1, guardianVersion: String, subject: AuditSubject, profile: String,
                strictness: Double, overallHealthScore: Int, gate: Gate, magicResults: [String: CheckResult],
                aiInsights: [Insight], statistics: AuditStatistics, skippedFiles: [SkippedFile],
                baseline: String?, timing: AuditTiming, learning: [LearnedWeight]? = nil) {
        self.schemaVersion = schemaVersion; self.guardianVersion = guardianVersion; self.subject = subject
        self.profile = profile; self.strictness = strictness; self.overallHealthScore = overallHealthScore
        self.gate = gate; self.magicResults = magicResults; self.aiInsights = aiInsights
        self.statistics = statistics; self.skippedFiles = skippedFiles; self.baseline = baseline; self.timing = timing
        self.learning = learning
    }

    public func result(_ check: Check) -> CheckResult? { magicResults[check.rawValue] }

    /// All violations of all checks in report order.
    public var allViolations: [Violation] {
        Check.allCases.flatMap { magicResults[$0.rawValue]?.violations ?? [] }
    }

    /// The report an agent signs: timing fields fixed as in `withoutTiming`, except `startedAt`,
    /// which is the audit's time to the millisecond. It is the result's time wherever the result
    /// goes: a replica or an import takes it from the signature, never from the frame that carried it.
    public func forSigning(atMs ms: Int64) -> AuditReport {
        var copy = withoutTiming()
        copy.timing.startedAt = Timestamp.iso(ms: ms)
        return copy
    }

    /// A copy with every timing field set to a fixed value, for byte-for-byte comparison.
    public func withoutTiming() -> AuditReport {
        var copy = self
        copy.timing = AuditTiming(startedAt: "1970-01-01T00:00:00Z", totalMs: 0, cacheHits: 0, cacheMisses: 0)
        for (k, var r) in copy.magicResults {
            r.lastRun = "1970-01-01T00:00:00Z"
            r.executionTime = 0
            copy.magicResults[k] = r
        }
        return copy
    }
}
