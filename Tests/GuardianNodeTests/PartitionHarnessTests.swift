import Foundation
import GuardianAudit
import GuardianCore
import GuardianCrypto
import GuardianMesh
@testable import GuardianNode
@testable import GuardianStore
import GuardianTestKit
import Logging
import Testing

/// Linux network namespaces on a bridge, one agent in each, links cut and healed with iptables:
/// the partition harness of docs/mesh.md. Needs root, `ip` and `iptables` (CI runs as root; the
/// install step provides both).
final class Netns: @unchecked Sendable { // used by one test at a time
    static var available: Bool {
        getuid() == 0 && FileManager.default.isExecutableFile(atPath: "/usr/sbin/ip")
            && (FileManager.default.isExecutableFile(atPath: "/usr/sbin/iptables") || FileManager.default.isExecutableFile(atPath: "/sbin/iptables"))
    }

    let prefix: String
    let subnet: Int
    let count: Int
    var names: [String] { (0..<count).map { "\(prefix)\($0)" } }
    func ip(_ i: Int) -> String { "10.77.\(subnet).\(11 + i)" }
    var bridge: String { "\(prefix)br" }

    @discardableResult
    static func run(_ args: [String]) throws -> CommandResult {
        let r = try CommandRunner.run("/usr/sbin/ip", args)
        if r.status != 0 { throw FixtureError(message: "ip \(args.joined(separator: " ")): \(r.stderr)") }
        return r
    }

    func iptables(_ i: Int, _ args: [String]) throws {
        let r = try CommandRunner.run("/usr/sbin/ip", ["netns", "exec", names[i], "iptables"] + args)
        if r.status != 0 { throw FixtureError(message: "iptables \(args.joined(separator: " ")) in \(names[i]): \(r.stderr)") }
    }

    /// Each harness gets its own names and subnet: a deleted namespace frees its links a little later.
    nonisolated(unsafe) static var made = 0

    init(count: Int) throws {
        self.count = count
        Self.made += 1
        subnet = (Int(getpid() % 40) * 5 + Self.made) % 250 + 1
        prefix = "gd\(getpid() % 1000)x\(Self.made)n"
        _ = try? Self.run(["link", "del", bridge])
        try Self.run(["link", "add", bridge, "type", "bridge"])
        try Self.run(["addr", "add", "10.77.\(subnet).1/24", "dev", bridge])
        try Self.run(["link", "set", bridge, "up"])
        for i in 0..<count {
            let ns = names[i], veth = "\(prefix)v\(i)"
            _ = try? Self.run(["netns", "del", ns])
            try Self.run(["netns", "add", ns])
            try Self.run(["link", "add", veth, "type", "veth", "peer", "name", "eth0", "netns", ns])
            try Self.run(["link", "set", veth, "master", bridge, "up"])
            try Self.run(["netns", "exec", ns, "ip", "addr", "add", "\(ip(i))/24", "dev", "eth0"])
            try Self.run(["netns", "exec", ns, "ip", "link", "set", "eth0", "up"])
            try Self.run(["netns", "exec", ns, "ip", "link", "set", "lo", "up"])
        }
    }

    /// Cuts every link between the groups (both directions, in every namespace).
    func partition(_ groups: [[Int]]) throws {
        try heal()
        for g in groups {
            for i in g {
                for other in groups where other != g {
                    for j in other {
                        try iptables(i, ["-A", "INPUT", "-s", ip(j), "-j", "DROP"])
                        try iptables(i, ["-A", "OUTPUT", "-d", ip(j), "-j", "DROP"])
                    }
                }
            }
        }
    }

    func heal() throws {
        for i in 0..<count {
            try iptables(i, ["-F", "INPUT"])
            try iptables(i, ["-F", "OUTPUT"])
        }
    }

    deinit {
        for i in 0..<count { _ = try? Self.run(["link", "del", "\(prefix)v\(i)"]) }
        for ns in names { _ = try? Self.run(["netns", "del", ns]) }
        _ = try? Self.run(["link", "del", bridge])
    }
}

@Suite(.serialized, .enabled(if: Netns.available, "needs root, ip and iptables (CI runs as root)"))
struct PartitionHarnessTests {
    static let env = ["GUARDIAN_PROBE_INTERVAL_MS": "200", "GUARDIAN_PUSH_PULL_SECONDS": "2", "GUARDIAN_ANTI_ENTROPY_SECONDS": "2",
                      "GUARDIAN_DISCOVERY": "off", "GUARDIAN_REPLICATION_FACTOR": "3"]

    final class Mesh: @unchecked Sendable {
        let net: Netns
        let key = ClusterKeyring.generate()
        var agents: [AgentProcess] = []
        /// Processes replaced by a restart: kept, since releasing one removes its data directory.
        var retired: [AgentProcess] = []
        var up: [Bool] = []
        init(nodes: Int) throws { net = try Netns(count: nodes) }

