import Foundation
import GuardianCore
import Testing
@testable import GuardianNode
@testable import GuardianStore

/// A full disk gives a clear error and loses nothing that was acknowledged. Runs on a small tmpfs,
/// which needs root (CI runs as root); elsewhere the test is skipped.
@Suite struct StoreFullDiskTests {
    static let canMount: Bool = {
        guard getuid() == 0 else { return false }
        let probe = FileManager.default.temporaryDirectory.appendingPathComponent("guardian-mount-probe-\(getpid())").path
        try? FileManager.default.createDirectory(atPath: probe, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(atPath: probe) }
        let ok = (try? run("/bin/mount", ["-t", "tmpfs", "-o", "size=64k", "tmpfs", probe])) == 0
        if ok { _ = try? run("/bin/umount", [probe]) }
        return ok
    }()

    static func run(_ exe: String, _ args: [String]) throws -> Int32 {
        let p = Process()
        p.executableURL = URL(fileURLWithPath: exe)
        p.arguments = args
        p.standardOutput = FileHandle.nullDevice
        p.standardError = FileHandle.nullDevice
        try p.run()
        p.waitUntilExit()
        return p.terminationStatus
    }

    @Test(.enabled(if: canMount, "needs root to mount a small tmpfs"))
    func fullDiskIsAClearErrorAndLosesNothing() throws {
        let dir = FileManager.default.temporaryDirectory.appendingPathComponent("guardian-full-\(UUID())").path
        try FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true)
        // room for a fresh store (512 KiB stopped being enough for its migrations at v8) and a few results
        #expect(try Self.run("/bin/mount", ["-t", "tmpfs", "-o", "size=1024k", "tmpfs", dir]) == 0)
        defer { _ = try? Self.run("/bin/umount", [dir]); try? FileManager.default.removeItem(atPath: dir) }
        let store = try Store(path: dir + "/guardian.sqlite")
        let now = Date().timeIntervalSince1970
        try ReplicatedRegistry.local(store).insert(project: ProjectRecord(id: "p", name: "p", repositoryUrl: "/x", team: "default", branch: nil, scheduleSeconds: 0,
                                                profile: "default", webhookSecret: nil, credentials: nil, createdAt: now, updatedAt: now,
                                                lastAuditAt: nil, nextAuditAt: nil))
        var acknowledged: [String] = []
        var failure: (any Error)?
        for i in 0..<10_000 {
            let envelope = Data((0..<8_000).map { UInt8(truncatingIfNeeded: $0 &* 31 &+ i) })
            let r = ResultRecord(id: "r\(i)", projectId: "p", commitId: nil, createdAt: now + Double(i), signer: "s", health: 50,
                                 gatePassed: true, envelope: envelope)
            do {
                try store.insert(result: r, findings: [FindingRecord(resultId: r.id, projectId: "p", checkName: "strict", ruleId: "strict/x",
                                                                     severity: "low", file: "a", line: 1, message: "m", fingerprint: "f\(i)", isNew: false)])
                acknowledged.append(r.id)
            } catch {
                failure = error
                break
            }
        }
        let error = try #require(failure, "the disk never filled up")
        #expect((error as? GuardianError)?.description.contains("full") == true, "\(error)")
        #expect(acknowledged.count > 5)
        // every acknowledged result is intact; the failed one left nothing behind
        for id in acknowledged { #expect(try store.result(id: id) != nil) }
        #expect(try store.result(id: "r\(acknowledged.count)") == nil)
        #expect(try store.findings(result: "r\(acknowledged.count)", check: nil, severity: nil, onlyNew: false, limit: 10).isEmpty)
    }
}
