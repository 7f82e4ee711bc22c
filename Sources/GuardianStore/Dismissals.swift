import Foundation
import GRDB
import GuardianCore

/// A finding dismissed by its fingerprint: it stays in every later report of the project, marked
/// `suppression: {kind: external, justification}`, and counts toward no score or gate. A registry
/// record (kind `dismissal`, id `PROJECT.FINGERPRINT`), so it replicates mesh-wide and every owner
/// applies it.
public struct DismissalRecord: Codable, Sendable, Equatable, FetchableRecord, PersistableRecord {
    public static let databaseTableName = "dismissal"
    public enum Reason: String, Codable, Sendable, CaseIterable { case falsePositive = "false_positive", wontFix = "wont_fix", acceptedRisk = "accepted_risk" }

    public var id: String
    public var projectId: String
    public var fingerprint: String
    public var ruleId: String
    public var reason: String
    public var comment: String?
    /// The token that dismissed it (its id, never its secret).
    public var byToken: String?
    public var createdAt: Double

    public init(projectId: String, fingerprint: String, ruleId: String, reason: Reason, comment: String?, byToken: String?, createdAt: Double) {
        id = Self.id(project: projectId, fingerprint: fingerprint)
        self.projectId = projectId; self.fingerprint = fingerprint; self.ruleId = ruleId; self.reason = reason.rawValue
        self.comment = comment; self.byToken = byToken; self.createdAt = createdAt
    }

    public static func id(project: String, fingerprint: String) -> String { "\(project).\(fingerprint)" }

    /// Fingerprints are 32 lowercase hex digits (docs/json-schema.md).
    public static func validFingerprint(_ s: String) -> Bool {
        s.utf8.count == 32 && s.utf8.allSatisfy { ($0 >= 48 && $0 <= 57) || ($0 >= 97 && $0 <= 102) }
    }

    /// How a report shows it: "false_positive: the comment".
    public var justification: String { comment.map { "\(reason): \($0)" } ?? reason }
}

extension Store {
    public func dismissals(project: String) throws -> [DismissalRecord] {
        try read { try DismissalRecord.filter(Column("projectId") == project).order(Column("createdAt"), Column("id")).fetchAll($0) }
    }

    public func dismissal(id: String) throws -> DismissalRecord? { try read { try DismissalRecord.fetchOne($0, key: id) } }

    /// Per rule, for a team's projects: findings dismissed as false positives, and distinct findings
    /// in the projects' latest results (what team learning weighs a rule by).
    /// `rules` limits the counts to those rules: counting a team's findings reads every finding of
    /// its projects' latest results, which an audit should not pay for rules nobody dismissed.
    public func learningCounts(team: String, rules wanted: Set<String>? = nil) throws -> [String: (dismissed: Int, total: Int)] {
        if let wanted, wanted.isEmpty { return [:] }
        // rule ids replicate from peers: past 500 of them, count every rule rather than bind them all
        let rules = wanted.flatMap { $0.count <= 500 ? $0 : nil }
        let only = rules.map { " AND ruleId IN (\(Array(repeating: "?", count: $0.count).joined(separator: ",")))" } ?? ""
        let ruleArguments = StatementArguments(rules.map { $0.sorted() } ?? [])
        return try read { db in
            var out: [String: (dismissed: Int, total: Int)] = [:]
            for row in try Row.fetchAll(db, sql: """
                SELECT f.ruleId, COUNT(DISTINCT f.projectId || ':' || f.fingerprint) FROM finding f
                JOIN result r ON f.resultSeq = r.seq
                JOIN (SELECT projectId, MAX(createdAt) AS c FROM result WHERE pullRequest IS NULL AND projectId IN (SELECT id FROM project WHERE team = ?)
                      GROUP BY projectId) l ON r.projectId = l.projectId AND r.createdAt = l.c AND r.pullRequest IS NULL
                WHERE 1\(only.replacingOccurrences(of: "ruleId", with: "f.ruleId"))
                GROUP BY f.ruleId
                """, arguments: [team] + ruleArguments) {
                out[row[0], default: (0, 0)].total = row[1]
            }
            for row in try Row.fetchAll(db, sql: """
                SELECT d.ruleId, COUNT(*) FROM dismissal d JOIN project p ON p.id = d.projectId
                WHERE p.team = ? AND d.reason = 'false_positive'\(only.replacingOccurrences(of: "ruleId", with: "d.ruleId")) GROUP BY d.ruleId
                """, arguments: [team] + ruleArguments) {
                out[row[0], default: (0, 0)].dismissed = row[1]
            }
            return out
        }
    }

