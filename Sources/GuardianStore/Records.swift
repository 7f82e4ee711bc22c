import Foundation
import GRDB
import GRDBSQLite
import GuardianAudit
import GuardianCore
import GuardianCrypto

/// A registered project.
public struct ProjectRecord: Codable, Sendable, Equatable, FetchableRecord, PersistableRecord {
    public static let databaseTableName = "project"
    public var id: String
    public var name: String
    public var repositoryUrl: String
    public var team: String
    public var branch: String?
    public var scheduleSeconds: Int
    public var profile: String
    /// Encrypted at rest (XChaCha20-Poly1305 with the node's secret key).
    public var webhookSecret: Data?
    public var credentials: Data?
    public var createdAt: Double
    public var updatedAt: Double
    public var lastAuditAt: Double?
    public var nextAuditAt: Double?
    /// The code host that pull request results are reported to (`CodeHost`, JSON with its token),
    /// encrypted at rest like the credentials.
    public var codeHost: Data?

    public init(id: String, name: String, repositoryUrl: String, team: String, branch: String?, scheduleSeconds: Int, profile: String, webhookSecret: Data?, credentials: Data?, createdAt: Double, updatedAt: Double, lastAuditAt: Double?, nextAuditAt: Double?) {
        self.id = id
        self.name = name
        self.repositoryUrl = repositoryUrl
        self.team = team
        self.branch = branch
        self.scheduleSeconds = scheduleSeconds
        self.profile = profile
        self.webhookSecret = webhookSecret
        self.credentials = credentials
        self.createdAt = createdAt
        self.updatedAt = updatedAt
        self.lastAuditAt = lastAuditAt
        self.nextAuditAt = nextAuditAt
    }
}

/// A stored signed result: the exact envelope bytes, plus columns for queries.
public struct ResultRecord: Codable, Sendable, Equatable, FetchableRecord, PersistableRecord {
    public static let databaseTableName = "result"
    public var id: String
    public var projectId: String
    public var commitId: String?
    public var createdAt: Double
    public var signer: String
    public var health: Int
    public var gatePassed: Bool
    public var envelope: Data
    /// The pull request the result is for (its statement says so); nil for the branch's results,
    /// the project's timeline.
    public var pullRequest: Int?

    public init(id: String, projectId: String, commitId: String?, createdAt: Double, signer: String, health: Int, gatePassed: Bool, envelope: Data,
                pullRequest: Int? = nil) {
        self.pullRequest = pullRequest
        self.id = id
        self.projectId = projectId
        self.commitId = commitId
        self.createdAt = createdAt
        self.signer = signer
        self.health = health
        self.gatePassed = gatePassed
        self.envelope = envelope
    }
}

extension ResultRecord {
    /// A signed report as store records: the result with its exact envelope bytes (id = BLAKE2b of
    /// them) and one finding per violation, in check order. `isNew` tells, by fingerprint, the
    /// findings the previous result did not have; a pull request's statement says it itself.
    public static func signed(_ report: AuditReport, envelope: [UInt8], project: String, signer: String, at time: Double,
                              isNew: (String) -> Bool = { _ in false }) -> (ResultRecord, [FindingRecord]) {
        signed(StatementSummary(report), envelope: envelope, project: project, signer: signer, at: time, isNew: isNew)
    }

    /// The same from a verified statement's summary (replicated and imported results).
    public static func signed(_ summary: StatementSummary, envelope: [UInt8], id known: String? = nil, project: String, signer: String, at time: Double,
                              isNew: (String) -> Bool = { _ in false }) -> (ResultRecord, [FindingRecord]) {
        let id = known ?? DSSE.recordID(envelope)
        let findings = summary.findings.map { v in
            FindingRecord(resultId: id, projectId: project, checkName: v.check.rawValue, ruleId: v.ruleId, severity: v.severity.rawValue,
                          file: v.file, line: v.line, message: v.message, fingerprint: v.fingerprint,
                          isNew: summary.pullRequest != nil ? v.isNew == true : isNew(v.fingerprint))
        }
        return (ResultRecord(id: id, projectId: project, commitId: summary.commit, createdAt: time, signer: signer,
                             health: summary.overallHealthScore, gatePassed: summary.gatePassed, envelope: Data(envelope),
                             pullRequest: summary.pullRequest), findings)
    }
}

/// One finding of a stored result, for `GET /v1/projects/{id}/findings`.
public struct FindingRecord: Codable, Sendable, Equatable, FetchableRecord, PersistableRecord {
    public static let databaseTableName = "finding"
    public var resultId: String
    public var projectId: String
    public var checkName: String
    public var ruleId: String
    public var severity: String
    public var file: String?
    public var line: Int?
    public var message: String
    public var fingerprint: String
    public var isNew: Bool

