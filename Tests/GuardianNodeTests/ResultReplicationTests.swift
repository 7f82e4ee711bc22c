import Foundation
import GRDB
import GuardianCrypto
import GuardianMesh
@testable import GuardianNode
@testable import GuardianStore
import GuardianTestKit
import Testing

/// Result replication between real agents on loopback: hints for stalled or dead owners,
/// anti-entropy, read repair, corrupt records detected and repaired, and handoff to new owners.
@Suite(.serialized) struct ResultReplicationTests {
    static func start(_ name: String, key: String, join: String? = nil, dataDir: String? = nil, env: [String: String] = [:]) async throws -> AgentProcess {
        try await MeshIntegrationTests.start(name, key: key, join: join, dataDir: dataDir,
                                             env: ["GUARDIAN_ANTI_ENTROPY_SECONDS": "2"].merging(env) { _, new in new })
    }

    /// A metric's value from `/metrics`, summed over its label sets (`labels` narrows to lines that
    /// contain it). Throws when the agent exposes no such series: absent is not 0.
    static func metric(_ a: AgentProcess, _ name: String, labels: String = "") async throws -> Int {
        Int(try await a.requireMetric(name, labels: labels))
    }

    /// The result ids an agent holds for a project, from its own store. Throws when the agent does
    /// not answer with a list: a failed read is not "holds nothing".
    static func localIDs(_ a: AgentProcess, _ project: String) async throws -> [String] {
        let r = try await a.request("GET", "/v1/projects/\(project)/results?local=1&limit=200")
        guard r.status == 200, let ids = r.json["ids"] as? [String] else {
            throw FixtureError(message: "results of \(project) on \(a.dataDir): \(r.status) \(r.text.prefix(200))")
        }
        return ids
    }

    /// Flips one byte of a stored envelope behind the agent's back (the agent keeps running: WAL).
    static func corrupt(_ a: AgentProcess, result id: String) throws {
        let db = try DatabaseQueue(path: a.dataDir + "/guardian.sqlite")
        try db.write { db in
            var envelope = try #require(try Data.fetchOne(db, sql: "SELECT envelope FROM result WHERE id = ?", arguments: [id]))
            envelope[envelope.count / 2] ^= 0x01
            try db.execute(sql: "UPDATE result SET envelope = ? WHERE id = ?", arguments: [envelope, id])
        }
    }

    /// A new commit audited on `a` (an owner): returns when the task succeeded there.
    static func auditNewCommit(_ a: AgentProcess, _ repo: FixtureRepo, project: String, n: Int) async throws {
        try repo.write("Sources/f\(n).swift", "func f\(n)() -> Int { \(n) }\n")
        let sha = try repo.commit("feat: f\(n)")
        let posted = try await a.request("POST", "/v1/projects/\(project)/audits?rev=\(sha)")
        #expect(posted.status == 202, "\(posted.text)")
        let task = try #require(posted.json["taskId"] as? String)
        let done = try await a.waitForTask(task)
        #expect(done["state"] as? String == "succeeded", "\(done)")
    }

