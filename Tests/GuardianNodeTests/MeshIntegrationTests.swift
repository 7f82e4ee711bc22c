import Foundation
import GuardianCrypto
import GuardianMesh
import GuardianTestKit
import Testing

/// Real agents on loopback forming a mesh over UDP and TCP with a cluster key.
@Suite(.serialized) struct MeshIntegrationTests {
    static let fast = ["GUARDIAN_PROBE_INTERVAL_MS": "200", "GUARDIAN_PUSH_PULL_SECONDS": "2"]

    /// An agent with a cluster key on an ephemeral gossip port (`dataDir` reuses an identity), with
    /// fast protocol timers and any other `GUARDIAN_*` settings in `env`.
    static func start(_ name: String, key: String, join: String? = nil, dataDir: String? = nil, env: [String: String] = [:]) async throws -> AgentProcess {
        let a = try AgentProcess(binary: GuardianBinary.path, dataDir: dataDir)
        var args = ["--name", name, "--gossip-addr", "127.0.0.1:0", "--cluster-key", key]
        if let join { args += ["--join", join] }
        try await a.start(extraArgs: args, env: fast.merging(env) { _, new in new })
        return a
    }

    /// A `guardian` client command against this agent.
    static func cli(_ agent: AgentProcess, _ args: [String]) async throws -> CommandResult {
        try await CommandRunner.runAsync(GuardianBinary.path, args + ["--http-addr", "127.0.0.1:\(agent.port)", "--data-dir", agent.dataDir])
    }

    /// An agent's membership view: its digest and each member's status. Throws when the agent does
    /// not answer with both (a failed read is not an empty mesh).
    static func members(_ a: AgentProcess) async throws -> (digest: String, status: [String: String]) {
        let r = try await a.request("GET", "/v1/members")
        guard r.status == 200, let list = r.json["members"] as? [[String: Any]], let digest = r.json["digest"] as? String, !digest.isEmpty else {
            throw FixtureError(message: "members of \(a.dataDir): \(r.status) \(r.text.prefix(200))")
        }
        var status: [String: String] = [:]
        for m in list {
            guard let name = m["name"] as? String, let s = m["status"] as? String else { throw FixtureError(message: "a member without name or status: \(m)") }
            status[name] = s
        }
        return (digest, status)
    }

    /// Polls until `condition` holds for every agent's view; throws after `timeout` seconds with the views.
    static func eventually(_ what: String, timeout: Double = 30, _ agents: [AgentProcess],
                           _ condition: ([String: String]) -> Bool) async throws {
        do {
            try await GuardianTestKit.eventually(what, timeout: timeout, every: .milliseconds(200)) {
                for a in agents where !condition(try await members(a).status) { return false }
                return true
            }
        } catch let e as TimedOut {
            var views: [String] = []
            for a in agents { views.append("\((try? await members(a).status).map { "\($0)" } ?? "unreadable")") }
            throw FixtureError(message: "\(e.description): \(views.joined(separator: " | "))")
        }
    }

    /// Both views hold exactly these agents, all alive.
    static func bothAlive(_ agents: [AgentProcess]) async throws -> Bool {
        for a in agents {
            let s = try await members(a).status
            guard s.count == agents.count, s.values.allSatisfy({ $0 == "alive" }) else { return false }
        }
        return true
    }

    /// A token made on `from` authenticates on `to`: the registry's stream frames sealed by `from`
    /// were opened by `to`.
    static func replicates(from: AgentProcess, to: AgentProcess) async throws {
        let made = try await from.json("POST", "/v1/tokens", ["role": "viewer", "team": "probe"])
        let token = try #require(made.json["token"] as? String, "\(made.status) \(made.text)")
        try await GuardianTestKit.eventually("a token made on one node works on the other") {
            try await to.request("GET", "/v1/projects", token: token).status == 200
        }
    }

    /// Whether `/metrics` counts refusals for `reason` (gossip's by default, or
    /// `guardian_discovery_rejected_total`): its series exists and is positive. A reason that never
    /// occurred has no series.
    static func counted(_ a: AgentProcess, _ reason: String, metric: String = "guardian_gossip_rejected_total") async throws -> Bool {
        try await a.metric(metric, labels: "reason=\"\(reason)\"").map { $0 >= 1 } ?? false
    }

