import Foundation
import GuardianCrypto
import GuardianMesh
import Testing
@testable import GuardianNode
@testable import GuardianStore

/// The registry on real SQLite: local writes stamped with their rows, merges from a peer, tombstones,
/// refused future stamps, malformed values, secrets sealed per node, the clock across a restart.
@Suite struct ReplicatedRegistryTests {
    final class Replica {
        let dir: String
        let store: Store
        let registry: ReplicatedRegistry
        let box: SecretBox
        init(_ node: String, dir existing: String? = nil, key: [UInt8]? = nil) throws {
            dir = existing ?? FileManager.default.temporaryDirectory.appendingPathComponent("guardian-reg-\(UUID())").path
            try FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true)
            store = try Store(path: dir + "/guardian.sqlite")
            box = try SecretBox(key: key ?? Sodium.randomBytes(SecretBox.keyBytes))
            registry = try ReplicatedRegistry(store: store, node: node, secrets: box)
        }
        func cleanUp() { try? FileManager.default.removeItem(atPath: dir) }
    }

    static func project(_ id: String, url: String? = nil, secret: Data? = nil) -> ProjectRecord {
        let now = Date().timeIntervalSince1970
        return ProjectRecord(id: id, name: id, repositoryUrl: url ?? "/x/\(id)", team: "default", branch: nil, scheduleSeconds: 60,
                             profile: "default", webhookSecret: secret, credentials: nil, createdAt: now, updatedAt: now,
                             lastAuditAt: nil, nextAuditAt: nil)
    }

    /// Everything `a` holds, pushed to `b`.
    @discardableResult
    static func copyAll(_ a: Replica, to b: Replica) async throws -> ReplicatedRegistry.MergeOutcome {
        try await b.registry.merge(try a.registry.records(Array(try a.registry.stamps().keys)))
    }

    /// An audit's summary is read and written by point lookups (the fleet's summaries are decoded
    /// only for the fleet views), and each is kept only if newer, with the cache cold or warm.
    @Test func summariesArePointLookupsAndKeepTheNewest() throws {
        let a = try Replica("node-a")
        defer { a.cleanUp() }
        func summary(_ id: String, at t: Double, health: Int) -> ProjectSummary {
            ProjectSummary(id: id, resultId: "r-\(id)-\(Int(t))", createdAt: t, commit: nil, health: health, gatePassed: true,
                           signer: "node-a", checks: [:], trend: [health])
        }
        let now = Date().timeIntervalSince1970
        try a.registry.save(summaries: (0..<50).map { summary("p\($0)", at: now - 100, health: 50) })
        #expect(try a.store.summary(project: "p7")?.health == 50) // one row, no cache yet
        #expect(try a.store.summary(project: "missing") == nil)
        try a.registry.save(summary: summary("p7", at: now - 10, health: 90))
        try a.registry.save(summary: summary("p7", at: now - 50, health: 10)) // older: not kept
        #expect(try a.store.summary(project: "p7")?.health == 90)
        #expect(try a.store.summaries(of: ["p1", "p7", "missing"]).mapValues(\.health) == ["p1": 50, "p7": 90])
        #expect(try a.store.summaries().count == 50) // the fleet view, now cached
        #expect(try a.store.summaries(of: ["p7", "p9"]).mapValues(\.health) == ["p7": 90, "p9": 50])
        try a.registry.save(summary: summary("p9", at: now - 5, health: 70))
        #expect(try a.store.summary(project: "p9")?.health == 70)
        #expect(try a.store.summaries()["p9"]?.health == 70)
    }

    @Test func mergesLocalWritesDeletesAndSecrets() async throws {
        let a = try Replica("node-a"), b = try Replica("node-b")
        defer { a.cleanUp(); b.cleanUp() }
        try a.registry.insert(project: Self.project("p", secret: Data(a.box.seal(Array("hook-secret".utf8)))))
        let (_, tokenRecord) = Auth.newToken(role: .admin, team: nil, name: "admin")
        try a.registry.insert(token: tokenRecord)
        try a.registry.save(team: TeamRecord(id: "t", profile: "{}", updatedAt: 1))
        let first = try await Self.copyAll(a, to: b)
        #expect(first == .init(applied: 3))
        #expect(try b.registry.digest() == a.registry.digest())
        let copied = try #require(try b.store.project(id: "p"))
        // the secret was re-sealed with b's key: b can open it, and the bytes differ from a's
        let sealed = try #require(copied.webhookSecret)
        #expect(String(decoding: try b.box.open([UInt8](sealed)), as: UTF8.self) == "hook-secret")
        #expect(sealed != (try a.store.project(id: "p"))?.webhookSecret)
        #expect(try b.store.token(hash: tokenRecord.hash)?.role == "admin")

        // the same records again change nothing (idempotent)
        let again = try await Self.copyAll(a, to: b)
        #expect(again == .init(stale: 3))

        // a delete on b wins over a's older write, and a's older write does not bring it back
        let olderWrite = try a.registry.records(["project/p"])
        #expect(try b.registry.deleteProject(id: "p"))
        try await a.registry.merge(try b.registry.records(["project/p"]))
        #expect(try a.store.project(id: "p") == nil)
        #expect(try await b.registry.merge(olderWrite) == .init(stale: 1))
        #expect(try b.store.project(id: "p") == nil)
        #expect(try a.registry.digest() == b.registry.digest())
    }

    @Test func futureStampsAndMalformedValuesAreRefused() async throws {
        let a = try Replica("node-a")
        defer { a.cleanUp() }
        let wall = Int64(Date().timeIntervalSince1970 * 1000)
        let future = RegistryRecord(kind: .team, id: "t", stamp: HLC(wall: wall + 3_600_000, logical: 0, node: "evil"), value: Array("{}".utf8))
        let garbage = RegistryRecord(kind: .project, id: "q", stamp: HLC(wall: wall, logical: 0, node: "x"), value: Array("not json".utf8))
        let mismatched = RegistryRecord(kind: .token, id: "tok-1", stamp: HLC(wall: wall, logical: 0, node: "x"),
                                        value: Array(#"{"id":"tok-2","hash":"AA==","role":"admin","name":"n","createdAt":1}"#.utf8))
        let o = try await a.registry.merge([future, garbage, mismatched])
        #expect(o == .init(refused: 1, malformed: 2))
        #expect(try a.registry.stamps().isEmpty, "nothing refused is stored")
        // a later local write is stamped from the local clock, not the refused future one
        try a.registry.save(team: TeamRecord(id: "t", profile: "{}", updatedAt: 1))
        let stamp = try #require(try a.registry.stamps()["team/t"])
        #expect(stamp.wall < wall + 60_000)
    }

    @Test func twoRegistrationsOfOneRepositoryFromTwoPartitionsBothSurvive() async throws {
        let a = try Replica("node-a"), b = try Replica("node-b")
        defer { a.cleanUp(); b.cleanUp() }
        try a.registry.insert(project: Self.project("p1", url: "/same"))
        #expect(throws: StoreConflict.self) { try a.registry.insert(project: Self.project("p2", url: "/same")) }
        try b.registry.insert(project: Self.project("p2", url: "/same"))
        try await Self.copyAll(a, to: b)
        try await Self.copyAll(b, to: a)
        #expect(try a.store.projects().map(\.id) == ["p1", "p2"])
        #expect(try a.registry.digest() == b.registry.digest())
    }

    /// After a restart the clock starts above every stored stamp, so a new local write still wins
    /// over this node's own earlier writes even if the wall clock went back.
    @Test func clockResumesAboveStoredStamps() async throws {
        let a = try Replica("node-a")
        defer { a.cleanUp() }
        let ahead = Int64(Date().timeIntervalSince1970 * 1000) + 30_000 // within the drift: accepted
        try await a.registry.merge([RegistryRecord(kind: .team, id: "t", stamp: HLC(wall: ahead, logical: 4, node: "node-z"),
                                                   value: Array(#"{"id":"t","profile":"{}","updatedAt":1}"#.utf8))])
        let key = [UInt8](repeating: 7, count: SecretBox.keyBytes)
        let restarted = try Replica("node-a", dir: a.dir, key: key)
        try restarted.registry.save(team: TeamRecord(id: "t", profile: "{\"new\":true}", updatedAt: 2))
        let stamp = try #require(try restarted.registry.stamps()["team/t"])
        #expect(stamp > HLC(wall: ahead, logical: 4, node: "node-z"))
        #expect(try restarted.store.team(id: "t")?.profile == "{\"new\":true}")
    }
}