    public init(resultId: String, projectId: String, checkName: String, ruleId: String, severity: String, file: String?, line: Int?, message: String, fingerprint: String, isNew: Bool) {
        self.resultId = resultId
        self.projectId = projectId
        self.checkName = checkName
        self.ruleId = ruleId
        self.severity = severity
        self.file = file
        self.line = line
        self.message = message
        self.fingerprint = fingerprint
        self.isNew = isNew
    }
}

/// An API token, stored as a BLAKE2b hash of its secret.
public struct TokenRecord: Codable, Sendable, Equatable, FetchableRecord, PersistableRecord {
    public static let databaseTableName = "token"
    public var id: String
    public var hash: Data
    public var role: String
    public var team: String?
    public var name: String
    public var createdAt: Double
    public init(id: String, hash: Data, role: String, team: String?, name: String, createdAt: Double) {
        self.id = id; self.hash = hash; self.role = role; self.team = team; self.name = name; self.createdAt = createdAt
    }
}

public struct TeamRecord: Codable, Sendable, Equatable, FetchableRecord, PersistableRecord {
    public static let databaseTableName = "team"
    public var id: String
    /// The team profile as JSON (snake_case, like configs/teams/*.json).
    public var profile: String
    public var updatedAt: Double
    public init(id: String, profile: String, updatedAt: Double) { self.id = id; self.profile = profile; self.updatedAt = updatedAt }
}

struct DeliveryRecord: Codable, FetchableRecord, PersistableRecord {
    static let databaseTableName = "delivery"
    var id: String
    var projectId: String?
    var receivedAt: Double
}

/// A repository event a webhook reported (a forced push, an unreviewed merge, a branch), kept for the checks.
public struct RepositoryEventRecord: Codable, FetchableRecord, PersistableRecord, Sendable {
    public static let databaseTableName = "repositoryEvent"
    public var id: String
    public var projectId: String
    public var kind: String
    public var ref: String
    public var actor: String?
    public var createdAt: Double
    public init(id: String, projectId: String, kind: String, ref: String, actor: String?, createdAt: Double) {
        self.id = id; self.projectId = projectId; self.kind = kind; self.ref = ref; self.actor = actor; self.createdAt = createdAt
    }
}

extension Store {
    // MARK: projects

    // Registry rows change through `ReplicatedRegistry`, which stamps every write for replication.

    /// Projects whose scheduled audit is due (the scheduler asks every 2 s: no need to load them all).
    public func dueProjects(now: Double) throws -> [ProjectRecord] {
        try read { try ProjectRecord.filter(sql: "scheduleSeconds > 0 AND nextAuditAt <= ?", arguments: [now]).fetchAll($0) }
    }

    /// The next scheduled audit: a local field, not replicated.
    public func setNextAudit(project id: String, at time: Double?) throws {
        try write { try $0.execute(sql: "UPDATE project SET nextAuditAt = ? WHERE id = ?", arguments: [time, id]) }
    }

    /// Read on every project request: a cached statement (GRDB's query builder writes, parses and
    /// authorizes the SQL again on every call, which cost more than the query).
    public func project(id: String) throws -> ProjectRecord? {
        try read { db in try ProjectRecord.fetchOne(try db.cachedStatement(sql: "SELECT * FROM project WHERE id = ?"), arguments: [id]) }
    }
    public func projects() throws -> [ProjectRecord] { try read { try ProjectRecord.order(Column("id")).fetchAll($0) } }
    public func project(url: String) throws -> [ProjectRecord] {
        try read { try ProjectRecord.filter(Column("repositoryUrl") == url).fetchAll($0) }
    }

    // MARK: results

    /// Stores a result and its findings in one durable transaction. Idempotent by record id.
    public func insert(result: ResultRecord, findings: [FindingRecord]) throws {
        try insert(results: [(result, findings)])
    }

    /// Stores results durably and returns once they are committed and the WAL holding them is synced.
    /// Concurrent callers share transactions and syncs through the group committer.
    /// `outbox`: the alert messages each result raises (keyed by result id), written in the same
    /// transaction, and only with a result that was not stored before.
    public func insert(results: [(ResultRecord, [FindingRecord])], outbox: [String: [AlertOutboxRow]] = [:]) throws {
        try committer.commit(results, outbox: outbox, store: self)
        resultsChanged(results.map(\.0.projectId))
    }

    /// The same for async callers (replicas, imports): they wait without holding a thread.
    public func insert(results: [(ResultRecord, [FindingRecord])], outbox: [String: [AlertOutboxRow]] = [:]) async throws {
        try await committer.commit(results, outbox: outbox, store: self)
        resultsChanged(results.map(\.0.projectId))
    }