    @Test func joinConvergeCrashLeaveAndTheRing() async throws {
        let key = ClusterKeyring.generate()
        let a = try await Self.start("alpha", key: key)
        let seed = try #require(a.gossipAddress)
        let b = try await Self.start("bravo", key: key, join: seed)
        let c = try await Self.start("charlie", key: key) // joins at run time, with the CLI
        let joined = try await Self.cli(c, ["join", seed])
        #expect(joined.status == 0 && joined.stdout.contains("joined"), "\(joined.stderr)")
        #expect(try await Self.cli(c, ["join", "127.0.0.1:1"]).status == 2, "a join nobody answers is an error")
        try await Self.eventually("three alive everywhere", [a, b, c]) { s in s.count == 3 && s.values.allSatisfy { $0 == "alive" } }
        let table = try await Self.cli(a, ["members"])
        #expect(table.status == 0 && table.stdout.hasPrefix("NAME") && table.stdout.split(separator: "\n").count == 4, "\(table.stdout)")
        #expect(table.stdout.contains("capacity=1"))
        let digests = Set([try await Self.members(a).digest, try await Self.members(b).digest, try await Self.members(c).digest])
        #expect(digests.count == 1, "views differ: \(digests)")

        // every node computes the same ring and the same owners
        var rings: Set<String> = []
        for n in [a, b, c] {
            let r = try await n.request("GET", "/v1/ring")
            let names = (r.json["nodes"] as? [[String: Any]] ?? []).compactMap { $0["name"] as? String }
            rings.insert(names.joined(separator: ","))
        }
        #expect(rings == ["alpha,bravo,charlie"])

        // kill -9: seen dead by the others
        c.stop(signal: SIGKILL)
        try await Self.eventually("charlie dead", [a, b]) { $0["charlie"] == "dead" }
        let dead = try await Self.cli(a, ["members", "--status", "dead|left", "--format", "json"])
        let list = (try JSONSerialization.jsonObject(with: Data(dead.stdout.utf8)) as? [String: Any])?["members"] as? [[String: Any]]
        #expect(list?.compactMap { $0["name"] as? String } == ["charlie"], "\(dead.stdout)")
        // force-leave: refused for a live member, accepted for the failed one, and spread
        #expect(try await Self.cli(a, ["force-leave", "bravo"]).status == 2)
        #expect(try await Self.cli(a, ["force-leave", "nobody"]).status == 2)
        #expect(try await Self.cli(a, ["force-leave", "charlie"]).status == 0)
        try await Self.eventually("charlie left", [a, b]) { $0["charlie"] == "left" }
        // graceful leave on SIGTERM: seen as left
        #expect(await b.stopGracefully())
        try await Self.eventually("bravo left", [a]) { $0["bravo"] == "left" }
        a.stop()
    }

    @Test func restartWithTheSameIdentityAndANewPortRejoins() async throws {
        let key = ClusterKeyring.generate()
        let a = try await Self.start("alpha", key: key)
        let seed = try #require(a.gossipAddress)
        let b = try await Self.start("bravo", key: key, join: seed)
        try await Self.eventually("joined", [a, b]) { s in s.count == 2 && s.values.allSatisfy { $0 == "alive" } }
        let oldAddress = try #require(b.gossipAddress)
        b.stop(signal: SIGKILL)
        try await Self.eventually("bravo dead", [a]) { $0["bravo"] == "dead" }
        // same data directory (identity), new ephemeral port, no --join: the durable peer list finds the mesh
        let again = try await Self.start("bravo", key: key, dataDir: b.dataDir)
        #expect(again.gossipAddress != nil && again.gossipAddress != oldAddress)
        try await Self.eventually("bravo back", [a, again]) { s in s.count == 2 && s.values.allSatisfy { $0 == "alive" } }
        again.stop()
        a.stop()
    }

    @Test func isolatedNodeComesBackAfterSIGCONT() async throws {
        let key = ClusterKeyring.generate()
        let a = try await Self.start("alpha", key: key)
        let seed = try #require(a.gossipAddress)
        let b = try await Self.start("bravo", key: key, join: seed)
        let c = try await Self.start("charlie", key: key, join: seed)
        try await Self.eventually("three alive", [a, b, c]) { s in s.count == 3 && s.values.allSatisfy { $0 == "alive" } }
        kill(c.pid, SIGSTOP)
        try await Self.eventually("charlie dead", [a, b]) { $0["charlie"] == "dead" }
        kill(c.pid, SIGCONT)
        // it refutes, and push-pull (which also tries peers believed dead) brings everyone together
        try await Self.eventually("healed", [a, b, c]) { s in s.count == 3 && s.values.allSatisfy { $0 == "alive" } }
        for n in [a, b, c] { n.stop() }
    }

