import Foundation
import GRDB
import GuardianCore
import GuardianCrypto
import GuardianMesh
import Metrics
import Synchronization

/// The registry (projects, teams, tokens) as replicated state on top of the store. Every write,
/// local or merged from a peer, carries a hybrid-logical-clock stamp kept in `registryStamp` in the
/// same transaction as the row it changed; a delete keeps its stamp as a tombstone. Merges follow
/// the pure core's rule (`RegistryRecord.supersedes`: last writer wins by HLC, node id breaking
/// ties), and a stamp too far in the future is refused and counted.
///
/// Replicated values are JSON. A project's secrets travel in clear inside the cluster-sealed stream
/// and are sealed again with each node's own `secret.key` before they are stored.
public final class ReplicatedRegistry: Sendable {
    public let store: Store
    let clock: Mutex<HLCClock>
    let secrets: SecretBox
    /// The digest over every stamp, kept up to date as records change (nil: recompute).
    private let cachedDigest = Mutex<UInt64?>(nil)
    /// Local writes, for the mesh to push to every member (a no-op buffer without a mesh).
    public let outbox: AsyncStream<RegistryRecord>
    let outboxInput: AsyncStream<RegistryRecord>.Continuation
    private let hook = Mutex<(@Sendable ([Applied]) async -> Void)?>(nil)

    /// A record a merge changed; `created` when no row (or only a tombstone) was there before;
    /// `team`: a deleted project's team, read before the row went.
    public struct Applied: Sendable { public var record: RegistryRecord; public var created: Bool; public var team: String? = nil }

    public init(store: Store, node: String, secrets: SecretBox, maxDrift: Int64 = 60_000) throws {
        self.store = store
        self.secrets = secrets
        var c = HLCClock(node: node, maxDrift: maxDrift)
        // never stamp below what is already stored, even if the wall clock went back since
        if let last = try store.read({ db in try Row.fetchOne(db, sql: "SELECT wall, logical, node FROM registryStamp ORDER BY wall DESC, logical DESC LIMIT 1") }) {
            c.restore(HLC(wall: last[0], logical: UInt32(clamping: last[1] as Int64), node: last[2]))
        }
        clock = Mutex(c)
        (outbox, outboxInput) = AsyncStream.makeStream(bufferingPolicy: .bufferingNewest(10_000))
    }

    /// A registry over `store` with a throwaway secret key (benchmarks and tests that seed projects).
    public static func local(_ store: Store, node: String = "local") throws -> ReplicatedRegistry {
        try ReplicatedRegistry(store: store, node: node, secrets: try SecretBox(key: Sodium.randomBytes(SecretBox.keyBytes)))
    }

    /// Called after a merge changed records (the node reacts: caches, events, registration audits).
    public func onApplied(_ f: @escaping @Sendable ([Applied]) async -> Void) { hook.withLock { $0 = f } }

    static func wallNow() -> Int64 { Int64(Date().timeIntervalSince1970 * 1000) }

    // MARK: local writes

    /// Registers a project. A second project with the same repository and branch is refused here;
    /// two registered on the two sides of a partition both survive the merge (two ids).
    public func insert(project: ProjectRecord) throws {
        try Self.check(project)
        try write(.project, project.id, value: try projectValue(project)) { db in
            if try Row.fetchOne(db, sql: "SELECT 1 FROM project WHERE repositoryUrl = ? AND IFNULL(branch, '') = IFNULL(?, '')",
                                arguments: [project.repositoryUrl, project.branch]) != nil {
                throw StoreConflict(message: "\(project.repositoryUrl) is already registered")
            }
            try project.insert(db)
        }
    }

    public func update(project: ProjectRecord) throws {
        try Self.check(project)
        try write(.project, project.id, value: try projectValue(project)) { db in try project.update(db) }
    }

    /// Deletes a project, its results and findings; false when there was no such project.
    @discardableResult
    public func deleteProject(id: String) throws -> Bool {
        var existed = false
        try write(.project, id, value: nil) { db in existed = try Self.delete(project: id, db) }
        // the fleet's view of it goes too: its summary is tombstoned with the project's own stamp,
        // by the rule every node applies when it merges the project's tombstone (same stamps, same digest)
        try store.write { db in try Self.tombstoneSummary(of: id, db) }
        invalidateDigest()
        return existed
    }