    /// The raw insert: cached prepared statements bound through SQLite's C API (GRDB's arguments box
    /// every value, which cost more than SQLite's own work on this path: 100,000 imported results
    /// with five findings each bind 1.7 million values). A result already stored is skipped: ids
    /// are content hashes.
    static func insert(results: [(ResultRecord, [FindingRecord])], outbox: [String: [AlertOutboxRow]] = [:], in db: Database) throws {
        let result = RawStatement(try db.cachedStatement(sql: """
            INSERT OR IGNORE INTO result (id, projectId, commitId, createdAt, signer, health, gatePassed, envelope, pullRequest)
            VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)
            """))
        let finding = RawStatement(try db.cachedStatement(sql: """
            INSERT INTO finding (resultSeq, resultId, projectId, checkName, ruleId, severity, file, line, message, fingerprint, isNew)
            VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)
            """))
        let project = RawStatement(try db.cachedStatement(sql: "UPDATE project SET lastAuditAt = MAX(IFNULL(lastAuditAt, 0), ?) WHERE id = ?"))
        var latest: [String: Double] = [:] // each project's newest inserted result: one update per project, not per result
        for (r, findings) in results {
            result.reset()
            result.text(1, r.id); result.text(2, r.projectId); result.text(3, r.commitId); result.double(4, r.createdAt)
            result.text(5, r.signer); result.int(6, Int64(r.health)); result.int(7, r.gatePassed ? 1 : 0); result.blob(8, r.envelope)
            result.int(9, r.pullRequest.map(Int64.init))
            try result.step(db)
            guard db.changesCount > 0 else { continue }
            let seq = db.lastInsertedRowID
            for f in findings {
                finding.reset()
                finding.int(1, seq); finding.text(2, f.resultId); finding.text(3, f.projectId); finding.text(4, f.checkName)
                finding.text(5, f.ruleId); finding.text(6, f.severity); finding.text(7, f.file); finding.int(8, f.line.map(Int64.init))
                finding.text(9, f.message); finding.text(10, f.fingerprint); finding.int(11, f.isNew ? 1 : 0)
                try finding.step(db)
            }
            if let rows = outbox[r.id] { try AlertOutboxRow.write(rows, db) }
            guard r.pullRequest == nil else { continue } // a pull request's audit is not the branch's
            latest[r.projectId] = max(latest[r.projectId] ?? r.createdAt, r.createdAt)
        }
        for (id, time) in latest {
            project.reset()
            project.double(1, time); project.text(2, id)
            try project.step(db)
        }
    }

    /// The project's results, newest first: the branch's, or one pull request's.
    public func results(project: String, limit: Int, before: Double?, pullRequest: Int? = nil) throws -> [ResultRecord] {
        try read { db in
            var q = ResultRecord.filter(Column("projectId") == project)
                .filter(pullRequest.map { Column("pullRequest") == $0 } ?? (Column("pullRequest") == nil))
            if let before { q = q.filter(Column("createdAt") < before) }
            return try q.order(Column("createdAt").desc, Column("id")).limit(limit).fetchAll(db)
        }
    }

    public func result(id: String) throws -> ResultRecord? { try read { try ResultRecord.filter(Column("id") == id).fetchOne($0) } }

    public func hasResult(id: String) throws -> Bool {
        try read { try Bool.fetchOne($0, sql: "SELECT EXISTS (SELECT 1 FROM result WHERE id = ?)", arguments: [id]) ?? false }
    }

    /// The branch's latest result's id, time and commit, without loading its envelope.
    public func latestResultSummary(project: String) throws -> (id: String, createdAt: Double, commitId: String?)? {
        try read { db in
            try Row.fetchOne(try db.cachedStatement(sql: """
                SELECT id, createdAt, commitId FROM result WHERE projectId = ? AND pullRequest IS NULL ORDER BY createdAt DESC LIMIT 1
                """),
                             arguments: [project]).map { ($0[0], $0[1], $0[2]) }
        }
    }

    /// The newest result of pull request `number` whose commit starts with `commitPrefix` (a host
    /// may name a commit by a prefix), or nil.
    public func pullRequestResult(project: String, number: Int, commitPrefix: String) throws -> String? {
        try read { db in
            try String.fetchOne(db, sql: """
                SELECT id FROM result WHERE projectId = ? AND pullRequest = ? AND substr(commitId, 1, ?) = ? ORDER BY createdAt DESC LIMIT 1
                """, arguments: [project, number, commitPrefix.count, commitPrefix.lowercased()])
        }
    }