        func start(_ i: Int) async throws {
            let a = try AgentProcess(binary: GuardianBinary.path, dataDir: agents.count > i ? agents[i].dataDir : nil, host: net.ip(i), namespace: net.names[i])
            var args = ["--name", "node\(i)", "--gossip-addr", "\(net.ip(i)):7946", "--cluster-key", key]
            if i != 0 { args += ["--join", "\(net.ip(0)):7946"] }
            if ProcessInfo.processInfo.environment["HARNESS_LOG"] != nil { args += ["--log-level", "debug"] }
            try await a.start(extraArgs: args, env: PartitionHarnessTests.env)
            if agents.count > i { retired.append(agents[i]); agents[i] = a; up[i] = true } else { agents.append(a); up.append(true) }
        }

        func kill(_ i: Int) { agents[i].stop(signal: SIGKILL); up[i] = false }
        var alive: [Int] { up.indices.filter { up[$0] } }
        func stopAll() { for a in agents { a.stop(signal: SIGKILL) } }
    }

    /// Polls until `check` holds; returns the seconds it took, or nil after `timeout` (callers
    /// print the views and expect a value: the time itself is a figure the harness reports).
    static func within(_ timeout: Double, _ check: () async throws -> Bool) async throws -> Double? {
        do { return try await eventually("a condition of the harness", timeout: timeout, every: .milliseconds(250), check) } catch is TimedOut {
            return nil
        }
    }

    static func allAlive(_ mesh: Mesh, _ token: String) async throws -> Bool {
        for a in mesh.agents {
            let m = try await a.request("GET", "/v1/members", token: token)
            guard (m.json["members"] as? [[String: Any]])?.filter({ $0["status"] as? String == "alive" }).count == mesh.agents.count else { return false }
        }
        return true
    }

    /// Each agent's view of the members, for a failure message.
    static func views(_ mesh: Mesh, _ token: String) async -> String {
        var lines: [String] = []
        for (i, a) in mesh.agents.enumerated() {
            let m = try? await a.request("GET", "/v1/members", token: token)
            let list = (m?.json["members"] as? [[String: Any]] ?? []).map { "\($0["name"] ?? "?")=\($0["status"] ?? "?")/\($0["incarnation"] ?? "?")" }
            lines.append("  node\(i) (up \(mesh.up[i])): \(list.joined(separator: " "))")
        }
        return lines.joined(separator: "\n")
    }

    static func localIDs(_ a: AgentProcess, _ project: String) async throws -> Set<String> {
        var out: Set<String> = []
        var path: String? = "/v1/projects/\(project)/results?local=1&limit=200"
        while let p = path {
            let r = try await a.request("GET", p)
            out.formUnion(r.json["ids"] as? [String] ?? [])
            path = (r.json["next"] as? String).map { $0 + "&local=1" }
        }
        return out
    }

    /// Seeds 1 to 5, or the ones `GUARDIAN_TEST_SEEDS` names, to replay one schedule.
    static let harnessSeeds = TestSeeds.or([1, 2, 3, 4, 5])