    public func insert(token: TokenRecord) throws {
        try RegistryRules.token(token)
        try write(.token, token.id, value: try JSONEncoder().encode(token)) { db in try token.insert(db) }
    }

    @discardableResult
    public func deleteToken(id: String) throws -> Bool {
        guard try store.read({ try TokenRecord.exists($0, key: id) }) else { return false }
        try write(.token, id, value: nil) { db in _ = try TokenRecord.deleteOne(db, key: id) }
        return true
    }

    public func save(dismissal: DismissalRecord) throws {
        try RegistryRules.dismissal(dismissal)
        try write(.dismissal, dismissal.id, value: try JSONEncoder().encode(dismissal)) { db in try dismissal.save(db) }
    }

    @discardableResult
    public func deleteDismissal(id: String) throws -> Bool {
        guard try store.read({ try DismissalRecord.exists($0, key: id) }) else { return false }
        try write(.dismissal, id, value: nil) { db in _ = try DismissalRecord.deleteOne(db, key: id) }
        return true
    }

    public func save(team: TeamRecord) throws {
        try RegistryRules.team(team)
        try write(.team, team.id, value: try JSONEncoder().encode(team)) { db in try team.save(db) }
    }

    /// Stamps a local write and stores it with its stamp in one transaction, then queues it for the mesh.
    func write(_ kind: RegistryRecord.Kind, _ id: String, value: Data?, apply: (Database) throws -> Void) throws {
        let stamp = clock.withLock { $0.now(wall: Self.wallNow()) }
        let record = RegistryRecord(kind: kind, id: id, stamp: stamp, value: value.map { [UInt8]($0) })
        try store.write { db in
            try apply(db)
            try Self.saveStamp(record, db)
        }
        store.invalidateSummaries()
        invalidateDigest()
        outboxInput.yield(record)
    }

    // MARK: merging

    public struct MergeOutcome: Sendable, Equatable {
        /// `invalid`: records that break `RegistryRules` (an id that is not a name, an oversized field).
        public var applied = 0, stale = 0, refused = 0, malformed = 0, invalid = 0
    }

    /// A local project write obeys the same rules as a merged one.
    static func check(_ p: ProjectRecord) throws {
        try RegistryRules.project(id: p.id, name: p.name, repositoryUrl: p.repositoryUrl, team: p.team, branch: p.branch,
                                  profile: p.profile, scheduleSeconds: p.scheduleSeconds)
    }

    /// Merges records from a peer in one transaction. Newer writes replace older ones, older and
    /// equal ones are ignored, future-stamped ones are refused and counted, a record whose value
    /// does not decode is counted as malformed and one that breaks `RegistryRules` (an id that is
    /// not a name: it would become a path) as invalid; neither is ever applied, not even in part.
    /// `keepSecrets`: a project value without secrets (from an air-gap bundle, which never carries
    /// them) keeps the secrets this node already holds for the project.
    @discardableResult
    public func merge(_ records: [RegistryRecord], keepSecrets: Bool = false) async throws -> MergeOutcome {
        var outcome = MergeOutcome()
        var changed: [Applied] = []
        let wall = Self.wallNow()
        try store.write { db in
            for r in records {
                guard Identifier.isValid(r.id) else { outcome.invalid += 1; continue }
                guard clock.withLock({ $0.observe(r.stamp, wall: wall) }) else { outcome.refused += 1; continue }
                let current = try Self.stamp(r.kind, r.id, db)
                guard r.supersedes(current?.stamp) else { outcome.stale += 1; continue }
                let team = r.kind == .project && r.isTombstone
                    ? try String.fetchOne(db, sql: "SELECT team FROM project WHERE id = ?", arguments: [r.id]) : nil
                do { try apply(r, db, keepSecrets: keepSecrets) } catch is DecodingError {
                    outcome.malformed += 1
                    continue
                } catch is InvalidRecord {
                    outcome.invalid += 1
                    continue
                }
                try Self.saveStamp(r, db)
                outcome.applied += 1
                // every registry row has a stamp: no stamp (or a tombstone) means the row is new here
                changed.append(Applied(record: r, created: !r.isTombstone && (current?.deleted ?? true), team: team))
            }
        }
        if outcome.applied > 0 { invalidateDigest(); store.invalidateSummaries() }
        if outcome.refused > 0 {
            Metrics.Counter(label: "guardian_registry_refused_total", dimensions: [("reason", "future")]).increment(by: outcome.refused)
        }
        if outcome.malformed > 0 {
            Metrics.Counter(label: "guardian_registry_refused_total", dimensions: [("reason", "malformed")]).increment(by: outcome.malformed)
        }
        if outcome.invalid > 0 {
            Metrics.Counter(label: "guardian_registry_refused_total", dimensions: [("reason", "invalid")]).increment(by: outcome.invalid)
        }
        if !changed.isEmpty, let f = hook.withLock({ $0 }) { await f(changed) }
        return outcome
    }

