import Foundation
import GuardianAudit
import GuardianCore
import GuardianCrypto
import GuardianMesh
@testable import GuardianNode
@testable import GuardianStore
import GuardianTestKit
import Testing

/// Attacks with the cluster key or a bundle: ids that are paths, bundles from strangers, signed
/// results moved to another project, re-dated or re-wrapped under new ids. Each drives a real agent
/// from outside and shows both that the channel works (a legitimate record goes through) and that
/// the attack does not.
@Suite(.serialized) struct PathAndTrustAttackTests {
    /// A directory outside the agent's data directory that the attack aims at: `DATA/mirrors/../../<victim>`.
    static func victim() throws -> (dir: String, id: String) {
        let name = "guardian-victim-\(UUID().uuidString)"
        let dir = FileManager.default.temporaryDirectory.appendingPathComponent(name).path
        try FileManager.default.createDirectory(atPath: dir + "/proj.git", withIntermediateDirectories: true)
        #expect(FileManager.default.createFile(atPath: dir + "/proj.git/keep", contents: Data("mine".utf8)))
        return (dir, "../../\(name)/proj")
    }

    @Test func registryRecordsWhoseIdsArePathsAreRefusedOverTheWire() async throws {
        let key = ClusterKeyring.generate()
        let agent = try await MeshIntegrationTests.start("target", key: key, env: ["GUARDIAN_DISCOVERY": "off"])
        defer { agent.stop() }
        let (dir, id) = try Self.victim()
        defer { try? FileManager.default.removeItem(atPath: dir) }
        // the data directory and the victim are siblings in the temporary directory: the id reaches it
        #expect((agent.dataDir as NSString).deletingLastPathComponent == (dir as NSString).deletingLastPathComponent)

        // a tombstone would delete the victim; a live record for a repository this node may fetch (a
        // fixture under its allowed root) would be audited at once, cloned into a sibling of the victim
        let fetchable = try AgentIntegrationTests.fixture()
        let attack = [AttackKit.projectRecord(id, url: "https://example.invalid/x.git", tombstone: true),
                      AttackKit.projectRecord("../../\((dir as NSString).lastPathComponent)/new", url: fetchable.path),
                      AttackKit.projectRecord("ok-name", url: "https://example.invalid/z.git", team: "../etc")]
        let ack = try AttackKit.pushRegistry(agent, key: key, attack)
        #expect(ack.applied == 0 && ack.refused == 3, "\(ack)")
        #expect(FileManager.default.fileExists(atPath: dir + "/proj.git/keep"), "the tombstone deleted a directory outside the data directory")
        #expect(!FileManager.default.fileExists(atPath: dir + "/new.git"))
        #expect(try await AttackKit.metric(agent, "guardian_registry_refused_total", labels: "reason=\"invalid\"") == 3)
        let listed = try await agent.request("GET", "/v1/projects")
        #expect(!listed.text.contains("victim") && !listed.text.contains("ok-name"), "\(listed.text)")

        // the same channel takes a legitimate record for the same repository, and it is audited and
        // mirrored where ids put mirrors: the refusal above is the rule, not a broken stream
        let fine = try AttackKit.pushRegistry(agent, key: key, [AttackKit.projectRecord("legit-1", url: fetchable.path)])
        #expect(fine.applied == 1 && fine.refused == 0, "\(fine)")
        #expect(try await agent.request("GET", "/v1/projects/legit-1").status == 200)
        _ = try await agent.waitForResult(project: "legit-1")
        #expect(FileManager.default.fileExists(atPath: agent.dataDir + "/mirrors/legit-1.git"))
        #expect(!FileManager.default.fileExists(atPath: dir + "/new.git"), "a record whose id is a path was cloned outside the data directory")
    }