    @Test func stalledOwnersGetHintsAndCorruptCopiesAreRepaired() async throws {
        let key = ClusterKeyring.generate()
        let a = try await Self.start("alpha", key: key)
        let seed = try #require(a.gossipAddress)
        let b = try await Self.start("bravo", key: key, join: seed)
        let c = try await Self.start("charlie", key: key, join: seed)
        defer { for n in [a, b, c] { kill(n.pid, SIGCONT); n.stop() } }
        try await MeshIntegrationTests.eventually("three alive", [a, b, c]) { s in s.count == 3 && s.values.allSatisfy { $0 == "alive" } }

        let repo = try MeshRegistryTests.repo()
        let created = try await a.json("POST", "/v1/projects", ["repositoryUrl": repo.path, "name": "demo"])
        let id = try #require(created.json["id"] as? String)
        for n in [a, b, c] {
            try await MeshRegistryTests.eventually("first result on every owner", timeout: 60) { try await Self.localIDs(n, id).count == 1 }
        }

        // stall two owners (SIGSTOP) while audits run on the third: each result is acknowledged
        // there and kept as a hint for both stalled owners
        kill(b.pid, SIGSTOP)
        kill(c.pid, SIGSTOP)
        for n in 1...2 { try await Self.auditNewCommit(a, repo, project: id, n: n) }
        #expect(try await Self.localIDs(a, id).count == 3)
        try await MeshRegistryTests.eventually("hints kept for both stalled owners", timeout: 40) {
            try await Self.metric(a, "guardian_hints_stored_total") >= 4
        }
        #expect(try await Self.metric(a, "guardian_hints_pending") >= 1)
        kill(b.pid, SIGCONT)
        kill(c.pid, SIGCONT)
        let all = Set(try await Self.localIDs(a, id))
        for n in [b, c] {
            try await MeshRegistryTests.eventually("resumed owner converged", timeout: 40) { Set(try await Self.localIDs(n, id)) == all }
        }
        try await MeshRegistryTests.eventually("hints handed off or settled", timeout: 30) { try await Self.metric(a, "guardian_hints_pending") == 0 }

        // a flipped byte in bravo's copy: a read detects it, fetches a good copy from a member,
        // verifies it and stores it again (read repair)
        let victim = try #require(try await Self.localIDs(b, id).first)
        try Self.corrupt(b, result: victim)
        let read = try await b.request("GET", "/v1/results/\(victim)")
        #expect(read.status == 200 && DSSE.recordID([UInt8](read.body)) == victim, "the good bytes, from a member: \(read.status)")
        #expect(try await Self.metric(b, "guardian_results_corrupt_total") == 1)
        try await MeshRegistryTests.eventually("bravo's own copy repaired") {
            let local = try await b.request("GET", "/v1/results/\(victim)?local=1")
            return local.status == 200 && DSSE.recordID([UInt8](local.body)) == victim
        }

        // one flipped in charlie's copy and never read: the scrub finds it, anti-entropy repairs it
        let other = try #require(try await Self.localIDs(c, id).last)
        try Self.corrupt(c, result: other)
        try await MeshRegistryTests.eventually("scrub detects the corrupt copy", timeout: 30) {
            try await Self.metric(c, "guardian_results_corrupt_total") == 1
        }
        try await MeshRegistryTests.eventually("charlie's copy repaired by anti-entropy", timeout: 30) {
            let local = try await c.request("GET", "/v1/results/\(other)?local=1")
            return local.status == 200 && DSSE.recordID([UInt8](local.body)) == other
        }
        #expect(try await Self.metric(c, "guardian_results_corrupt_total") == 1, "repaired once, not corrupt again")
        #expect(try await Self.metric(c, "guardian_results_refused_total") == 0)
    }