    /// The rules with a finding dismissed as a false positive in any project on this node: the only
    /// rules team learning can weigh (a weight needs dismissals, its own or the community's).
    public func falsePositiveRules() throws -> Set<String> {
        try read { Set(try String.fetchAll($0, sql: "SELECT DISTINCT ruleId FROM dismissal WHERE reason = 'false_positive'")) }
    }

    /// Team learning's counts per rule, summed over the teams whose projects audit with a profile
    /// that shares its feedback (`community_feedback: true`, the team's own or a built-in one such
    /// as `open-source`), other than `team`; with how many teams gave each rule's counts. A team
    /// counts for a rule only where this node holds results with that rule's findings: dismissals
    /// replicate everywhere, results only to their owners.
    public func communityCounts(excluding team: String, rules: Set<String>? = nil) throws -> [String: (dismissed: Int, total: Int, teams: Int)] {
        if let rules, rules.isEmpty { return [:] }
        let sharing = Set(try projects().filter { $0.team != team && effectiveProfile($0).communityFeedback }.map(\.team))
        var out: [String: (dismissed: Int, total: Int, teams: Int)] = [:]
        for t in sharing.sorted() {
            for (rule, n) in try learningCounts(team: t, rules: rules) where n.total > 0 {
                var e = out[rule] ?? (0, 0, 0)
                e.dismissed += n.dismissed
                e.total += n.total
                e.teams += 1
                out[rule] = e
            }
        }
        return out
    }

    /// The rule of the project's finding with this fingerprint in its latest result, if any.
    public func findingRule(project: String, fingerprint: String) throws -> String? {
        guard let latest = try latestResultSummary(project: project) else { return nil }
        return try read { db in
            try String.fetchOne(db, sql: "SELECT ruleId FROM finding WHERE resultSeq = (SELECT seq FROM result WHERE id = ?) AND fingerprint = ? LIMIT 1",
                                arguments: [latest.id, fingerprint])
        }
    }
}

extension Store {
    /// The profile a project's audits use: its team's, when the team has one, else the project's built-in one.
    public func effectiveProfile(_ project: ProjectRecord) -> TeamProfile {
        if let p = try? teamProfile(project.team) { return p }
        return TeamProfile.builtIn[project.profile] ?? .standard
    }

    /// A team's stored profile; nil when the team has none.
    public func teamProfile(_ team: String) throws -> TeamProfile? {
        try self.team(id: team).map { try TeamProfile.decode(Data($0.profile.utf8), source: "team \(team)") }
    }
}

extension RegistryRules {
    static func dismissal(_ d: DismissalRecord) throws {
        try id(d.id, "dismissal id")
        try id(d.projectId, "project id")
        guard d.id == DismissalRecord.id(project: d.projectId, fingerprint: d.fingerprint) else { throw InvalidRecord("a dismissal's id is PROJECT.FINGERPRINT") }
        guard DismissalRecord.validFingerprint(d.fingerprint) else { throw InvalidRecord("a fingerprint is 32 lowercase hex digits") }
        guard DismissalRecord.Reason(rawValue: d.reason) != nil else {
            throw InvalidRecord("reason must be false_positive, wont_fix or accepted_risk")
        }
        try check(d.ruleId, "ruleId", max: FieldLimits.name)
        if let c = d.comment { try check(c, "comment", max: 2000) }
        if let t = d.byToken { try id(t, "token id") }
    }
}