    @Test func bundlesFromStrangersAndBundlesWithPathIdsChangeNothing() async throws {
        let agent = try AgentProcess(binary: GuardianBinary.path)
        try await agent.start()
        defer { agent.stop() }
        let (dir, id) = try Self.victim()
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let outsider = SigningKey()
        let fetchable = try AgentIntegrationTests.fixture()
        let bundle = try AttackKit.bundle(exporter: outsider, registry: [
            AttackKit.projectRecord(id, url: "https://example.invalid/x.git", tombstone: true),
            AttackKit.projectRecord("../../\((dir as NSString).lastPathComponent)/new", url: fetchable.path),
            AttackKit.projectRecord("outsider-project", url: fetchable.path),
        ])
        // not trusted: nothing at all is applied
        let untrusted = try await AttackKit.importBundle(agent, bundle, trust: [])
        #expect(untrusted["registryApplied"] as? Int == 0 && untrusted["complete"] as? Bool == false, "\(untrusted)")
        #expect(try await agent.request("GET", "/v1/projects/outsider-project").status == 404)
        // trusted: the record with a name is applied, the two with paths are refused and counted
        let trusted = try await AttackKit.importBundle(agent, bundle, trust: [outsider.verifyingKey.nodeID.value])
        #expect(trusted["registryApplied"] as? Int == 1, "\(trusted)")
        let refused = try #require(trusted["refused"] as? [String: Int])
        #expect(refused["registry record with an invalid id or field"] == 2, "\(refused)")
        #expect(FileManager.default.fileExists(atPath: dir + "/proj.git/keep"))
        #expect(!FileManager.default.fileExists(atPath: dir + "/new.git"))
        #expect(try await agent.request("GET", "/v1/projects/outsider-project").status == 200)
        _ = try await agent.waitForResult(project: "outsider-project")
        #expect(!FileManager.default.fileExists(atPath: dir + "/new.git"), "a record whose id is a path was cloned outside the data directory")
    }