    /// Applies one record's value to its table (a tombstone deletes the row).
    private func apply(_ r: RegistryRecord, _ db: Database, keepSecrets: Bool) throws {
        guard let v = r.value else {
            switch r.kind {
            case .project:
                _ = try Self.delete(project: r.id, db)
                try Self.saveStamp(r, db)
                try Self.tombstoneSummary(of: r.id, db)
            case .token: _ = try TokenRecord.deleteOne(db, key: r.id)
            case .team: _ = try TeamRecord.deleteOne(db, key: r.id)
            case .dismissal: _ = try DismissalRecord.deleteOne(db, key: r.id)
            case .summary: _ = try ProjectSummary.deleteOne(db, key: r.id)
            case .channel: _ = try ChannelRow.deleteOne(db, key: r.id)
            }
            return
        }
        switch r.kind {
        case .project:
            let p = try Self.decode(ProjectValue.self, v, id: r.id, \.id)
            try RegistryRules.project(id: p.id, name: p.name, repositoryUrl: p.repositoryUrl, team: p.team, branch: p.branch, profile: p.profile,
                                      scheduleSeconds: p.scheduleSeconds, secrets: [p.webhookSecret, p.credentials, p.codeHost])
            let next: Double? = p.scheduleSeconds > 0 ? Date().timeIntervalSince1970 + Double(p.scheduleSeconds) : nil
            // Local fields (last and next audit) stay; the next audit moves only if the schedule changed.
            try db.execute(sql: """
                INSERT INTO project (id, name, repositoryUrl, team, branch, scheduleSeconds, profile, webhookSecret, credentials,
                                     createdAt, updatedAt, lastAuditAt, nextAuditAt, codeHost)
                VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, (SELECT createdAt FROM projectSummary WHERE id = ?), ?, ?)
                ON CONFLICT(id) DO UPDATE SET name = excluded.name, repositoryUrl = excluded.repositoryUrl, team = excluded.team,
                    branch = excluded.branch, profile = excluded.profile,
                    webhookSecret = \(keepSecrets ? "IFNULL(excluded.webhookSecret, project.webhookSecret)" : "excluded.webhookSecret"),
                    credentials = \(keepSecrets ? "IFNULL(excluded.credentials, project.credentials)" : "excluded.credentials"),
                    codeHost = CASE WHEN ? THEN IFNULL(excluded.codeHost, project.codeHost) ELSE excluded.codeHost END, createdAt = excluded.createdAt, updatedAt = excluded.updatedAt,
                    nextAuditAt = CASE WHEN project.scheduleSeconds = excluded.scheduleSeconds THEN project.nextAuditAt ELSE excluded.nextAuditAt END,
                    scheduleSeconds = excluded.scheduleSeconds
                """, arguments: [p.id, p.name, p.repositoryUrl, p.team, p.branch, p.scheduleSeconds, p.profile,
                                 p.webhookSecret.map { Data(secrets.seal(Array($0.utf8))) }, p.credentials.map { Data(secrets.seal(Array($0.utf8))) },
                                 p.createdAt, p.updatedAt, p.id, next, p.codeHost.flatMap { $0.isEmpty ? nil : Data(secrets.seal(Array($0.utf8))) },
                                 // a value without the field (a node of an older version, a bundle) keeps the settings; "" removes them
                                 keepSecrets || p.codeHost == nil])
        case .token:
            let t = try Self.decode(TokenRecord.self, v, id: r.id, \.id)
            try RegistryRules.token(t)
            try t.save(db)
        case .team:
            let t = try Self.decode(TeamRecord.self, v, id: r.id, \.id)
            try RegistryRules.team(t)
            try t.save(db)
        case .dismissal:
            let d = try Self.decode(DismissalRecord.self, v, id: r.id, \.id)
            try RegistryRules.dismissal(d)
            try d.save(db)
        case .summary:
            let s = try Self.decode(ProjectSummary.self, v, id: r.id, \.id)
            try RegistryRules.summary(s, now: Date().timeIntervalSince1970)
            // a summary of a deleted project is recorded (its stamp) and not stored: it must not bring the project's view back
            if try Self.stamp(.project, s.id, db)?.deleted == true { return }
            try s.save(db)
            // the fleet's "last audit" is the latest result any owner stored, wherever it is listed
            try db.execute(sql: "UPDATE project SET lastAuditAt = MAX(IFNULL(lastAuditAt, 0), ?) WHERE id = ?", arguments: [s.createdAt, s.id])
        case .channel:
            try applyChannel(v, id: r.id, db)
        }
    }

