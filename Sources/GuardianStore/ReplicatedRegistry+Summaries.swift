import Foundation
import GRDB
import GuardianMesh

/// Project summaries (`ProjectSummary`) as registry records: written in batches, each kept only if
/// newer than the one stored, and tombstoned with their project.
extension ReplicatedRegistry {
    /// A project's latest result for the fleet view; kept only if it is newer than the one stored.
    public func save(summary: ProjectSummary) throws {
        try RegistryRules.summary(summary, now: Date().timeIntervalSince1970)
        try save(summaries: [summary])
    }

    /// Summaries in one transaction (a node's backfill at start); each kept only if newer, and one
    /// that breaks the rules (a clock that ran ahead) skipped without costing the others.
    public func save(summaries: [ProjectSummary]) throws {
        let now = Date().timeIntervalSince1970
        let current = try store.summaries(of: summaries.map(\.id))
        var records: [(RegistryRecord, ProjectSummary)] = []
        for s in summaries {
            guard (try? RegistryRules.summary(s, now: now)) != nil else { continue }
            if let c = current[s.id], c.createdAt >= s.createdAt { continue }
            let stamp = clock.withLock { $0.now(wall: Self.wallNow()) }
            records.append((RegistryRecord(kind: .summary, id: s.id, stamp: stamp, value: Array(try ProjectSummary.encoded(s).utf8)), s))
        }
        guard !records.isEmpty else { return }
        try store.write { db in
            for (r, s) in records {
                try s.save(db)
                try Self.saveStamp(r, db)
            }
        }
        store.invalidateSummaries()
        invalidateDigest()
        for (r, _) in records { outboxInput.yield(r) }
    }

    /// A deleted project's summary: tombstoned with the project's tombstone stamp, unless a later
    /// summary stamp is there (a summary never outlives its project, and a late one stays out).
    static func tombstoneSummary(of project: String, _ db: Database) throws {
        guard let p = try stamp(.project, project, db), p.deleted else { return }
        if try stamp(.summary, project, db).map({ $0.stamp < p.stamp }) ?? true {
            try saveStamp(RegistryRecord(kind: .summary, id: project, stamp: p.stamp, value: nil), db)
        }
    }
}
