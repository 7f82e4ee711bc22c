import Foundation
import GRDB
import GuardianCrypto
import GuardianMesh
import Synchronization

/// What result replication reads and writes: id sets and digests per project (anti-entropy), the
/// records themselves, hints for owners that were down, and the removal of corrupt or handed-off
/// records.
extension Store {
    /// Registered project ids (the scope of anti-entropy is drawn from them).
    public func projectIDs() throws -> [String] {
        try read { try String.fetchAll($0, sql: "SELECT id FROM project ORDER BY id") }
    }

    /// Projects this node holds results of (registered or not).
    public func projectsWithResults() throws -> Set<String> {
        try read { Set(try String.fetchAll($0, sql: "SELECT DISTINCT projectId FROM result")) }
    }

    /// The digest of the result ids of these projects. Each project's digest is kept in memory until
    /// a result of that project is stored or removed, so an idle anti-entropy round reads nothing.
    public func resultDigest(projects: [String]) throws -> SetDigest {
        var total = SetDigest()
        for p in projects {
            if let d = digests.cached(p) { total = total ^ d; continue }
            let generation = digests.generation(p)
            var d = SetDigest()
            for id in try resultIDs(project: p) { d.add(id) }
            digests.store(p, d, ifGeneration: generation)
            total = total ^ d
        }
        return total
    }

    func resultIDs(project: String) throws -> [String] {
        try read { db in try String.fetchAll(try db.cachedStatement(sql: "SELECT id FROM result WHERE projectId = ?"), arguments: [project]) }
    }

    /// The result ids of these projects, as the sorted set anti-entropy walks.
    public func resultIDSet(projects: [String]) throws -> IDSet {
        var ids: [String] = []
        for p in projects { ids += try resultIDs(project: p) }
        return IDSet(ids)
    }

    /// Records by id, in the given order, until `maxBytes` of envelopes (at least one record), and
    /// how many of the ids that covers (ids no longer stored are skipped and covered).
    public func replicaRecords(ids: [String], maxBytes: Int, keys: [String: VerifyingKey] = [:]) throws -> (records: [ResultSync.Record], consumed: Int) {
        try read { db in
            let statement = try db.cachedStatement(sql: "SELECT projectId, createdAt, envelope, signer FROM result WHERE id = ?")
            var out: [ResultSync.Record] = [], bytes = 0, consumed = 0
            for id in ids {
                if let row = try Row.fetchOne(statement, arguments: [id]) {
                    let envelope: Data = row[2]
                    if !out.isEmpty && bytes + envelope.count > maxBytes { break }
                    bytes += envelope.count
                    out.append(ResultSync.Record(project: row[0], createdAt: row[1], envelope: [UInt8](envelope),
                                                 signerKey: keys[row[3] as String]?.bytes ?? []))
                }
                consumed += 1
            }
            return (out, consumed)
        }
    }

    /// Called after results of these projects were stored or removed.
    func resultsChanged<S: Sequence>(_ projects: S) where S.Element == String { digests.invalidate(projects) }

    /// Removes one result and its findings (a corrupt copy; a peer's copy replaces it).
    @discardableResult
    public func deleteResult(id: String) throws -> Bool {
        let project: String? = try write { db in
            guard let row = try Row.fetchOne(db, sql: "SELECT seq, projectId FROM result WHERE id = ?", arguments: [id]) else { return nil }
            let seq: Int64 = row[0]
            try db.execute(sql: "DELETE FROM finding WHERE resultSeq = ?", arguments: [seq])
            try db.execute(sql: "DELETE FROM result WHERE seq = ?", arguments: [seq])
            return row[1]
        }
        if let project { resultsChanged([project]) }
        return project != nil
    }

    /// Removes every result of a project this node no longer owns (after its owners hold them).
    public func deleteResults(project: String) throws -> Int {
        let n = try write { db in
            try db.execute(sql: "DELETE FROM finding WHERE resultSeq IN (SELECT seq FROM result WHERE projectId = ?)", arguments: [project])
            try db.execute(sql: "DELETE FROM result WHERE projectId = ?", arguments: [project])
            return db.changesCount
        }
        resultsChanged([project])
        return n
    }

    /// Checks stored envelopes against their ids (a BLAKE2b of the exact bytes), `limit` records
    /// after `seq`; corrupt ones are removed (anti-entropy or a read brings a good copy back).
    /// Returns the ids removed and where to continue (0 after the last record).
    public func scrub(after seq: Int64, limit: Int) throws -> (corrupt: [String], next: Int64) {
        let rows = try read { db in
            try Row.fetchAll(db, sql: "SELECT seq, id, envelope FROM result WHERE seq > ? ORDER BY seq LIMIT ?", arguments: [seq, limit])
        }
        var corrupt: [String] = []
        for row in rows {
            let id: String = row[1], envelope: Data = row[2]
            if DSSE.recordID([UInt8](envelope)) != id { corrupt.append(id) }
        }
        for id in corrupt { try deleteResult(id: id) }
        return (corrupt, rows.count < limit ? 0 : rows.last![0])
    }

    /// Which of these result ids are stored, or were pruned by the retention rule here (a tombstone
    /// counts as held: a pushed, hinted, repaired or imported copy does not come back). One query per
    /// 500 ids.
    public func existingIDs(_ ids: [String]) throws -> Set<String> {
        try read { db in
            var out: Set<String> = []
            for chunk in Self.batches(ids) {
                let marks = Self.placeholders(chunk)
                out.formUnion(try String.fetchAll(db, sql: "SELECT id FROM result WHERE id IN (\(marks)) UNION SELECT id FROM resultTombstone WHERE id IN (\(marks))",
                                                  arguments: StatementArguments(chunk + chunk)))
            }
            return out
        }
    }