    /// A replicated value, which must name the record it is stored under.
    static func decode<T: Decodable>(_ type: T.Type, _ value: [UInt8], id: String, _ idOf: (T) -> String) throws -> T {
        let v = try JSONDecoder().decode(type, from: Data(value))
        guard idOf(v) == id else { throw DecodingError.dataCorrupted(.init(codingPath: [], debugDescription: "the value names \(idOf(v)), not \(id)")) }
        return v
    }

    // MARK: anti-entropy reads

    /// Every record's stamp, keyed `kind/id`.
    public func stamps() throws -> [String: HLC] {
        try store.read { db in
            var out: [String: HLC] = [:]
            for row in try Row.fetchAll(db, sql: "SELECT kind, id, wall, logical, node FROM registryStamp") {
                out["\(row[0] as String)/\(row[1] as String)"] = HLC(wall: row[2], logical: UInt32(clamping: row[3] as Int64), node: row[4])
            }
            return out
        }
    }

    public func digest() throws -> UInt64 {
        if let d = cachedDigest.withLock({ $0 }) { return d }
        let d = RegistrySync.digest(try stamps().map { (key: $0.key, stamp: $0.value) })
        cachedDigest.withLock { $0 = d }
        return d
    }

    func invalidateDigest() { cachedDigest.withLock { $0 = nil } }

    /// The current records under `keys` (`kind/id`), tombstones included; unknown keys are skipped.
    public func records(_ keys: [String]) throws -> [RegistryRecord] {
        try store.read { db in
            try keys.compactMap { key -> RegistryRecord? in
                guard let slash = key.firstIndex(of: "/"), let kind = RegistryRecord.Kind(rawValue: String(key[..<slash])) else { return nil }
                let id = String(key[key.index(after: slash)...])
                guard let s = try Self.stamp(kind, id, db) else { return nil }
                if s.deleted { return RegistryRecord(kind: kind, id: id, stamp: s.stamp, value: nil) }
                let value: Data?
                switch kind {
                case .project: value = try ProjectRecord.fetchOne(db, key: id).map(projectValue)
                case .token: value = try TokenRecord.fetchOne(db, key: id).map { try JSONEncoder().encode($0) }
                case .team: value = try TeamRecord.fetchOne(db, key: id).map { try JSONEncoder().encode($0) }
                case .dismissal: value = try DismissalRecord.fetchOne(db, key: id).map { try JSONEncoder().encode($0) }
                case .summary: value = try ProjectSummary.fetchOne(db, key: id).map { Data(try ProjectSummary.encoded($0).utf8) }
                case .channel: value = try channelValue(id: id, db)
                }
                return value.map { RegistryRecord(kind: kind, id: id, stamp: s.stamp, value: [UInt8]($0)) }
            }
        }
    }

