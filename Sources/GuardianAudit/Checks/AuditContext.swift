import Foundation
import GuardianCore

/// One audited file: where it is, what kind of tree entry it is, and what analysis found.
struct AuditedFile: Sendable {
    var path: String
    var kind: TreeEntry.Kind
    var facts: FileFacts
}

/// A repository event seen by a webhook (the agent supplies these; local audits have none).
public struct RepositoryEvent: Codable, Sendable, Equatable {
    public enum Kind: String, Codable, Sendable { case forcePush = "force_push", unreviewedMerge = "unreviewed_merge", branchPushed = "branch_pushed" }
    public var kind: Kind
    public var ref: String
    public var actor: String?
    public var id: String
    public init(kind: Kind, ref: String, actor: String? = nil, id: String) {
        self.kind = kind; self.ref = ref; self.actor = actor; self.id = id
    }
}

/// A past audit's score for one check (the agent supplies these from stored results).
public struct PastScore: Codable, Sendable, Equatable {
    public var check: Check
    /// Seconds since 1970.
    public var time: Int64
    public var score: Int
    public init(check: Check, time: Int64, score: Int) { self.check = check; self.time = time; self.score = score }
}

/// Everything the checks read. Pure data: the checks do no I/O.
struct AuditContext: Sendable {
    var files: [AuditedFile]
    var isGit: Bool
    /// Newest first; empty for plain directories.
    var commits: [CommitFacts]
    var firstParent: Set<String>
    var headTime: Int64
    var profile: TeamProfile
    var thresholds: Thresholds
    var events: [RepositoryEvent]
    var pastScores: [PastScore]
    /// The repository's `.guardian.yml` (rules turned off or re-rated; thresholds are applied already).
    var config = RepositoryConfig()
    /// Dismissals by fingerprint (the agent's); an inline suppression takes precedence.
    var dismissals: [String: Suppression] = [:]
    /// Weights (0.25–1) of rules the team weighed down by its dismissals.
    var ruleWeights: [String: Double] = [:]
    /// The repository's owner on its code host (`apple` for github.com/apple/swift-nio), when known.
    var owner: String?
    /// `guardian:ignore` comments by file.
    var suppressions: [String: [InlineSuppression]] = [:]

    /// The commits of the last 180 days before the audited commit (newest first): history rules
    /// judge how the project works now, not how it worked years ago.
    var recentCommits: [CommitFacts] {
        let since = headTime - 180 * 86_400
        return commits.filter { $0.time >= since }
    }

    /// The units a reviewer saw: default-branch commits, where a merge stands for its whole pull
    /// request (its change against the first parent) and the commits on the merged branch are not
    /// judged one by one. Newest first.
    var reviewUnits: [CommitFacts] {
        recentCommits.filter { c in
            guard !c.parents.isEmpty, firstParent.isEmpty || firstParent.contains(c.id) else { return false }
            // a `git pull` merge ("Merge branch 'main' of …") brings in others' work: no review unit
            return c.parents.count == 1 || AuditContext.mergesPullRequest(c.summary)
        }
    }

    /// A merge commit of a pull or merge request, by the code hosts' own wording.
    static func mergesPullRequest(_ summary: String) -> Bool {
        summary.hasPrefix("Merge pull request") || summary.has("See merge request") || summary.hasPrefix("Merged in ")
            || summary.hasPrefix("Merge PR") || (summary.hasPrefix("Merge branch") && !summary.has(" of "))
    }

    /// Commits by automation (Dependabot, Renovate, GitHub Actions, any `[bot]` account).
    static func isBot(_ c: CommitFacts) -> Bool {
        let n = c.authorName.lowercased(), e = c.authorEmail.lowercased()
        return n.hasSuffix("[bot]") || e.has("[bot]") || n.has("dependabot") || n.has("renovate")
            || n == "github-actions" || e.hasPrefix("bot@") || e.has("noreply@github.com") && n.hasSuffix("bot")
    }

    /// A Python source distribution (an sdist unpacked): its metadata file at the root.
    var isSourceDistribution: Bool { files.contains { $0.path == "PKG-INFO" } }

    var sourceFiles: [AuditedFile] { files.filter { $0.facts.language.isCode && !$0.facts.isTest && $0.facts.skipReason == nil } }
    var testFiles: [AuditedFile] { files.filter { $0.facts.language.isCode && $0.facts.isTest && $0.facts.skipReason == nil } }

    /// Code lines of analysed, non-vendored code files (the size that normalises scores).
    var codeLines: Int { files.reduce(0) { $0 + ($1.facts.language.isCode && $1.facts.skipReason == nil ? Int($1.facts.codeLines) : 0) } }

}

/// What one check produces before scoring.
struct CheckOutput {
    var findings: [Finding] = []
    var skipped: [SkippedRule] = []
    var insights: [Insight] = []

    /// A violation before its fingerprint is assigned.
    struct Finding {
        var ruleId: String
        var severity: Severity
        var file: String?
        var line: Int?
        var column: Int?
        var message: String
        var contentHash: UInt64
        var fix: Suggestion?
    }

    /// A repository-level or commit-level finding; `key` must be stable across audits.
    mutating func add(_ ruleId: String, file: String? = nil, line: Int? = nil, _ message: String, key: String) {
        add(ruleId, RuleCatalog.rule(ruleId).severity, file: file, line: line, message, key: key)
    }

    mutating func add(_ ruleId: String, _ severity: Severity?, file: String? = nil, line: Int? = nil,
                      _ message: String, key: String) {
        let rule = RuleCatalog.rule(ruleId)
        findings.append(Finding(ruleId: ruleId, severity: severity ?? rule.severity, file: file, line: line, column: nil,
                                message: message,
                                contentHash: Fingerprint.contentHash(ruleId: ruleId, normalizedLine: StableHash.of(key)),
                                fix: nil))
    }

    mutating func skip(_ ruleId: String, _ reason: String) { skipped.append(SkippedRule(ruleId: ruleId, reason: reason)) }
}
