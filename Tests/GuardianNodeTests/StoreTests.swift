import Foundation
import GRDB
import GuardianCore
import GuardianTestKit
import Testing
@testable import GuardianNode
@testable import GuardianStore

/// The store's write path: group commit under concurrency, idempotent inserts, read-only disks.
@Suite struct StoreTests {
    static func project(_ id: String) -> ProjectRecord {
        let now = Date().timeIntervalSince1970
        return ProjectRecord(id: id, name: id, repositoryUrl: "/x/\(id)", team: "default", branch: nil, scheduleSeconds: 0, profile: "default",
                             webhookSecret: nil, credentials: nil, createdAt: now, updatedAt: now, lastAuditAt: nil, nextAuditAt: nil)
    }

    static func result(_ i: Int, project: String = "p") -> (ResultRecord, [FindingRecord]) {
        let r = ResultRecord(id: "r\(i)", projectId: project, commitId: nil, createdAt: Double(1_000 + i), signer: "s", health: 50,
                             gatePassed: true, envelope: Data("envelope \(i)".utf8))
        let f = (0..<3).map { (k: Int) in
            FindingRecord(resultId: r.id, projectId: project, checkName: "strict", ruleId: "strict/x", severity: "low", file: "f\(k)",
                          line: k, message: "m", fingerprint: "f\(i)-\(k)", isNew: false)
        }
        return (r, f)
    }