    /// Registry records as an air-gap bundle carries them: projects, teams and dismissals (never
    /// tokens or alert channels, which are credentials), with project secrets removed; optionally only one project (with its team and
    /// dismissals) or writes since a time. The projects in `including` (those of the exported
    /// results), their teams and dismissals are always carried, so that a bundle imports on a node
    /// that never saw them.
    public func exportable(project: String?, since: Double?, including: [String] = []) throws -> [RegistryRecord] {
        var keys: Set<String> = []
        for p in Set(including + (project.map { [$0] } ?? [])) {
            keys.insert("project/\(p)")
            if let team = try store.project(id: p)?.team { keys.insert("team/\(team)") }
            for d in try store.dismissals(project: p) { keys.insert("dismissal/\(d.id)") }
            keys.insert("summary/\(p)")
        }
        if project == nil {
            for (key, stamp) in try stamps() where !key.hasPrefix("token/") && !key.hasPrefix("channel/") {
                if let since, stamp.wall < Int64((since * 1000).rounded(.down)) { continue } // stamps are in ms
                keys.insert(key)
            }
        }
        return try records(keys.sorted()).map { r in
            guard r.kind == .project, let v = r.value, var p = try? JSONDecoder().decode(ProjectValue.self, from: Data(v)) else { return r }
            p.webhookSecret = nil
            p.credentials = nil
            p.codeHost = nil
            let e = JSONEncoder()
            e.outputFormatting = .sortedKeys
            return RegistryRecord(kind: r.kind, id: r.id, stamp: r.stamp, value: [UInt8](try e.encode(p)))
        }
    }

    // MARK: storage

    /// What replicates of a project: everything but the local audit times, secrets in clear.
    struct ProjectValue: Codable {
        var id, name, repositoryUrl, team: String
        var branch: String?
        var scheduleSeconds: Int
        var profile: String
        var webhookSecret, credentials: String?
        var createdAt, updatedAt: Double
        /// The project's code host settings with their token (`CodeHost` as JSON), "" for none;
        /// absent from the values of older versions and from bundles.
        var codeHost: String?
    }

    func projectValue(_ p: ProjectRecord) throws -> Data {
        func open(_ d: Data?) -> String? { d.flatMap { try? secrets.open([UInt8]($0)) }.map { String(decoding: $0, as: UTF8.self) } }
        let e = JSONEncoder()
        e.outputFormatting = .sortedKeys
        return try e.encode(ProjectValue(id: p.id, name: p.name, repositoryUrl: p.repositoryUrl, team: p.team, branch: p.branch,
                                         scheduleSeconds: p.scheduleSeconds, profile: p.profile, webhookSecret: open(p.webhookSecret),
                                         credentials: open(p.credentials), createdAt: p.createdAt, updatedAt: p.updatedAt,
                                         codeHost: open(p.codeHost) ?? ""))
    }

    static func stamp(_ kind: RegistryRecord.Kind, _ id: String, _ db: Database) throws -> (stamp: HLC, deleted: Bool)? {
        try Row.fetchOne(db, sql: "SELECT wall, logical, node, deleted FROM registryStamp WHERE kind = ? AND id = ?", arguments: [kind.rawValue, id])
            .map { (HLC(wall: $0[0], logical: UInt32(clamping: $0[1] as Int64), node: $0[2]), $0[3]) }
    }

    static func saveStamp(_ r: RegistryRecord, _ db: Database) throws {
        try db.execute(sql: "INSERT OR REPLACE INTO registryStamp (kind, id, wall, logical, node, deleted) VALUES (?, ?, ?, ?, ?, ?)",
                       arguments: [r.kind.rawValue, r.id, r.stamp.wall, Int64(r.stamp.logical), r.stamp.node, r.isTombstone])
    }

    static func delete(project id: String, _ db: Database) throws -> Bool {
        try db.execute(sql: "DELETE FROM finding WHERE resultSeq IN (SELECT seq FROM result WHERE projectId = ?)", arguments: [id])
        try db.execute(sql: "DELETE FROM dismissal WHERE projectId = ?", arguments: [id])
        try db.execute(sql: "DELETE FROM projectSummary WHERE id = ?", arguments: [id])
        try ResultRecord.filter(Column("projectId") == id).deleteAll(db)
        return try ProjectRecord.deleteOne(db, key: id)
    }
}