    /// Ids in batches of 500, under SQLite's limit on bound parameters per statement.
    static func batches(_ ids: [String]) -> [ArraySlice<String>] {
        stride(from: 0, to: ids.count, by: 500).map { ids[$0..<min(ids.count, $0 + 500)] }
    }

    static func placeholders(_ ids: ArraySlice<String>) -> String { Array(repeating: "?", count: ids.count).joined(separator: ",") }

    // MARK: air-gap export

    static func exportFilter(project: String?, since: Double?) -> (sql: String, arguments: StatementArguments) {
        var clauses: [String] = [], args: StatementArguments = []
        if let project { clauses.append("projectId = ?"); args += [project] }
        if let since { clauses.append("createdAt >= ?"); args += [since] }
        return (clauses.isEmpty ? "" : " AND " + clauses.joined(separator: " AND "), args)
    }

    /// How many results an export selects, their signers and their projects.
    public func exportSelection(project: String?, since: Double?) throws -> (count: Int, signers: [String], projects: [String]) {
        let f = Self.exportFilter(project: project, since: since)
        return try read { db in
            (try Int.fetchOne(db, sql: "SELECT COUNT(*) FROM result WHERE 1" + f.sql, arguments: f.arguments) ?? 0,
             try String.fetchAll(db, sql: "SELECT DISTINCT signer FROM result WHERE 1" + f.sql + " ORDER BY signer", arguments: f.arguments),
             try String.fetchAll(db, sql: "SELECT DISTINCT projectId FROM result WHERE 1" + f.sql + " ORDER BY projectId", arguments: f.arguments))
        }
    }

    /// The next page of exported results after `seq`, in insertion order.
    public func exportPage(project: String?, since: Double?, after seq: Int64, limit: Int) throws -> (records: [ResultSync.Record], last: Int64) {
        let f = Self.exportFilter(project: project, since: since)
        return try read { db in
            let rows = try Row.fetchAll(db, sql: "SELECT seq, projectId, createdAt, envelope FROM result WHERE seq > ?" + f.sql + " ORDER BY seq LIMIT ?",
                                        arguments: [seq] + f.arguments + [limit])
            return (rows.map { ResultSync.Record(project: $0[1], createdAt: $0[2], envelope: [UInt8]($0[3] as Data)) }, rows.last?[0] ?? seq)
        }
    }

    // MARK: hints

    /// Remembers that `owner` missed these results (it was down, or the push failed).
    public func addHints(owner: String, results: [String], at time: Double) throws {
        try write { db in
            let s = try db.cachedStatement(sql: "INSERT OR IGNORE INTO hint (owner, resultId, createdAt) VALUES (?, ?, ?)")
            for id in results { try s.execute(arguments: [owner, id, time]) }
        }
    }

    /// Owners with hints waiting, and how many.
    public func hintCounts() throws -> [String: Int] {
        try read { db in
            var out: [String: Int] = [:]
            for row in try Row.fetchAll(db, sql: "SELECT owner, COUNT(*) FROM hint GROUP BY owner") { out[row[0]] = row[1] }
            return out
        }
    }

    /// The owners a result still waits to reach (hints held for them here).
    public func hintOwners(result: String) throws -> [String] {
        try read { try String.fetchAll($0, sql: "SELECT owner FROM hint WHERE resultId = ?", arguments: [result]) }
    }

    /// The fingerprints of a result's findings that its project's previous result did not have.
    public func newFingerprints(result: String) throws -> Set<String> {
        try read { db in
            Set(try String.fetchAll(db, sql: "SELECT fingerprint FROM finding WHERE resultSeq = (SELECT seq FROM result WHERE id = ?) AND isNew = 1",
                                    arguments: [result]))
        }
    }

    /// The oldest hinted result ids for an owner.
    public func hints(owner: String, limit: Int) throws -> [String] {
        try read { try String.fetchAll($0, sql: "SELECT resultId FROM hint WHERE owner = ? ORDER BY createdAt LIMIT ?", arguments: [owner, limit]) }
    }

    public func deleteHints(owner: String, results: [String]) throws {
        try write { db in
            let s = try db.cachedStatement(sql: "DELETE FROM hint WHERE owner = ? AND resultId = ?")
            for id in results { try s.execute(arguments: [owner, id]) }
        }
    }

    /// Drops hints older than the hint window; anti-entropy repairs what they were for.
    public func expireHints(before time: Double) throws -> Int {
        try write { db in
            try db.execute(sql: "DELETE FROM hint WHERE createdAt < ?", arguments: [time])
            return db.changesCount
        }
    }
}

/// Per-project digests of the stored result ids, with a generation per project so that a digest
/// computed from a read that raced a write is not kept.
final class DigestCache: Sendable {
    private let state = Mutex<(digests: [String: SetDigest], generations: [String: UInt64])>(([:], [:]))

    func cached(_ p: String) -> SetDigest? { state.withLock { $0.digests[p] } }
    func generation(_ p: String) -> UInt64 { state.withLock { $0.generations[p] ?? 0 } }

    func store(_ p: String, _ d: SetDigest, ifGeneration g: UInt64) {
        state.withLock { s in if (s.generations[p] ?? 0) == g { s.digests[p] = d } }
    }

    func invalidate<S: Sequence>(_ projects: S) where S.Element == String {
        state.withLock { s in
            for p in projects { s.digests[p] = nil; s.generations[p, default: 0] &+= 1 }
        }
    }
}