    @Test func anOwnerDownPastTheHintWindowIsRepairedByAntiEntropy() async throws {
        let key = ClusterKeyring.generate()
        let env = ["GUARDIAN_HINT_WINDOW_SECONDS": "1"]
        let a = try await Self.start("alpha", key: key, env: env)
        let seed = try #require(a.gossipAddress)
        let b = try await Self.start("bravo", key: key, join: seed, env: env)
        let c = try await Self.start("charlie", key: key, join: seed, env: env)
        try await MeshIntegrationTests.eventually("three alive", [a, b, c]) { s in s.count == 3 && s.values.allSatisfy { $0 == "alive" } }
        let repo = try MeshRegistryTests.repo()
        let id = try #require(try await a.json("POST", "/v1/projects", ["repositoryUrl": repo.path]).json["id"] as? String)
        for n in [a, b, c] {
            try await MeshRegistryTests.eventually("first result on every owner", timeout: 60) { try await Self.localIDs(n, id).count == 1 }
        }
        let downDir = c.dataDir
        c.stop(signal: SIGKILL)
        for n in 1...2 { try await Self.auditNewCommit(a, repo, project: id, n: n) }
        try await MeshRegistryTests.eventually("hints for charlie expired", timeout: 30) {
            try await Self.metric(a, "guardian_hints_expired_total") >= 2
        }
        #expect(try await Self.metric(a, "guardian_hints_pending") == 0)
        let all = Set(try await Self.localIDs(a, id))
        let onBravo = Set(try await Self.localIDs(b, id))
        #expect(all.count == 3 && onBravo == all, "bravo got them by push")

        let c2 = try await Self.start("charlie", key: key, join: seed, dataDir: downDir, env: env)
        defer { for n in [a, b, c2] { n.stop() } }
        try await MeshRegistryTests.eventually("charlie repaired", timeout: 40) { Set(try await Self.localIDs(c2, id)) == all }
        #expect(try await Self.metric(a, "guardian_hints_delivered_total") == 0, "no hint was left to hand off")
        // whichever side started the session counts the bytes: charlie on its first round, or a peer
        var moved = 0
        for n in [a, b, c2] { moved += try await Self.metric(n, "guardian_antientropy_bytes_total", labels: "part=\"records\"") }
        #expect(moved > 0, "anti-entropy moved them")
        let verify = try await c2.request("POST", "/v1/verify", body: try await c2.request("GET", "/v1/results/\(all.first!)?local=1").body)
        #expect(verify.status == 200 && verify.json["valid"] as? Bool == true, "\(verify.text)")
    }

    /// The results in a stopped agent's store, read from its file (what it committed).
    static func storedResults(_ dataDir: String) throws -> Int {
        var config = Configuration()
        config.readonly = true
        let db = try DatabaseQueue(path: dataDir + "/guardian.sqlite", configuration: config)
        defer { try? db.close() }
        return try db.read { try Int.fetchOne($0, sql: "SELECT COUNT(*) FROM result") ?? 0 }
    }

    /// The results an agent's store holds (every project).
    static func count(_ a: AgentProcess) async throws -> Int { try await a.request("GET", "/v1/node").json["results"] as? Int ?? -1 }

    @Test func aNodeKilledInTheMiddleOfASyncFinishesItAfterRestarting() async throws {
        let key = ClusterKeyring.generate()
        let a = try await Self.start("alpha", key: key)
        let seed = try #require(a.gossipAddress)
        let b = try await Self.start("bravo", key: key, join: seed)
        try await MeshIntegrationTests.eventually("two alive", [a, b]) { s in s.count == 2 && s.values.allSatisfy { $0 == "alive" } }
        let downDir = b.dataDir
        b.stop(signal: SIGKILL)

        // a backlog only alpha holds: 5,000 results imported while bravo is down
        let file = try await AirGapTests.bundleFile("resume-source", project: "resume", results: 5_000)
        let imported = try await MeshIntegrationTests.cli(a, ["import", "--trust", file.signer, file.path])
        #expect(imported.status == 0, "\(imported.stdout) \(imported.stderr)")
        #expect(try await Self.count(a) == 5_000)

        // bravo comes back and anti-entropy starts moving the backlog; kill -9 it part-way through.
        // Alpha, the only sender, is stopped while bravo starts (in CI the whole sync once finished
        // before bravo could be stopped), then both run in short bursts between SIGSTOPs and bravo's
        // store is read while they are stopped, so that "part-way" does not depend on how fast this
        // test process is scheduled under the suite's load.
        kill(a.pid, SIGSTOP)
        let b2 = try await Self.start("bravo", key: key, join: seed, dataDir: downDir)
        kill(b2.pid, SIGSTOP)
        var partial = 0
        let deadline = Date().addingTimeInterval(90)
        while partial == 0 && Date() < deadline {
            kill(a.pid, SIGCONT)
            kill(b2.pid, SIGCONT)
            usleep(50_000)
            kill(b2.pid, SIGSTOP)
            kill(a.pid, SIGSTOP)
            partial = try Self.storedResults(downDir)
        }
        kill(a.pid, SIGCONT)
        b2.stop(signal: SIGKILL)
        #expect(partial > 0 && partial < 5_000, "bravo was killed in the middle of the sync (it held \(partial) of 5,000)")

        // restarted, it keeps what it had stored and the next rounds bring the rest
        let b3 = try await Self.start("bravo", key: key, join: seed, dataDir: downDir)
        defer { for n in [a, b3] { n.stop() } }
        #expect(try await Self.count(b3) >= partial, "nothing stored before the kill was lost")
        try await MeshRegistryTests.eventually("bravo holds the whole backlog", timeout: 120) { try await Self.count(b3) == 5_000 }
        let digests = try await [a, b3].asyncMap { try await $0.request("GET", "/v1/projects/resume/results?local=1&limit=200").json["ids"] as? [String] ?? [] }
        #expect(digests[0] == digests[1] && digests[0].count == 200, "the newest 200 ids agree")
        let last = try #require(digests[1].last)
        let verify = try await b3.request("POST", "/v1/verify", body: try await b3.request("GET", "/v1/results/\(last)?local=1").body)
        #expect(verify.status == 200 && verify.json["valid"] as? Bool == true, "\(verify.text)")
    }