    static func tempStore() throws -> (Store, String) {
        let dir = FileManager.default.temporaryDirectory.appendingPathComponent("guardian-store-\(UUID())").path
        try FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true)
        let store = try Store(path: dir + "/guardian.sqlite")
        try ReplicatedRegistry.local(store).insert(project: project("p"))
        return (store, dir)
    }

    /// One batch with results of two projects, out of order: each project's last audit time becomes
    /// its newest inserted result's; an older batch does not move it back.
    @Test func aBatchMovesEachProjectsLastAuditToItsNewestResult() throws {
        let (store, dir) = try Self.tempStore()
        defer { try? FileManager.default.removeItem(atPath: dir) }
        try ReplicatedRegistry.local(store).insert(project: Self.project("q"))
        try store.insert(results: [Self.result(5), Self.result(9, project: "q"), Self.result(7), Self.result(3, project: "q")])
        #expect(try store.project(id: "p")?.lastAuditAt == 1_007)
        #expect(try store.project(id: "q")?.lastAuditAt == 1_009)
        try store.insert(results: [Self.result(1), Self.result(2, project: "q")])
        #expect(try store.project(id: "p")?.lastAuditAt == 1_007)
        #expect(try store.project(id: "q")?.lastAuditAt == 1_009)
    }

    /// Many threads insert at once: every result is stored exactly once with its findings, commits
    /// are shared (fewer transactions than results), and the project's last audit time is the newest.
    @Test func concurrentInsertsShareCommitsAndLoseNothing() throws {
        let (store, dir) = try Self.tempStore()
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let threads = 8, each = 40
        let group = DispatchGroup()
        let errors = ErrorBox()
        for t in 0..<threads {
            group.enter()
            Thread.detachNewThread {
                for k in 0..<each {
                    do { try store.insert(results: [Self.result(t * each + k)]) } catch { errors.add(error) }
                }
                group.leave()
            }
        }
        group.wait()
        #expect(errors.all.isEmpty)
        #expect(try store.resultCount() == threads * each)
        for i in [0, 77, threads * each - 1] {
            #expect(try store.findings(result: "r\(i)", check: nil, severity: nil, onlyNew: false, limit: 10).count == 3)
        }
        let stats = store.commitStats
        #expect(stats.results == threads * each)
        // eight threads queue while each commit is written: commits are shared (one per result
        // would mean every caller waited for a commit of its own)
        #expect(stats.commits < stats.results, "\(stats.commits) commits for \(stats.results) results")
        // and every acknowledged result waited for a WAL sync, shared as well
        #expect(stats.syncs >= 1 && stats.syncs <= stats.commits, "\(stats.syncs) syncs for \(stats.commits) commits")
        #expect(try store.project(id: "p")?.lastAuditAt == Double(1_000 + threads * each - 1))
    }

    /// A bulk load holds the background checkpoints back: the database file does not grow while it
    /// runs (its commits are in the WAL), and after it the checkpoint copies them in.
    @Test func bulkLoadsHoldCheckpointsBackUntilTheyEnd() async throws {
        let (store, dir) = try Self.tempStore()
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let db = dir + "/guardian.sqlite"
        func size(_ path: String) throws -> Int {
            try #require(try FileManager.default.attributesOfItem(atPath: path)[.size] as? Int, "no size for \(path)")
        }
        // the registration's checkpoint: once nothing is pending, the file only grows by a checkpoint
        try await eventually("the registration checkpointed", timeout: 10) {
            let before = try size(db)
            try await Task.sleep(for: .milliseconds(150))
            return try size(db) == before
        }
        let before = try size(db)
        try await store.bulkLoad {
            for batch in 0..<4 { try await store.insert(results: (0..<100).map { Self.result(batch * 100 + $0) }) }
            // a checkpoint fell due during the load and was held back: only then does "unchanged" say something
            let held = store.checkpointer.heldBack
            try await eventually("a due checkpoint held back", timeout: 10) { store.checkpointer.heldBack > held }
            #expect(try size(db) == before, "nothing was copied into the database file during the load")
            #expect(try size(db + "-wal") > 0)
        }
        try await eventually("the checkpoint ran after the load", timeout: 10) { try size(db) > before }
        #expect(try store.resultCount() == 400)
    }

    /// After a bulk load the checkpoint empties the WAL and the next write cuts the file back to the
    /// limit, instead of the WAL keeping the size of the whole load beside the database.
    @Test func theWALShrinksBackAfterABulkLoad() async throws {
        let dir = FileManager.default.temporaryDirectory.appendingPathComponent("guardian-store-\(UUID())").path
        try FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let limit = 32 << 10
        let store = try Store(path: dir + "/guardian.sqlite", walSizeLimit: limit)
        try ReplicatedRegistry.local(store).insert(project: Self.project("p"))
        let wal = dir + "/guardian.sqlite-wal"
        func size() -> Int { ((try? FileManager.default.attributesOfItem(atPath: wal))?[.size] as? Int) ?? 0 }
        try await store.bulkLoad {
            try store.insert(results: (0..<2000).map { Self.result($0) })
        }
        let loaded = size()
        #expect(loaded > 4 * limit, "the load went through the WAL (\(loaded) bytes)")
        // the checkpoint after the load runs within a few hundred ms; each later write restarts the WAL
        // once it has been copied in, and cuts it back to the limit then
        var n = 2000
        let deadline = Date().addingTimeInterval(20)
        while size() > limit && Date() < deadline {
            try await Task.sleep(for: .milliseconds(100))
            try await store.insert(results: [Self.result(n)])
            n += 1
        }
        #expect(size() <= limit, "WAL still \(size()) bytes (limit \(limit))")
        #expect(try store.resultCount() == n)
    }

    /// Every write outside the group committer (projects, teams, tokens, hints) is durable when it
    /// returns: the writer connection syncs the WAL on every commit (`synchronous=FULL`, 2), also
    /// right after a group-committer transaction (which commits with NORMAL and syncs the WAL
    /// itself). GRDB's pool sets its writer to NORMAL (1) when it turns WAL on, which syncs only at
    /// checkpoints; the store had run that way unnoticed, because a process crash (the kill -9
    /// test) loses nothing either way: only a power cut does.
    @Test func theWriterSyncsEveryCommit() throws {
        let (store, dir) = try Self.tempStore()
        defer { try? FileManager.default.removeItem(atPath: dir) }
        try store.insert(results: [Self.result(1)])
        let writer = try store.db.writeWithoutTransaction { try Int.fetchOne($0, sql: "PRAGMA synchronous") }
        #expect(writer == 2, "the writer's synchronous is \(writer.map(String.init) ?? "nil"), not FULL (2)")
        // and after a reopen (the pool's setup runs again)
        let again = try Store(path: dir + "/guardian.sqlite")
        #expect(try again.db.writeWithoutTransaction { try Int.fetchOne($0, sql: "PRAGMA synchronous") } == 2)
    }

    /// The group committer commits without a sync and syncs the WAL itself before it acknowledges:
    /// one caller at a time, each result waits for a sync of its own (none can be shared, since the
    /// next insert starts only after the previous one was acknowledged). The writer connection is
    /// back at FULL afterwards for every other write.
    @Test func everyAcknowledgedResultWaitedForAWALSync() throws {
        let (store, dir) = try Self.tempStore()
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let before = store.commitStats
        for i in 0..<20 { try store.insert(results: [Self.result(i)]) }
        let after = store.commitStats
        #expect(after.commits - before.commits == 20)
        #expect(after.syncs - before.syncs == 20, "\(after.syncs - before.syncs) WAL syncs for 20 acknowledged inserts")
        #expect(after.results - before.results == 20)
        #expect(try store.db.writeWithoutTransaction { try Int.fetchOne($0, sql: "PRAGMA synchronous") } == 2)
    }

    /// A commit whose WAL cannot be synced is not acknowledged: the caller gets a clear error. (The
    /// WAL is unlinked under the open store, so the syncer cannot open it; a disk that fails the
    /// `fdatasync` itself takes the same path.)
    @Test func aCommitThatCannotBeSyncedIsNotAcknowledged() async throws {
        let (store, dir) = try Self.tempStore()
        defer { try? FileManager.default.removeItem(atPath: dir) }
        // the blocking insert (an async context would pick the async one)
        func blocking(_ n: Int) throws { try store.insert(results: [Self.result(n)]) }
        try blocking(1)
        try await store.insert(results: [Self.result(3)])
        let before = store.commitStats
        try FileManager.default.removeItem(atPath: dir + "/guardian.sqlite-wal")
        let error = #expect(throws: GuardianError.self) { try blocking(2) }
        #expect(error?.description.contains("could not be made durable") == true, "\(String(describing: error))")
        // a caller that awaits (replicas, imports) is failed the same way
        await #expect(throws: GuardianError.self) { try await store.insert(results: [Self.result(4)]) }
        let after = store.commitStats
        #expect(after.results == before.results, "nothing was acknowledged")
        #expect(after.syncs == before.syncs + 2)
    }

    /// The writer's page cache is large only while a bulk load runs (two at once: until both end).
    @Test func theWritersCacheIsLargeOnlyDuringBulkLoads() async throws {
        let (store, dir) = try Self.tempStore()
        defer { try? FileManager.default.removeItem(atPath: dir) }
        func cache() throws -> Int? { try store.db.writeWithoutTransaction { try Int.fetchOne($0, sql: "PRAGMA cache_size") } }
        #expect(try cache() == -Store.cacheKiB)
        let during = try await store.bulkLoad { () async throws -> [Int?] in
            let outer = try cache()
            let inner = try await store.bulkLoad { () async throws -> Int? in try cache() }
            return [outer, inner, try cache()]
        }
        #expect(during == [-Store.bulkCacheKiB, -Store.bulkCacheKiB, -Store.bulkCacheKiB], "the outer load still runs after the inner one")
        #expect(try cache() == -Store.cacheKiB)
    }

    /// Checkpoints wait for a pause in the writes, or a second of writes without one; none while a
    /// bulk load holds them back, none without a write.
    @Test func checkpointsWaitForAPauseOrASecondOfWrites() {
        let ms: UInt64 = 1_000_000
        var p = CheckpointPolicy()
        var due = p.take(at: 5_000 * ms)
        #expect(!due, "nothing written: no checkpoint")
        // a steady burst, one commit every 10 ms: no checkpoint until a second after its first write
        var t: UInt64 = 10_000 * ms
        var taken: [UInt64] = []
        for _ in 0..<250 {
            p.wrote(at: t)
            if p.take(at: t + 5 * ms) { taken.append(t + 5 * ms - 10_000 * ms) }
            t += 10 * ms
        }
        #expect(taken.count == 2, "one checkpoint a second during the 2.5 s burst: \(taken)")
        #expect(taken.first.map { $0 >= 1_000 * ms && $0 < 1_020 * ms } == true)
        // the burst ends: due once the writes have paused for 100 ms, then not again
        due = p.take(at: t + 50 * ms)
        #expect(!due)
        due = p.take(at: t + 100 * ms)
        #expect(due)
        due = p.take(at: t + 200 * ms)
        #expect(!due, "nothing new since")
        // held back by a bulk load, then due as soon as it ends
        p.paused += 1
        p.wrote(at: t + 300 * ms)
        due = p.take(at: t + 2_000 * ms)
        #expect(!due)
        p.paused -= 1
        due = p.take(at: t + 2_000 * ms)
        #expect(due)
    }

    /// Ids are content hashes: storing the same result twice keeps one copy and one set of findings.
    @Test func duplicateInsertIsIgnored() throws {
        let (store, dir) = try Self.tempStore()
        defer { try? FileManager.default.removeItem(atPath: dir) }
        try store.insert(results: [Self.result(1), Self.result(2)])
        try store.insert(results: [Self.result(1)])
        #expect(try store.resultCount() == 2)
        #expect(try store.findings(result: "r1", check: nil, severity: nil, onlyNew: false, limit: 10).count == 3)
    }

    /// A store on a file system that is read-only (remounted after the data was written) gives a
    /// clear error when it is opened or written, and what was stored is intact and readable.
    @Test(.enabled(if: StoreFullDiskTests.canMount, "needs root to mount a tmpfs"))
    func readOnlyStoreIsAClearError() throws {
        let dir = FileManager.default.temporaryDirectory.appendingPathComponent("guardian-ro-\(UUID())").path
        try FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true)
        #expect(try StoreFullDiskTests.run("/bin/mount", ["-t", "tmpfs", "-o", "size=8m", "tmpfs", dir]) == 0)
        defer { _ = try? StoreFullDiskTests.run("/bin/umount", ["-l", dir]); try? FileManager.default.removeItem(atPath: dir) }
        do {
            let store = try Store(path: dir + "/guardian.sqlite")
            try ReplicatedRegistry.local(store).insert(project: Self.project("p"))
            try store.insert(results: [Self.result(1)])
        }
        #expect(try StoreFullDiskTests.run("/bin/mount", ["-o", "remount,ro", dir]) == 0)
        do {
            let store = try Store(path: dir + "/guardian.sqlite")
            let error = #expect(throws: GuardianError.self) { try store.insert(results: [Self.result(2)]) }
            #expect(error?.description.contains("read-only") == true, "\(String(describing: error))")
            #expect(try store.result(id: "r1") != nil)
            #expect(try store.result(id: "r2") == nil)
        } catch let error as GuardianError {
            // SQLite may refuse to open a WAL database it cannot write at all: that too must say why.
            #expect(error.description.contains("cannot open the store") && error.description.lowercased().contains("read"), "\(error)")
        }
    }

    /// A store written by the v2 schema (findings keyed by result id) opens under v3 with every
    /// result and finding kept, findings attached to their result's new sequence number.
    @Test func migrationToAppendOnlyResultsKeepsEverything() throws {
        let dir = FileManager.default.temporaryDirectory.appendingPathComponent("guardian-mig-\(UUID())").path
        try FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let path = dir + "/guardian.sqlite"
        do {
            let old = try DatabaseQueue(path: path)
            try Store.migrator.migrate(old, upTo: "v2-registry")
            try old.write { db in
                for i in 0..<3 {
                    try db.execute(sql: "INSERT INTO result (id, projectId, commitId, createdAt, signer, health, gatePassed, envelope) VALUES (?, 'p', NULL, ?, 's', 50, 1, ?)",
                                   arguments: ["r\(i)", Double(i), Data("e\(i)".utf8)])
                    for k in 0..<(i + 1) {
                        try db.execute(sql: """
                            INSERT INTO finding (resultId, projectId, checkName, ruleId, severity, file, line, message, fingerprint, isNew)
                            VALUES (?, 'p', 'strict', 'strict/x', 'low', 'f', ?, 'm', ?, 0)
                            """, arguments: ["r\(i)", k, "fp\(i)-\(k)"])
                    }
                }
            }
        }
        let store = try Store(path: path)
        #expect(try store.resultCount() == 3)
        for i in 0..<3 {
            #expect(try store.result(id: "r\(i)")?.envelope == Data("e\(i)".utf8))
            let fs = try store.findings(result: "r\(i)", check: nil, severity: nil, onlyNew: false, limit: 100)
            #expect(fs.map(\.fingerprint).sorted() == (0..<(i + 1)).map { "fp\(i)-\($0)" })
        }
        // new results append after the migrated ones and keep their own findings
        try store.insert(results: [Self.result(9)])
        #expect(try store.findings(result: "r9", check: nil, severity: nil, onlyNew: false, limit: 100).count == 3)
        #expect(try store.latestFingerprints(project: "p") == Set((0..<3).map { "f9-\($0)" }))
    }
}

final class ErrorBox: @unchecked Sendable {
    private let lock = NSLock()
    private var errors: [any Error] = []
    func add(_ e: any Error) { lock.lock(); errors.append(e); lock.unlock() }
    var all: [any Error] { lock.lock(); defer { lock.unlock() }; return errors }
}