    /// Rotation with no downtime through `guardian keys`: install everywhere, use everywhere, remove
    /// the old key everywhere; the two nodes never stop seeing each other, and the keyring survives a
    /// restart.
    @Test func keyRotationWithNoDowntime() async throws {
        let old = ClusterKeyring.generate(), new = ClusterKeyring.generate()
        let a = try await Self.start("alpha", key: old)
        let aGossip: String = try #require(a.gossipAddress)
        let b = try await Self.start("bravo", key: old, join: aGossip)
        try await Self.eventually("joined", [a, b]) { s in s.count == 2 && s.values.allSatisfy { $0 == "alive" } }
        for n in [a, b] { #expect(try await Self.cli(n, ["keys", "install", new]).status == 0) }
        #expect(try await Self.cli(a, ["keys", "use", new]).status == 0) // a seals with the new key, b still with the old: both open both
        // bravo opened what alpha sealed with the new key: a token made on alpha reaches it
        try await Self.replicates(from: a, to: b)
        try await GuardianTestKit.holds("both alive while alpha seals with the new key", for: 2) { try await Self.bothAlive([a, b]) }
        #expect(try await Self.cli(b, ["keys", "use", new]).status == 0)
        #expect(try await Self.cli(a, ["keys", "remove", new]).status == 2, "the primary cannot be removed")
        for n in [a, b] { #expect(try await Self.cli(n, ["keys", "remove", old]).status == 0) }
        // only the new key is left on either side, and each still opens what the other sends
        try await Self.replicates(from: b, to: a)
        try await Self.replicates(from: a, to: b)
        try await GuardianTestKit.holds("both alive on the new key alone", for: 2) { try await Self.bothAlive([a, b]) }
        let list = try await Self.cli(a, ["keys", "list"])
        #expect(list.stdout.split(separator: "\n").count == 1 && list.stdout.contains("primary"), "\(list.stdout)")
        // a restart started with the old key on the command line keeps the rotated keyring (the old
        // key is installed again for opening, but the new one stays primary)
        #expect(await a.stopGracefully())
        let bGossip: String = try #require(b.gossipAddress)
        let again = try await Self.start("alpha", key: old, join: bGossip, dataDir: a.dataDir)
        try await Self.eventually("rejoined on the new key", [again, b]) { s in s.count == 2 && s.values.allSatisfy { $0 == "alive" } }
        again.stop()
        b.stop()
    }

    @Test func wrongKeyAndHostileDatagramsChangeNothingAndAreCounted() async throws {
        let key = ClusterKeyring.generate()
        let a = try await Self.start("alpha", key: key)
        let target = try #require(a.gossipAddress)
        let before = try await Self.members(a)

        // a node with another key cannot join
        let intruder = try await Self.start("intruder", key: ClusterKeyring.generate(), join: target)
        // the intruder's packets arrived and were refused: only then does "not joined" say anything
        try await GuardianTestKit.eventually("the intruder's packets refused") { try await Self.counted(a, "unknown_key") }
        #expect(try await Self.members(a).status == ["alpha": "alive"])
        #expect(try await Self.members(intruder).status == ["intruder": "alive"])
        intruder.stop()

        // hand-made datagrams: garbled, forged, replayed, oversized, sealed nonsense, a forged identity
        let ring = try ClusterKeyring(primary: key)
        let now = Int64(Date().timeIntervalSince1970 * 1000)
        let fakeMeta = NodeMeta(name: "mallory", id: "NOT-THE-KEYS-ID", publicKey: SigningKey().verifyingKey.base64,
                                address: "127.0.0.1:9", httpAddress: "127.0.0.1:9")
        let genuine = ClusterSeal.seal(Wire.encode(.gossip(source: "mallory", updates: [.alive(incarnation: 1, meta: fakeMeta)])),
                                       keyring: ring, context: .datagram, now: now)
        try UDP.send(genuine, to: target)
        try UDP.send(genuine, to: target) // replayed
        var flipped = genuine
        flipped[40] ^= 1
        try UDP.send(flipped, to: target)
        try UDP.send(Array(repeating: 7, count: 1_300), to: target)
        try UDP.send([1, 2, 3], to: target)
        try UDP.send(ClusterSeal.seal([0xFF, 0x00, 0x13], keyring: ring, context: .datagram, now: now), to: target)
        try UDP.send(ClusterSeal.seal(Wire.encode(.nack(seq: 1, source: "x")), keyring: ring, context: .datagram, now: now - 3_600_000), to: target)
        // every datagram was handled (each is counted) before membership is compared
        for reason in ["replayed", "forged", "oversized", "malformed", "bad_identity", "stale"] {
            try await GuardianTestKit.eventually("\(reason) counted", timeout: 10) { try await Self.counted(a, reason) }
        }
        let after = try await Self.members(a)
        #expect(after.status == ["alpha": "alive"], "a hostile datagram changed membership: \(after.status)")
        #expect(after.digest == before.digest)
        #expect(try await a.request("GET", "/livez").status == 200)
        a.stop()
    }

    /// Nodes started with no --join and no remembered peers find each other by LAN discovery on
    /// loopback; a node with another cluster key on the same port is not joined, and its
    /// announcements are counted as refused.
    @Test func lanDiscoveryOnLoopback() async throws {
        let key = ClusterKeyring.generate()
        let port = ["GUARDIAN_DISCOVERY_PORT": "\(Int.random(in: 30_000...32_000))"]
        var agents: [AgentProcess] = []
        for (name, k) in [("alpha", key), ("bravo", key), ("stranger", ClusterKeyring.generate())] {
            agents.append(try await Self.start(name, key: k, env: port))
        }
        let (a, b, stranger) = (agents[0], agents[1], agents[2])
        try await Self.eventually("found by discovery", [a, b]) { s in s.keys.sorted() == ["alpha", "bravo"] && s.values.allSatisfy { $0 == "alive" } }
        #expect(try await Self.members(stranger).status.keys.sorted() == ["stranger"])
        // the stranger announces once it listens: its refused announcements are counted soon after
        try await GuardianTestKit.eventually("the stranger's announcements were refused", timeout: 15) {
            try await Self.counted(a, "unknown_key", metric: "guardian_discovery_rejected_total")
        }
        #expect(try await Self.members(a).status["stranger"] == nil, "the stranger was never joined")
        for n in agents { n.stop() }
    }
}
