import Foundation
import GuardianCore
import GuardianTestKit
import Testing
@testable import GuardianAudit

/// The facts cache answers for a file only what analysing that file would: keys hash the path, and
/// a one-off audit's snapshot file is a shortcut that never changes a report.
@Suite struct FactsCacheTests {
    static let shim = "public func shimmed(_ x: Int) -> Int {\n    x + 1\n}\n"

    static func cacheDirectory() -> String {
        FileManager.default.temporaryDirectory.appendingPathComponent("guardian-facts-\(UUID())").path
    }

    static func audit(_ repo: FixtureRepo, cache: String?, inMemory: Bool) throws -> AuditReport {
        var o = AuditOptions(target: repo.path)
        o.cacheDirectory = cache
        o.keepsFactsInMemory = inMemory
        o.jobs = 2
        return try Auditor.run(o)
    }

    static func undocumented(_ r: AuditReport) -> [String] {
        r.allViolations.filter { $0.ruleId == "sages/undocumented-public-api" }.compactMap(\.file).sorted()
    }

    /// The same blob under an underscored module (not public API) and under a public one: the
    /// facts differ by path, so a cache keyed by content and role alone answered one with the other.
    @Test(arguments: [true, false])
    func theSameBlobAtTwoPathsKeepsEachPathsFacts(inMemory: Bool) throws {
        let repo = try FixtureRepo()
        try repo.write("Sources/_Impl/Shim.swift", Self.shim)
        try repo.write("Sources/Impl/Shim.swift", Self.shim)
        try repo.commit("feat: shim")
        let cache = Self.cacheDirectory()
        defer { try? FileManager.default.removeItem(atPath: cache) }
        if inMemory { Auditor.resetMemoryCache() }
        let uncached = try Self.audit(repo, cache: nil, inMemory: inMemory)
        #expect(Self.undocumented(uncached) == ["Sources/Impl/Shim.swift"])
        let cold = try Self.audit(repo, cache: cache, inMemory: inMemory)
        if inMemory { Auditor.resetMemoryCache() } // the second read comes from disk
        let warm = try Self.audit(repo, cache: cache, inMemory: inMemory)
        #expect(warm.timing.cacheMisses == 0)
        #expect(cold.withoutTiming() == uncached.withoutTiming())
        #expect(warm.withoutTiming() == uncached.withoutTiming())
    }

    @Test func oneOffAuditsReadTheRepositorySnapshotAndSurviveABrokenOne() throws {
        let repo = try Planted.make()
        let cache = Self.cacheDirectory()
        defer { try? FileManager.default.removeItem(atPath: cache) }
        let cold = try Self.audit(repo, cache: cache, inMemory: false)
        let snapshots = try FileManager.default.contentsOfDirectory(atPath: cache + "/snapshots").filter { $0.hasSuffix(".facts") }
        #expect(snapshots.count == 1)
        let snapshot = cache + "/snapshots/" + snapshots[0]
        let written = try Data(contentsOf: URL(fileURLWithPath: snapshot))
        #expect(written.starts(with: Array("GFS1".utf8)))
        #expect(FactsSnapshot.entries([UInt8](written)).count == cold.timing.cacheMisses)

        // one changed file, with the database moved away: every other file's facts come from the
        // snapshot, and the report is what an audit without any cache says
        let fm = FileManager.default
        for suffix in ["", "-wal", "-shm"] where fm.fileExists(atPath: cache + "/analysis.sqlite" + suffix) {
            try fm.moveItem(atPath: cache + "/analysis.sqlite" + suffix, toPath: cache + "/aside.sqlite" + suffix)
        }
        try repo.write("app/planted.py", Planted.python + "\n\ndef extra(y):\n    \"\"\"Doc.\"\"\"\n    return eval(y)\n")
        try repo.commit("feat: extra")
        let incremental = try Self.audit(repo, cache: cache, inMemory: false)
        #expect(incremental.timing.cacheMisses == 1)
        #expect(incremental.withoutTiming() == (try Self.audit(repo, cache: nil, inMemory: false)).withoutTiming())
        // the changed file's entry was appended; the rest of the file is as it was
        let appended = try Data(contentsOf: URL(fileURLWithPath: snapshot))
        #expect(appended.count > written.count && appended.prefix(written.count) == written)
        #expect(FactsSnapshot.entries([UInt8](appended)).count == cold.timing.cacheMisses + 1)
        let again = try Self.audit(repo, cache: cache, inMemory: false)
        #expect(again.timing.cacheMisses == 0)
        #expect(try Data(contentsOf: URL(fileURLWithPath: snapshot)) == appended)

        // the database back as the cold audit left it (without the changed file), then a snapshot
        // cut short (its last entry, the changed file, lost: analysed again), then one of garbage
        // (all from the database, which now holds the changed file too)
        for suffix in ["", "-wal", "-shm"] {
            try? fm.removeItem(atPath: cache + "/analysis.sqlite" + suffix)
            if fm.fileExists(atPath: cache + "/aside.sqlite" + suffix) {
                try fm.moveItem(atPath: cache + "/aside.sqlite" + suffix, toPath: cache + "/analysis.sqlite" + suffix)
            }
        }
        for (broken, misses) in [(appended.prefix(appended.count - 3), 1), (Data("GFS1".utf8) + Data(repeating: 0xff, count: 4096), 0)] {
            try broken.write(to: URL(fileURLWithPath: snapshot))
            let r = try Self.audit(repo, cache: cache, inMemory: false)
            #expect(r.timing.cacheMisses == misses)
            #expect(r.withoutTiming() == incremental.withoutTiming())
        }
        // the audit after a broken snapshot wrote a whole one again
        let rewritten = try Data(contentsOf: URL(fileURLWithPath: snapshot))
        #expect(FactsSnapshot.entries([UInt8](rewritten)).count == incremental.timing.cacheHits + incremental.timing.cacheMisses)
    }

    /// A cache that a CI runner shares between clones in new folders keeps only the latest snapshots.
    @Test func snapshotsAreBoundedKeepingTheLatest() throws {
        let cache = Self.cacheDirectory()
        defer { try? FileManager.default.removeItem(atPath: cache) }
        let dir = cache + "/snapshots"
        let base = Date().addingTimeInterval(-10_000)
        let total = FactsSnapshot.kept + 8
        for i in 0..<total {
            let path = dir + "/s\(i).facts"
            FactsSnapshot.write(path, [(key: [UInt8](repeating: UInt8(i), count: 20), facts: [1, 2, 3][...])])
            try FileManager.default.setAttributes([.modificationDate: base.addingTimeInterval(Double(i))], ofItemAtPath: path)
        }
        let left = Set(try FileManager.default.contentsOfDirectory(atPath: dir))
        #expect(left == Set((total - FactsSnapshot.kept..<total).map { "s\($0).facts" }))
        let last = FactsSnapshot.read(dir + "/s\(total - 1).facts")
        #expect(FactsSnapshot.entries(last).map { Array(last[$0.value]) } == [[1, 2, 3]])
    }
}