    /// The finding fingerprints of the project's latest result (nil before its first result): what
    /// a new result's findings are compared with to mark them new.
    public func latestFingerprints(project: String) throws -> Set<String>? {
        try latestResultSummary(project: project).map { latest in
            try read { db in
                Set(try String.fetchAll(db, sql: "SELECT fingerprint FROM finding WHERE resultSeq = (SELECT seq FROM result WHERE id = ?)",
                                        arguments: [latest.id]))
            }
        }
    }

    public func resultCount() throws -> Int { try read { try ResultRecord.fetchCount($0) } }

    public func findings(result: String, check: String?, severity: String?, onlyNew: Bool, limit: Int) throws -> [FindingRecord] {
        try read { db in
            guard let seq = try Int64.fetchOne(db, sql: "SELECT seq FROM result WHERE id = ?", arguments: [result]) else { return [] }
            var q = FindingRecord.filter(Column("resultSeq") == seq)
            if let check { q = q.filter(Column("checkName") == check) }
            if let severity { q = q.filter(Column("severity") == severity) }
            if onlyNew { q = q.filter(Column("isNew") == true) }
            return try q.order(Column("file"), Column("line")).limit(limit).fetchAll(db)
        }
    }

    // MARK: tokens and teams

    public func token(hash: Data) throws -> TokenRecord? { try read { try TokenRecord.filter(Column("hash") == hash).fetchOne($0) } }
    public func token(id: String) throws -> TokenRecord? { try read { try TokenRecord.fetchOne($0, key: id) } }
    public func tokenCount() throws -> Int { try read { try TokenRecord.fetchCount($0) } }
    /// Every token, or a team's, by creation time (hashes included: callers show ids and names only).
    public func tokens(team: String? = nil) throws -> [TokenRecord] {
        try read { db in
            var q = TokenRecord.order(Column("createdAt"), Column("id"))
            if let team { q = q.filter(Column("team") == team) }
            return try q.fetchAll(db)
        }
    }

    public func team(id: String) throws -> TeamRecord? { try read { try TeamRecord.fetchOne($0, key: id) } }

    // MARK: webhooks

    /// Records a delivery id; false when it was seen before (a duplicate delivery).
    public func recordDelivery(id: String, project: String?, at time: Double) throws -> Bool {
        try write { db in
            if try DeliveryRecord.exists(db, key: id) { return false }
            try DeliveryRecord(id: id, projectId: project, receivedAt: time).insert(db)
            return true
        }
    }

    public func record(event: RepositoryEventRecord) throws { try write { try event.save($0) } }

    public func events(project: String) throws -> [RepositoryEventRecord] {
        try read { try RepositoryEventRecord.filter(Column("projectId") == project).order(Column("createdAt")).fetchAll($0) }
    }
}

/// A GRDB statement bound and stepped through SQLite's C API.
struct RawStatement {
    let s: OpaquePointer
    init(_ statement: Statement) { s = statement.sqliteStatement }

    // SQLITE_TRANSIENT: SQLite copies the value before the call returns
    private static let transient = unsafeBitCast(-1, to: sqlite3_destructor_type.self)
    /// A non-null pointer for empty strings and blobs (a null one would bind NULL).
    nonisolated(unsafe) private static let empty: UnsafePointer<CChar> = UnsafePointer(strdup("")!) // never written

    func reset() { sqlite3_reset(s); sqlite3_clear_bindings(s) }
    func text(_ i: Int32, _ value: String?) {
        guard var v = value else { sqlite3_bind_null(s, i); return }
        v.withUTF8 { b in
            b.withMemoryRebound(to: CChar.self) { c in _ = sqlite3_bind_text(s, i, c.baseAddress ?? Self.empty, Int32(c.count), Self.transient) }
        }
    }
    func int(_ i: Int32, _ v: Int64?) { if let v { sqlite3_bind_int64(s, i, v) } else { sqlite3_bind_null(s, i) } }
    func double(_ i: Int32, _ v: Double) { sqlite3_bind_double(s, i, v) }
    func blob(_ i: Int32, _ v: Data) {
        v.withUnsafeBytes { b in _ = sqlite3_bind_blob(s, i, b.baseAddress ?? UnsafeRawPointer(Self.empty), Int32(b.count), Self.transient) }
    }
    func step(_ db: Database) throws {
        let rc = sqlite3_step(s)
        guard rc == SQLITE_DONE else {
            let message = String(cString: sqlite3_errmsg(sqlite3_db_handle(s)))
            sqlite3_reset(s)
            throw DatabaseError(resultCode: ResultCode(rawValue: rc), message: message)
        }
    }
}