    @Test func dataFollowsOwnershipAndFormerOwnersDropItAfterwards() async throws {
        let key = ClusterKeyring.generate()
        let env = ["GUARDIAN_REPLICATION_FACTOR": "1", "GUARDIAN_HANDOFF_GRACE_SECONDS": "1"]
        let a = try await Self.start("alpha", key: key, env: env)
        defer { a.stop() }
        // projects until at least two of them will belong to bravo once it joins (the ring is pure:
        // the test computes it the way every node does)
        let ring = Ring(nodes: [.init(name: "alpha"), .init(name: "bravo")])
        var projects: [(id: String, owner: String)] = []
        var repos: [FixtureRepo] = []
        while projects.filter({ $0.owner == "bravo" }).count < 2 || projects.count < 3 {
            let repo = try MeshRegistryTests.repo()
            repos.append(repo)
            let id = try #require(try await a.json("POST", "/v1/projects", ["repositoryUrl": repo.path]).json["id"] as? String)
            projects.append((id, try #require(ring.primary(of: id))))
        }
        var before: [String: [String]] = [:]
        for p in projects {
            try await MeshRegistryTests.eventually("audited on alpha", timeout: 60) { try await Self.localIDs(a, p.id).count == 1 }
            before[p.id] = try await Self.localIDs(a, p.id)
        }
        let aGossip: String = try #require(a.gossipAddress)
        let b = try await Self.start("bravo", key: key, join: aGossip, env: env)
        defer { b.stop() }
        for p in projects where p.owner == "bravo" {
            try await MeshRegistryTests.eventually("alpha's results of \(p.id) streamed to bravo, then dropped on alpha", timeout: 40) {
                let onB = Set(try await Self.localIDs(b, p.id))
                let onA = try await Self.localIDs(a, p.id)
                return onB.isSuperset(of: before[p.id]!) && onA.isEmpty
            }
        }
        for p in projects where p.owner == "alpha" {
            #expect(try await Self.localIDs(a, p.id) == before[p.id]!, "alpha keeps what it still owns")
            #expect(try await Self.localIDs(b, p.id).isEmpty)
        }
        #expect(try await Self.metric(a, "guardian_results_handed_off_total") >= 2)
        // any node still answers for every project
        for p in projects { #expect(try await b.request("GET", "/v1/projects/\(p.id)/results").status == 200) }
    }
}

extension Array {
    func asyncMap<T>(_ f: (Element) async throws -> T) async rethrows -> [T] {
        var out: [T] = []
        for e in self { out.append(try await f(e)) }
        return out
    }
}