    /// Seeded schedules of partitions, crashes and restarts while audits and registry writes run on
    /// every side; then every acknowledged result must be on every owner, owners identical, every
    /// signature valid, every acknowledged registry write everywhere.
    @Test(arguments: harnessSeeds)
    func seededFaultSchedule(seed: UInt64) async throws {
        let mesh = try Mesh(nodes: 5)
        defer { mesh.stopAll() }
        for i in 0..<5 { try await mesh.start(i) }
        let admin = mesh.agents[0].adminToken
        try #require(try await Self.within(30) { try await Self.allAlive(mesh, admin) } != nil, "the five nodes never saw each other")
        var rng = SplitMix64(seed: seed)
        var repos: [FixtureRepo] = [], projects: [String] = []
        for k in 0..<3 {
            let repo = try MeshRegistryTests.repo()
            repos.append(repo)
            let created = try await mesh.agents[k].json("POST", "/v1/projects", ["repositoryUrl": repo.path, "name": "p\(k)"], token: admin)
            projects.append(try #require(created.json["id"] as? String, "\(created.text)"))
        }
        var acked: [(project: String, result: String)] = [], tokens: [String] = [], commits = 0
        for step in 0..<8 {
            switch Int.random(in: 0..<4, using: &rng) {
            case 0:
                var nodes = Array(0..<5)
                nodes.shuffle(using: &rng)
                let cut = Int.random(in: 1...2, using: &rng)
                try mesh.net.partition([Array(nodes.prefix(cut)), Array(nodes.dropFirst(cut))])
            case 1: try mesh.net.heal()
            case 2:
                if mesh.alive.count > 3, let victim = mesh.alive.randomElement(using: &rng) { mesh.kill(victim) }
            default:
                if let back = mesh.up.indices.filter({ !mesh.up[$0] }).randomElement(using: &rng) { try await mesh.start(back) }
            }
            // audits and registry writes wherever a node is up
            for _ in 0..<2 {
                guard let at = mesh.alive.randomElement(using: &rng) else { continue }
                let k = Int.random(in: 0..<projects.count, using: &rng)
                commits += 1
                try repos[k].write("Sources/s\(commits).swift", "func s\(commits)() -> Int { \(commits) }\n")
                let sha = try repos[k].commit("step \(step)")
                guard let posted = try? await mesh.agents[at].request("POST", "/v1/projects/\(projects[k])/audits?rev=\(sha)", token: admin),
                      posted.status == 202, let task = posted.json["taskId"] as? String else { continue }
                let served = posted.headers["x-guardian-served-by"]
                let node = served.flatMap { name in Int(name.dropFirst(4)) }.map { mesh.agents[$0] } ?? mesh.agents[at]
                if let done = try? await node.waitForTask(task, timeout: 40), done["state"] as? String == "succeeded", let id = done["resultId"] as? String {
                    acked.append((projects[k], id))
                }
            }
            if let at = mesh.alive.randomElement(using: &rng),
               let t = try? await mesh.agents[at].json("POST", "/v1/tokens", ["role": "viewer", "team": "t\(step)"], token: admin),
               t.status == 201, let secret = t.json["token"] as? String {
                tokens.append(secret)
            }
        }
        // heal everything and bring every node back; owners once every node sees all five alive
        try mesh.net.heal()
        for i in 0..<5 where !mesh.up[i] { try await mesh.start(i) }
        let membership = try await Self.within(60) { try await Self.allAlive(mesh, admin) }
        if membership == nil { print("seed \(seed): not every node sees all five alive after 60 s:\n\(await Self.views(mesh, admin))") }
        #expect(membership != nil, "seed \(seed): membership did not converge after healing")
        var owners: [String: [Int]] = [:]
        for p in projects {
            let r = try await mesh.agents[0].request("GET", "/v1/projects/\(p)/owners", token: admin)
            owners[p] = (r.json["owners"] as? [String] ?? []).compactMap { Int($0.dropFirst(4)) }
        }
        let converged = try await Self.within(90) {
            for p in projects {
                let sets = try await withThrowingTaskGroup(of: Set<String>.self) { g in
                    for o in owners[p] ?? [] { g.addTask { try await Self.localIDs(mesh.agents[o], p) } }
                    return try await g.reduce(into: []) { $0.append($1) }
                }
                guard sets.count == 3, Set(sets).count == 1 else { return false }
                for a in acked where a.project == p { guard sets[0].contains(a.result) else { return false } }
            }
            for t in tokens {
                for a in mesh.agents { guard try await a.request("GET", "/v1/projects", token: t).status == 200 else { return false } }
            }
            return true
        }
        var lost = 0
        for a in acked {
            for o in owners[a.project] ?? [] where !(try await Self.localIDs(mesh.agents[o], a.project)).contains(a.result) { lost += 1 }
        }
        // every stored copy verifies (each node trusts its members' keys)
        var invalid = 0
        for a in acked {
            for o in owners[a.project] ?? [] {
                let bytes = try await mesh.agents[o].request("GET", "/v1/results/\(a.result)?local=1", token: admin).body
                let v = try await mesh.agents[o].request("POST", "/v1/verify", body: bytes, token: admin)
                if v.json["valid"] as? Bool != true { invalid += 1 }
            }
        }
        // the schedule did something to check: results were acknowledged and registry writes made
        #expect(!acked.isEmpty && !tokens.isEmpty, "seed \(seed): \(acked.count) acknowledged results, \(tokens.count) tokens")
        print("partition harness seed \(seed): \(acked.count) acknowledged results, \(tokens.count) registry writes, lost \(lost), invalid \(invalid), converged in \(converged.map { String(format: "%.1f s", $0) } ?? "NOT within 90 s")")
        #expect(owners.values.allSatisfy { $0.count == 3 })
        #expect(converged != nil && lost == 0 && invalid == 0, "seed \(seed): owners \(owners)")
    }

    /// A firewall that drops a node's outgoing packets makes its UDP sends fail with EPERM, and
    /// NIO closes a datagram socket on that error. The node binds its gossip socket again, so once
    /// the firewall is gone it is seen alive and stays so (before the fix it stayed deaf: probes
    /// failed for good, and it flapped between dead and alive through push-pull refutations).
    @Test func gossipSurvivesAFirewallThatRefusesSends() async throws {
        let mesh = try Mesh(nodes: 3)
        defer { mesh.stopAll() }
        for i in 0..<3 { try await mesh.start(i) }
        let admin = mesh.agents[0].adminToken
        #expect(try await Self.within(30) { try await Self.allAlive(mesh, admin) } != nil)
        try mesh.net.partition([[0], [1, 2]]) // OUTPUT DROP on node0: its sends fail with EPERM
        #expect(try await Self.within(30) {
            let m = try await mesh.agents[1].request("GET", "/v1/members", token: admin)
            return (m.json["members"] as? [[String: Any]])?.contains { $0["name"] as? String == "node0" && $0["status"] as? String == "dead" } == true
        } != nil)
        try mesh.net.heal()
        let healed = try await Self.within(30) { try await Self.allAlive(mesh, admin) }
        let afterHeal = await Self.views(mesh, admin)
        #expect(healed != nil, "\(afterHeal)")
        #expect(try await ResultReplicationTests.metric(mesh.agents[0], "guardian_gossip_socket_rebinds_total", labels: "socket=\"gossip\"") >= 1)
        // all alive at every look over several probe rounds and suspicion timeouts (200 ms probes):
        // a node that flaps between dead and alive fails at the first look that catches it
        do {
            try await holds("all five alive", for: 6) { try await Self.allAlive(mesh, admin) }
        } catch {
            Issue.record("\(error): \(await Self.views(mesh, admin))")
        }
    }

    /// A 10,000-result backlog on one side of a partition (an air-gap import into an owner there):
    /// after healing, every owner holds it; the time is printed (the bar is 10 s).
    @Test func backlogAfterAPartitionHeals() async throws {
        let mesh = try Mesh(nodes: 5)
        defer { mesh.stopAll() }
        for i in 0..<5 { try await mesh.start(i) }
        let admin = mesh.agents[0].adminToken
        let formed = try await Self.within(30) { try await Self.allAlive(mesh, admin) }
        let views = formed == nil ? await Self.views(mesh, admin) : ""
        try #require(formed != nil, "the five nodes did not all see each other alive:\n\(views)")
        // the bundle: 10,000 results of project "backlog", signed by a node outside the mesh
        let file = try await AirGapTests.bundleFile("backlog-source", project: "backlog", results: 10_000)
        // owners of "backlog" on the five-node ring; the first is cut off with one non-owner
        let ring = Ring(nodes: (0..<5).map { Ring.Node(name: "node\($0)") })
        let owners = ring.owners(of: "backlog", count: 3).compactMap { Int($0.dropFirst(4)) }
        let others = (0..<5).filter { !owners.contains($0) }
        let sideA = [owners[0], others[0]], sideB = (0..<5).filter { !sideA.contains($0) }
        try mesh.net.partition([sideA, sideB])
        let a = mesh.agents[owners[0]]
        let imported = try await CommandRunner.runAsync(GuardianBinary.path, ["import", "--http-addr", "\(a.host):\(a.port)", "--token", a.adminToken,
                                                                   "--trust", file.signer, file.path])
        #expect(imported.status == 0, "\(imported.stdout) \(imported.stderr)")
        #expect(try await Self.localIDs(a, "backlog").count == 10_000)
        // the two sides must have noticed the partition, or healing it proves nothing
        try await eventually("each side sees the other's owner as not alive", timeout: 30) {
            for (viewer, member) in [(owners[0], owners[1]), (owners[1], owners[0])] {
                let m = try await mesh.agents[viewer].request("GET", "/v1/members", token: admin)
                guard let entry = (m.json["members"] as? [[String: Any]])?.first(where: { $0["name"] as? String == "node\(member)" }),
                      let status = entry["status"] as? String, status != "alive" else { return false }
            }
            return true
        }
        try mesh.net.heal()
        let healStart = Date()
        let healed = try await Self.within(60) {
            var counts: [Int] = []
            // the stores' result counts (only this project has results here): a cheap poll
            for o in owners { counts.append(try await mesh.agents[o].request("GET", "/v1/node").json["results"] as? Int ?? -1) }
            if ProcessInfo.processInfo.environment["HARNESS_TRACE"] != nil { print(String(format: "  %.1f s: %@", Date().timeIntervalSince(healStart), "\(counts)")) }
            return counts.allSatisfy { $0 == 10_000 }
        }
        for o in owners { #expect(try await Self.localIDs(mesh.agents[o], "backlog").count == 10_000) }
        if ProcessInfo.processInfo.environment["HARNESS_TRACE"] != nil { for a in mesh.agents { print(a.output.suffix(ProcessInfo.processInfo.environment["HARNESS_LOG"] != nil ? 400_000 : 2500)) } }
        print("partition harness: a 10,000-result backlog reached all 3 owners \(healed.map { String(format: "%.1f s", $0) } ?? "NOT within 60 s") after the partition healed (bar: 10 s)")
        #expect(healed != nil)
    }
}