    /// A signed result carried in a bundle frame under another project, dated a year ahead, or in
    /// other bytes than the signer wrote: refused.
    @Test func signedResultsCannotBeMovedRedatedOrRewrapped() async throws {
        let repoA = try AgentIntegrationTests.fixture(), repoB = try AgentIntegrationTests.fixture()
        let agent = try AgentProcess(binary: GuardianBinary.path)
        try await agent.start()
        defer { agent.stop() }
        let a = try await agent.json("POST", "/v1/projects", ["repositoryUrl": repoA.path, "name": "alpha", "team": "team-a"])
        let b = try await agent.json("POST", "/v1/projects", ["repositoryUrl": repoB.path, "name": "beta", "team": "team-b"])
        let (idA, idB) = (try #require(a.json["id"] as? String), try #require(b.json["id"] as? String))
        let resultA = try #require(try await agent.waitForResult(project: idA)["resultId"] as? String)
        let statusB = try await agent.waitForResult(project: idB)
        let envelope = try await agent.request("GET", "/v1/results/\(resultA)")
        #expect(DSSE.recordID([UInt8](envelope.body)) == resultA)
        let node = try await agent.request("GET", "/v1/node").json
        let signer = try #require(node["id"] as? String)
        let signerKey = try VerifyingKey(base64: try #require(node["publicKey"] as? String))

        // the statement names its project and carries its time
        let parsed = try JSONDecoder().decode(DSSEEnvelope.self, from: envelope.body)
        let statement = try #require(try JSONSerialization.jsonObject(with: Data(base64Encoded: parsed.payload)!) as? [String: Any])
        let predicate = try #require(statement["predicate"] as? [String: Any])
        #expect((predicate["subject"] as? [String: Any])?["project"] as? String == idA)
        let started = try #require((predicate["timing"] as? [String: Any])?["startedAt"] as? String)
        #expect(Timestamp.parse(started).map { abs(Double($0) / 1000 - Date().timeIntervalSince1970) < 120 } == true, "\(started)")

        // re-wrapped: the same signature in other bytes is another record id, and it does not verify
        let pretty = JSONEncoder()
        pretty.outputFormatting = [.prettyPrinted, .sortedKeys]
        let rewrapped = [UInt8](try pretty.encode(parsed))
        let verified = try await agent.request("POST", "/v1/verify", body: Data(rewrapped))
        #expect(verified.status == 422 && (verified.json["reason"] as? String)?.contains("canonical") == true, "\(verified.text)")
        #expect(try await agent.request("POST", "/v1/verify", body: envelope.body).json["valid"] as? Bool == true)

        // re-wrapped under A: a new id, refused
        let rewrap = try AttackKit.bundle(exporter: SigningKey(), results: [ResultSync.Record(project: idA, createdAt: 1, envelope: rewrapped)])
        let rewrapReport = try await AttackKit.importBundle(agent, rewrap, trust: [signer])
        #expect(rewrapReport["imported"] as? Int == 0 && (rewrapReport["refused"] as? [String: Int])?["bad signature"] == 1, "\(rewrapReport)")

        // moved to another team's project and dated a year ahead, on a node that does not hold it yet
        let other = try AgentProcess(binary: GuardianBinary.path)
        try await other.start()
        defer { other.stop() }
        let c = try await other.json("POST", "/v1/projects", ["repositoryUrl": repoB.path, "name": "gamma", "team": "team-c"])
        let idC = try #require(c.json["id"] as? String)
        let statusC = try await other.waitForResult(project: idC)
        let yearAhead = Date().timeIntervalSince1970 + 365 * 86400
        let moved = try AttackKit.bundle(exporter: SigningKey(), results: [ResultSync.Record(project: idC, createdAt: yearAhead, envelope: [UInt8](envelope.body))],
                                         signers: [signerKey])
        let report = try await AttackKit.importBundle(other, moved, trust: [signer])
        #expect(report["imported"] as? Int == 0, "\(report)")
        let refused = try #require(report["refused"] as? [String: Int])
        #expect(refused.keys.contains { $0.contains("signed for project \(idA)") }, "\(refused)")
        // C's latest result is still its own, and A's is not listed under C
        let after = try await other.request("GET", "/v1/projects/\(idC)/audit-status")
        #expect(after.json["resultId"] as? String == statusC["resultId"] as? String)
        let listC = try await other.request("GET", "/v1/projects/\(idC)/results")
        #expect((listC.json["ids"] as? [String]) == [try #require(statusC["resultId"] as? String)])
        // and on A's own node, the same bytes are simply the record it holds, under A
        _ = statusB
        let mine = try await agent.request("GET", "/v1/results/\(resultA)")
        #expect(mine.headers["x-guardian-project"] == idA)

        // re-dated under its own project: the other node learns project A from A's node's export
        // (trusted), then gets A's result in a frame dated a year ahead; it is stored at its signed time
        let export = try await agent.request("GET", "/v1/export?project=\(idA)")
        let registered = try await AttackKit.importBundle(other, [UInt8](export.body), trust: [signer])
        #expect(registered["complete"] as? Bool == true, "\(registered)")
        let newer = try await agent.request("POST", "/v1/projects/\(idA)/audits?rev=HEAD")
        let task = try await agent.waitForTask(try #require(newer.json["taskId"] as? String))
        let second = try #require(task["resultId"] as? String)
        let secondEnvelope = try await agent.request("GET", "/v1/results/\(second)")
        let signedText = try #require(secondEnvelope.headers["x-guardian-created-at"])
        let signedAt = try #require(Double(signedText))
        let redated = try AttackKit.bundle(exporter: SigningKey(), results: [ResultSync.Record(project: idA, createdAt: yearAhead,
                                                                                               envelope: [UInt8](secondEnvelope.body))])
        let stored = try await AttackKit.importBundle(other, redated, trust: [signer])
        #expect(stored["imported"] as? Int == 1, "\(stored)")
        let there = try await other.request("GET", "/v1/results/\(second)")
        #expect(there.headers["x-guardian-created-at"].flatMap(Double.init) == signedAt, "stored at \(there.headers["x-guardian-created-at"] ?? "?"), signed \(signedAt)")
        #expect(try #require(Double(there.headers["x-guardian-created-at"] ?? "")) < Date().timeIntervalSince1970 + 60)
    }

    /// Two projects on the same repository and commit (two branches at one commit): each task
    /// succeeds with a result stored under its own project.
    @Test func twoProjectsOnOneCommitEachGetTheirOwnResult() async throws {
        let repo = try AgentIntegrationTests.fixture()
        _ = try repo.git("branch", "other")
        let agent = try AgentProcess(binary: GuardianBinary.path)
        try await agent.start()
        defer { agent.stop() }
        var ids: [String] = []
        for (name, branch) in [("one", "main"), ("two", "other")] {
            let r = try await agent.json("POST", "/v1/projects", ["repositoryUrl": repo.path, "name": name, "branch": branch])
            ids.append(try #require(r.json["id"] as? String, "\(r.text)"))
        }
        var results: [String] = []
        for id in ids {
            let status = try await agent.waitForResult(project: id)
            let result = try #require(status["resultId"] as? String)
            results.append(result)
            let stored = try await agent.request("GET", "/v1/results/\(result)")
            #expect(stored.headers["x-guardian-project"] == id)
        }
        #expect(results[0] != results[1], "one commit, two projects: two records")
    }
}

/// The binding of a verified statement to the project it is stored under, on its own.
@Suite struct StatementBindingTests {
    static func summary(project: String?, repository: String?, at ms: Int64?) -> StatementSummary {
        var report = AuditReport.sample(findings: 1)
        report.subject = AuditSubject(repository: repository ?? "", commit: String(repeating: "a", count: 40), revision: nil,
                                      isGitRepository: true, project: project)
        var s = StatementSummary(report.forSigning(atMs: ms ?? 0))
        if repository == nil { s.repository = nil }
        return s
    }

    @Test func aStatementFitsOnlyItsOwnProject() {
        let now = Int64(Date().timeIntervalSince1970 * 1000)
        #expect(VerifiedRows.mismatch(Self.summary(project: "p", repository: "https://h/r.git", at: now), project: "p", repository: "https://h/r.git") == nil)
        #expect(VerifiedRows.mismatch(Self.summary(project: "q", repository: "https://h/r.git", at: now), project: "p", repository: "https://h/r.git")?
            .contains("signed for project q") == true)
        // a statement from before results named their project: its repository must be the project's
        #expect(VerifiedRows.mismatch(Self.summary(project: nil, repository: "https://h/other.git", at: nil), project: "p", repository: "https://h/r.git")?
            .contains("another repository") == true)
        #expect(VerifiedRows.mismatch(Self.summary(project: nil, repository: "https://h/r.git", at: nil), project: "p", repository: "https://h/r.git") == nil)
        // a signed time far ahead of this node's clock is refused
        #expect(VerifiedRows.mismatch(Self.summary(project: "p", repository: "https://h/r.git", at: now + 3_600_000), project: "p",
                                      repository: "https://h/r.git")?.contains("future") == true)
        // the stored time: the signed one; else the carried one, never later than now
        let signed = Self.summary(project: "p", repository: "x", at: 1_700_000_000_123)
        #expect(VerifiedRows.time(of: signed, carried: 9e9, now: 1_800_000_000) == 1_700_000_000.123)
        let legacy = Self.summary(project: nil, repository: "x", at: nil)
        #expect(VerifiedRows.time(of: legacy, carried: 9e9, now: 1_800_000_000) == 1_800_000_000)
        #expect(VerifiedRows.time(of: legacy, carried: 1_000, now: 1_800_000_000) == 1_000)
    }
}
