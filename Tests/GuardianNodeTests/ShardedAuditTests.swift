import Foundation
import GuardianCore
import GuardianCrypto
import GuardianTestKit
import Testing

/// Sharded audits between real agents on loopback: the shards are analysed on the other members
/// from packs of blobs the primary sends, the report equals a single node's, and a shard whose
/// owner stalls is reassigned.
@Suite(.serialized) struct ShardedAuditTests {
    /// Twelve modules and a few other files, with findings in several of them (a second commit).
    static func addModules(_ repo: FixtureRepo) throws -> String {
        for i in 0..<12 {
            var body = "import Foundation\n\n// TODO: split module \(i)\nfunc work\(i)(_ x: Int) -> Int {\n"
            for k in 0..<(i * 3) { body += "    if x > \(k) { print(\"step \(k)\") }\n" }
            body += "    return x + \(i)\n}\n"
            try repo.write("Sources/Module\(i % 4)/File\(i).swift", body)
        }
        try repo.write("Tests/ModuleTests/FileTests.swift", "import XCTest\nfinal class T: XCTestCase { func testOne() { XCTAssertEqual(1, 1) } }\n")
        try repo.write("scripts/deploy.py", "password = \"hunter2hunter2\"\ndef deploy():\n    eval(input())\n")
        return try repo.commit("feat: twelve modules")
    }

    /// The audit predicate of a stored result, as JSON.
    /// A result's report without the two fields that name its audit rather than its findings: the
    /// project it was signed for and the time it ran (`subject.project`, `timing.startedAt`).
    static func predicate(_ a: AgentProcess, result id: String) async throws -> NSDictionary {
        let env = try await a.request("GET", "/v1/results/\(id)").json
        let encoded = try #require(env["payload"] as? String, "\(env)")
        let payload = try #require(Data(base64Encoded: encoded))
        let statement = try #require(try JSONSerialization.jsonObject(with: payload) as? [String: Any])
        var predicate = try #require(statement["predicate"] as? [String: Any])
        var subject = try #require(predicate["subject"] as? [String: Any])
        #expect(subject.removeValue(forKey: "project") is String, "a signed result names its project")
        predicate["subject"] = subject
        var timing = try #require(predicate["timing"] as? [String: Any])
        #expect((timing.removeValue(forKey: "startedAt") as? String).flatMap(Timestamp.parse) != nil, "a signed result carries its time")
        predicate["timing"] = timing
        return predicate as NSDictionary
    }

    /// Audits `rev` on `a` and returns the finished task.
    static func audit(_ a: AgentProcess, project: String, rev: String, timeout: Double = 90) async throws -> [String: Any] {
        let posted = try await a.request("POST", "/v1/projects/\(project)/audits?rev=\(rev)")
        #expect(posted.status == 202, "\(posted.text)")
        let done = try await a.waitForTask(try #require(posted.json["taskId"] as? String), timeout: timeout)
        #expect(done["state"] as? String == "succeeded", "\(done)")
        return done
    }

    @Test func shardsOnThreeNodesGiveTheSingleNodeReportAndAStalledOwnerLosesItsShard() async throws {
        let repo = try MeshRegistryTests.repo()
        // one node alone (no mesh) audits the same commits in the same order: the reference reports
        let solo = try AgentProcess(binary: GuardianBinary.path)
        try await solo.start()
        let key = ClusterKeyring.generate()
        let env = ["GUARDIAN_SHARD_MIN_FILES": "1", "GUARDIAN_SHARD_TIMEOUT_SECONDS": "120"]
        let a = try await MeshIntegrationTests.start("alpha", key: key, env: env)
        let seed = try #require(a.gossipAddress)
        let b = try await MeshIntegrationTests.start("bravo", key: key, join: seed, env: env)
        let c = try await MeshIntegrationTests.start("charlie", key: key, join: seed, env: env)
        defer { for n in [a, b, c] { kill(n.pid, SIGCONT); n.stop() }; solo.stop() }
        try await MeshIntegrationTests.eventually("three alive", [a, b, c]) { s in s.count == 3 && s.values.allSatisfy { $0 == "alive" } }

        var ids: [String] = []
        for n in [solo, a] {
            let created = try await n.json("POST", "/v1/projects", ["repositoryUrl": repo.path, "name": "sharded", "scheduleSeconds": 0])
            ids.append(try #require(created.json["id"] as? String))
        }
        let (soloID, id) = (ids[0], ids[1])
        // the registration audits (the mesh's on its primary) are stored where the next audits run
        _ = try await solo.waitForResult(project: soloID, timeout: 90)
        try await MeshRegistryTests.eventually("registration result on alpha", timeout: 90) { try await ResultReplicationTests.localIDs(a, id).count == 1 }

        // a commit whose files no member has analysed: one shard per member, split by path
        let modules = try Self.addModules(repo)
        let sharded = try await Self.audit(a, project: id, rev: modules)
        let shards = try #require(sharded["shards"] as? [[String: Any]], "the audit was not sharded: \(sharded)")
        #expect(Set(shards.compactMap { $0["owner"] as? String }) == ["alpha", "bravo", "charlie"], "\(shards)")
        #expect(shards.reduce(0) { $0 + ($1["files"] as? Int ?? 0) } >= 14)
        // bravo and charlie never mirrored the new commit: the blobs came from alpha in packs
        for s in shards where s["owner"] as? String != "alpha" { #expect((s["packBytes"] as? Int ?? 0) > 0, "\(s)") }
        // (the registration audit may have been sharded too: its primary had nothing cached either)
        for n in [b, c] { #expect(try await ResultReplicationTests.metric(n, "guardian_shards_served_total") >= 1) }
        let soloModules = try await Self.audit(solo, project: soloID, rev: modules)
        let meshReport = try await Self.predicate(a, result: try #require(sharded["resultId"] as? String))
        let soloReport = try await Self.predicate(solo, result: try #require(soloModules["resultId"] as? String))
        #expect(meshReport == soloReport, "the sharded report differs from one node's")

        // stall bravo: its shard of the next commit goes to another member once bravo stops being live
        for i in 0..<9 { try repo.write("Sources/Extra/Extra\(i).swift", "func extra\(i)() -> Int { \(i) } // FIXME later\n") }
        let extras = try repo.commit("feat: extras")
        try await MeshRegistryTests.eventually("sharded result on alpha", timeout: 30) { try await ResultReplicationTests.localIDs(a, id).count == 2 }
        kill(b.pid, SIGSTOP)
        let reassigned = try await Self.audit(a, project: id, rev: extras, timeout: 120)
        let runs = try #require(reassigned["shards"] as? [[String: Any]], "\(reassigned)")
        #expect(runs.count == 3, "\(runs)")
        #expect(runs.filter { ($0["failed"] as? [String] ?? []).contains("bravo") }.count == 1, "bravo's shard was reassigned: \(runs)")
        #expect(runs.allSatisfy { $0["owner"] as? String != "bravo" })
        #expect(try await ResultReplicationTests.metric(a, "guardian_shards_reassigned_total") >= 1)
        let soloExtras = try await Self.audit(solo, project: soloID, rev: extras)
        let meshExtras = try await Self.predicate(a, result: try #require(reassigned["resultId"] as? String))
        let soloExtrasReport = try await Self.predicate(solo, result: try #require(soloExtras["resultId"] as? String))
        #expect(meshExtras == soloExtrasReport, "the report with a reassigned shard differs from one node's")
    }
}
