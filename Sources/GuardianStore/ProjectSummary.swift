import Foundation
import GRDB
import GuardianCore

/// A project's latest result as the fleet sees it: health, gate, each check's status, score and
/// counted findings, and the health of the last audits (oldest first) for a trend. A registry
/// record (kind `summary`, id = the project's id), written by the node that stored the result and
/// replicated to every node, so that any node lists every project with its scores while the
/// results themselves stay on the owners. A view: the signed result is the truth, and a summary
/// never outlives its project.
public struct ProjectSummary: Codable, Sendable, Equatable, FetchableRecord, PersistableRecord {
    public static let databaseTableName = "projectSummary"
    public static let trendLength = 20

    public struct CheckBrief: Codable, Sendable, Equatable {
        public var status: String
        public var score: Int
        public var findings: Int
        public init(status: String, score: Int, findings: Int) { self.status = status; self.score = score; self.findings = findings }
    }

    public var id: String
    public var resultId: String
    public var createdAt: Double
    public var commit: String?
    public var health: Int
    public var gatePassed: Bool
    /// The node that signed the result.
    public var signer: String
    public var checks: [String: CheckBrief]
    public var trend: [Int]

    public init(id: String, resultId: String, createdAt: Double, commit: String?, health: Int, gatePassed: Bool, signer: String,
                checks: [String: CheckBrief], trend: [Int]) {
        self.id = id; self.resultId = resultId; self.createdAt = createdAt; self.commit = commit; self.health = health
        self.gatePassed = gatePassed; self.signer = signer; self.checks = checks; self.trend = trend
    }

    public func encode(to container: inout PersistenceContainer) throws {
        container["id"] = id
        container["createdAt"] = createdAt
        container["value"] = try Self.encoded(self)
    }

    public init(row: Row) throws {
        self = try JSONDecoder().decode(ProjectSummary.self, from: Data((row["value"] as String).utf8))
    }

    public static func encoded(_ s: ProjectSummary) throws -> String {
        let e = JSONEncoder()
        e.outputFormatting = .sortedKeys
        return String(decoding: try e.encode(s), as: UTF8.self)
    }
}

extension Store {
    /// Every project's summary, keyed by project id.
    public func summaries() throws -> [String: ProjectSummary] {
        let (generation, cached) = summaryCache.withLock { ($0.generation, $0.value) }
        if let cached { return cached }
        let all = try read { db in Dictionary(try ProjectSummary.fetchAll(db).map { ($0.id, $0) }, uniquingKeysWith: { a, _ in a }) }
        // kept only if no write cleared the cache meanwhile: a read that raced a write is not kept
        summaryCache.withLock { if $0.generation == generation { $0.value = all } }
        return all
    }

    /// Forgets the decoded summaries (a write or merge changed the registry).
    func invalidateSummaries() { summaryCache.withLock { $0 = ($0.generation &+ 1, nil) } }

    /// One project's summary: from the decoded fleet when it is cached, else one row. An audit
    /// asks this of its own project, and must not pay for decoding every project's summary.
    public func summary(project: String) throws -> ProjectSummary? {
        if let cached = summaryCache.withLock({ $0.value }) { return cached[project] }
        return try read { db in try ProjectSummary.fetchOne(db, key: project) }
    }

    /// The stored summaries of `projects` (one query, chunked), by project id.
    public func summaries(of projects: [String]) throws -> [String: ProjectSummary] {
        if let cached = summaryCache.withLock({ $0.value }) {
            return Dictionary(projects.compactMap { cached[$0].map { ($0.id, $0) } }, uniquingKeysWith: { a, _ in a })
        }
        return try read { db in
            var out: [String: ProjectSummary] = [:]
            for start in stride(from: 0, to: projects.count, by: 500) {
                let part = Array(projects[start..<min(projects.count, start + 500)])
                for s in try ProjectSummary.fetchAll(db, keys: part) { out[s.id] = s }
            }
            return out
        }
    }

    /// Each project's newest stored result time, for the projects that have one (one query).
    public func latestResultTimes() throws -> [String: Double] {
        try read { db in
            var out: [String: Double] = [:]
            for row in try Row.fetchAll(db, sql: "SELECT projectId, MAX(createdAt) FROM result WHERE pullRequest IS NULL GROUP BY projectId") { out[row[0]] = row[1] }
            return out
        }
    }

    /// A project's latest `limit` results without their envelopes, newest first.
    public func resultHeads(project: String, limit: Int) throws -> [(id: String, createdAt: Double, commitId: String?, signer: String, health: Int, gatePassed: Bool)] {
        try read { db in
            try Row.fetchAll(db, sql: "SELECT id, createdAt, commitId, signer, health, gatePassed FROM result WHERE projectId = ? AND pullRequest IS NULL ORDER BY createdAt DESC, id LIMIT ?",
                             arguments: [project, limit]).map { row in
                (id: row["id"], createdAt: row["createdAt"], commitId: row["commitId"], signer: row["signer"], health: row["health"], gatePassed: row["gatePassed"])
            }
        }
    }
}
