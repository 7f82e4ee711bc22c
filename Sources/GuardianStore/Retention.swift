import Foundation
import GRDB
import Metrics

/// The retention rule: every result younger than the cut-off is kept; an older one only when it is
/// the latest of its commit, or the latest of its week (ISO weeks, UTC), or the project's latest
/// (of all its results, and of its branch timeline). Pure and deterministic: every owner that holds
/// the same results prunes the same ones, so the rule itself is what replicates (see Store.prune).
public enum RetentionRule {
    public struct Candidate: Sendable, Equatable {
        public var id: String
        public var commit: String?
        public var createdAt: Double
        public var pullRequest: Int?
        public init(id: String, commit: String?, createdAt: Double, pullRequest: Int? = nil) {
            self.id = id; self.commit = commit; self.createdAt = createdAt; self.pullRequest = pullRequest
        }
    }

    /// Monday-based week number since 1970 (1 January 1970 was a Thursday).
    static func week(_ t: Double) -> Int64 { Int64(((t + 3 * 86_400) / (7 * 86_400)).rounded(.down)) }

    /// The ids of one project's results to remove, given all of them.
    public static func prune(_ results: [Candidate], cutoff: Double) -> [String] {
        guard results.contains(where: { $0.createdAt < cutoff }) else { return [] }
        func later(_ a: Candidate, _ b: Candidate) -> Bool { (a.createdAt, a.id) > (b.createdAt, b.id) }
        var keep: Set<String> = []
        var latestOfCommit: [String: Candidate] = [:], latestOfWeek: [Int64: Candidate] = [:]
        var latest: Candidate?, latestOfBranch: Candidate?
        for r in results {
            if latest.map({ later(r, $0) }) ?? true { latest = r }
            if r.pullRequest == nil, latestOfBranch.map({ later(r, $0) }) ?? true { latestOfBranch = r }
            let c = r.commit ?? ""
            if latestOfCommit[c].map({ later(r, $0) }) ?? true { latestOfCommit[c] = r }
            let w = week(r.createdAt)
            if latestOfWeek[w].map({ later(r, $0) }) ?? true { latestOfWeek[w] = r }
        }
        for r in [latest, latestOfBranch].compactMap({ $0 }) { keep.insert(r.id) }
        for r in latestOfCommit.values { keep.insert(r.id) }
        for r in latestOfWeek.values { keep.insert(r.id) }
        return results.filter { $0.createdAt < cutoff && !keep.contains($0.id) }.map(\.id).sorted()
    }
}

extension Store {
    /// How long a pruned result's tombstone keeps it from coming back: longer than a partition is
    /// expected to last; a copy that returns after it is pruned again by the next pass.
    public static let tombstoneSeconds = 30.0 * 86_400

    /// Applies the retention rule to every project with results older than `days` days: their
    /// results, findings and hints go, tombstones stay. Returns how many results were removed.
    @discardableResult
    public func prune(days: Int, now: Double = Date().timeIntervalSince1970) throws -> Int {
        guard days > 0 else { return 0 }
        let cutoff = now - Double(days) * 86_400
        let projects = try read { try String.fetchAll($0, sql: "SELECT DISTINCT projectId FROM result WHERE createdAt < ?", arguments: [cutoff]) }
        var removed = 0
        for project in projects {
            let candidates = try read { db in
                try Row.fetchAll(db, sql: "SELECT id, commitId, createdAt, pullRequest FROM result WHERE projectId = ?", arguments: [project]).map {
                    RetentionRule.Candidate(id: $0["id"], commit: $0["commitId"], createdAt: $0["createdAt"], pullRequest: $0["pullRequest"])
                }
            }
            let ids = RetentionRule.prune(candidates, cutoff: cutoff)
            guard !ids.isEmpty else { continue }
            try write { db in
                for chunk in Self.batches(ids) {
                    let marks = Self.placeholders(chunk)
                    let args = StatementArguments(chunk)
                    try db.execute(sql: "DELETE FROM finding WHERE resultSeq IN (SELECT seq FROM result WHERE id IN (\(marks)))", arguments: args)
                    try db.execute(sql: "DELETE FROM result WHERE id IN (\(marks))", arguments: args)
                    try db.execute(sql: "DELETE FROM hint WHERE resultId IN (\(marks))", arguments: args)
                    for id in chunk {
                        try db.execute(sql: "INSERT OR REPLACE INTO resultTombstone (id, projectId, prunedAt) VALUES (?, ?, ?)",
                                       arguments: [id, project, now])
                    }
                }
            }
            resultsChanged([project])
            removed += ids.count
        }
        try write { db in try db.execute(sql: "DELETE FROM resultTombstone WHERE prunedAt < ?", arguments: [now - Self.tombstoneSeconds]) }
        if removed > 0 { Metrics.Counter(label: "guardian_results_pruned_total").increment(by: removed) }
        return removed
    }

    /// Ids among these that the retention rule removed here (within the tombstones' life).
    public func tombstoned(_ ids: [String]) throws -> Set<String> {
        try read { db in
            var out: Set<String> = []
            for chunk in Self.batches(ids) {
                out.formUnion(try String.fetchAll(db, sql: "SELECT id FROM resultTombstone WHERE id IN (\(Self.placeholders(chunk)))",
                                                  arguments: StatementArguments(chunk)))
            }
            return out
        }
    }
}
