import Foundation
import GRDB
import GuardianAudit
import GuardianCore
import GuardianCrypto
import GuardianNode
import GuardianStore
import GuardianTestKit
import Synchronization
import Testing

/// `guardian backup` and `guardian restore` through the real binary, against a store that is being
/// written: a backup taken during a burst of 1,000 signed results, each acknowledged by its own
/// durable commit, restores to a store that verifies and holds every result acknowledged before the
/// backup began.
@Suite struct BackupTests {
    /// Stores `count` results one commit at a time on a thread of its own (not the test pool's), and
    /// records each id once its commit returned.
    final class Burst: Sendable {
        let acknowledged = Mutex<[String]>([])
        let finished = Mutex<(done: Bool, error: String?)>((false, nil))
        /// The writer waits at result 600 until the backup has been started, so that the backup
        /// always runs while results are still being committed, however fast this disk is.
        let backupStarted = Mutex(false)

        func start(_ n: Node, project: String, count: Int) {
            let t = Thread { [self] in
                do {
                    let now = Date().timeIntervalSince1970 - Double(count)
                    for i in 0..<count {
                        if i == 600 { while !backupStarted.withLock({ $0 }) { usleep(1_000) } }
                        var report = AuditReport.sample(findings: 2)
                        report.subject = AuditSubject(repository: "/nonexistent/backup/\(project).git", commit: String(format: "%040x", i),
                                                      revision: "HEAD", isGitRepository: true, project: project)
                        let ms = Int64((now + Double(i)) * 1000)
                        let (r, f) = ResultRecord.signed(report, envelope: try Attestation.sign(report.forSigning(atMs: ms), key: n.identity),
                                                         project: project, signer: n.nodeID, at: Timestamp.seconds(ms))
                        try n.store.insert(results: [(r, f)])
                        acknowledged.withLock { $0.append(r.id) }
                    }
                    finished.withLock { $0.done = true }
                } catch {
                    finished.withLock { $0 = (true, "\(error)") }
                }
            }
            t.start()
        }
    }

    @Test func backupDuringABurstRestoresEveryAcknowledgedResult() async throws {
        let n = try TestNode.make("backup")
        try n.registry.insert(project: ProjectRecord(id: "svc", name: "svc", repositoryUrl: "/nonexistent/backup/svc.git", team: "default",
                                                     branch: nil, scheduleSeconds: 0, profile: "default", webhookSecret: nil, credentials: nil,
                                                     createdAt: 0, updatedAt: 0, lastAuditAt: nil, nextAuditAt: nil))
        let burst = Burst()
        burst.start(n, project: "svc", count: 1_000)
        try await eventually("200 results acknowledged", timeout: 120) { burst.acknowledged.withLock { $0.count } >= 200 }
        let before = Set(burst.acknowledged.withLock { $0 })
        let out = NSTemporaryDirectory() + "guardian-backup-\(UUID()).bak"
        burst.backupStarted.withLock { $0 = true }
        let b = try await CommandRunner.runAsync(GuardianBinary.path, ["backup", "--data-dir", n.dataDir.path, "--output", out])
        #expect(b.status == 0, "backup: \(b.stderr)")
        let during = burst.acknowledged.withLock { $0.count }
        try await eventually("the burst to finish", timeout: 300) { burst.finished.withLock { $0.done } }
        #expect(burst.finished.withLock { $0.error } == nil)
        #expect(burst.acknowledged.withLock { $0.count } == 1_000)
        // results were committed while the backup ran
        #expect(during > before.count, "no result was committed during the backup: the test did not test a running writer")

        let target = NSTemporaryDirectory() + "guardian-restored-\(UUID())"
        let r = try await CommandRunner.runAsync(GuardianBinary.path, ["restore", out, "--data-dir", target])
        #expect(r.status == 0, "restore: \(r.stderr)")
        let restored = try Store(path: target + "/guardian.sqlite")
        let ids = Set(try restored.results(project: "svc", limit: 2_000, before: nil).map(\.id))
        #expect(before.isSubset(of: ids), "\(before.subtracting(ids).count) acknowledged results missing from the restored store")
        #expect(ids.count >= before.count && ids.count <= 1_000)
        #expect(r.stdout.contains("\(ids.count) results verified"), "\(r.stdout)")
        // the restored node is the same node: same identity, and its results verify with its key
        let key = try String(contentsOfFile: target + "/identity.pub", encoding: .utf8)
        #expect(key == (try String(contentsOfFile: n.dataDir.file("identity.pub"), encoding: .utf8)))
        #expect(try restored.scrub(after: 0, limit: 2_000).corrupt.isEmpty)
        #expect(FileManager.default.fileExists(atPath: target + "/secret.key"))
        #expect(try restored.project(id: "svc") != nil)
    }

    @Test func restoreRefusesADataDirectoryInUseAndATamperedBackup() async throws {
        let n = try TestNode.make("backup-refusals")
        try AirGapTests.seed(n, projects: ["app"], results: 5)
        let out = NSTemporaryDirectory() + "guardian-backup-\(UUID()).bak"
        #expect(try await CommandRunner.runAsync(GuardianBinary.path, ["backup", "--data-dir", n.dataDir.path, "--output", out]).status == 0)
        // never over an existing file, never into a data directory with something in it
        let again = try await CommandRunner.runAsync(GuardianBinary.path, ["backup", "--data-dir", n.dataDir.path, "--output", out])
        #expect(again.status == 2 && again.stderr.contains("exists"))
        let busy = try await CommandRunner.runAsync(GuardianBinary.path, ["restore", out, "--data-dir", n.dataDir.path])
        #expect(busy.status == 2 && busy.stderr.contains("not empty"), "\(busy.stderr)")

        // a result whose envelope was changed in the backup: the restore stops and writes nothing
        let tampered = out + ".tampered"
        try FileManager.default.copyItem(atPath: out, toPath: tampered)
        let q = try DatabaseQueue(path: tampered)
        try await q.write { db in
            let (id, envelope): (String, Data) = try #require(try Row.fetchOne(db, sql: "SELECT id, envelope FROM result LIMIT 1").map { ($0["id"], $0["envelope"]) })
            var bytes = [UInt8](envelope)
            let at = try #require(bytes.firstRange(of: Array("\"payload\"".utf8))).upperBound + 10
            bytes[at] = bytes[at] == UInt8(ascii: "A") ? UInt8(ascii: "B") : UInt8(ascii: "A")
            try db.execute(sql: "UPDATE result SET envelope = ? WHERE id = ?", arguments: [Data(bytes), id])
        }
        try q.close()
        let target = NSTemporaryDirectory() + "guardian-restored-\(UUID())"
        let r = try await CommandRunner.runAsync(GuardianBinary.path, ["restore", tampered, "--data-dir", target])
        #expect(r.status == 2, "\(r.stdout) \(r.stderr)")
        #expect(r.stderr.contains("does not match its id") || r.stderr.contains("damaged"), "\(r.stderr)")
        #expect(!FileManager.default.fileExists(atPath: target + "/guardian.sqlite"))
    }
}
