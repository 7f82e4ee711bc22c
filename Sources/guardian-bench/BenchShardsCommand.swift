import ArgumentParser
import Foundation
import GuardianCrypto
import GuardianTestKit

/// Sharded-audit figures (issue 5's bar: a sharded audit of apple/swift-syntax on 3 nodes gives
/// the same report as one node; print both times). Starts real agents (this binary) on loopback:
/// one alone, and a mesh of `--nodes`; registers the same repository on both, and times each
/// registration audit from the request to the stored result, with cold caches and no mirror.
struct BenchShardsCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(commandName: "shards", abstract: "Sharded audit figures.")

    @Option(help: "The repository (on this machine the GitHub URLs resolve to the local mirror).")
    var repo = "https://github.com/apple/swift-syntax.git"
    @Option var nodes = 3
    @Option(help: "Timed runs of each (fresh agents every run).") var runs = 3

    struct Outcome { var seconds: Double; var predicate: NSDictionary; var shards: [String] }

    func run() async throws {
        let base = FileManager.default.temporaryDirectory.appendingPathComponent("guardian-bench-shards-\(UUID())").path
        try FileManager.default.createDirectory(atPath: base, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(atPath: base) }
        // one local bare copy: every run clones it in the same time, and nothing reaches a network
        let origin = base + "/origin.git"
        let cloned = try CommandRunner.run("/usr/bin/git", ["clone", "-q", "--bare", repo, origin])
        guard cloned.status == 0 else { throw ValidationError("cannot clone \(repo): \(cloned.stderr)") }
        let files = try CommandRunner.run("/usr/bin/git", ["-C", origin, "ls-tree", "-r", "--name-only", "HEAD"]).stdout.split(separator: "\n").count
        let binary = URL(fileURLWithPath: "/proc/self/exe").resolvingSymlinksInPath().path
        print("== Sharded audit of \(repo) (\(files) files at HEAD): 1 node vs \(nodes) nodes on loopback, cold caches, \(runs) runs")
        print("   (this machine has \(ProcessInfo.processInfo.activeProcessorCount) cores shared by every agent: the mesh cannot be faster here; on separate hosts each shard has its own cores)")
        var single: [Double] = [], mesh: [Double] = []
        var same = true
        for run in 1...runs {
            let one = try await audit(origin: origin, binary: binary, nodes: 1)
            let many = try await audit(origin: origin, binary: binary, nodes: nodes)
            single.append(one.seconds)
            mesh.append(many.seconds)
            let equal = one.predicate == many.predicate
            same = same && equal
            print(String(format: "run %d: 1 node %.2f s, %d nodes %.2f s, same report: %@  shards: %@", run, one.seconds, nodes, many.seconds,
                         equal ? "yes" : "NO", many.shards.joined(separator: "; ")))
        }
        print(String(format: "median: 1 node %.2f s, %d nodes %.2f s (ratio %.2f); every report the same: %@",
                     BenchMeshCommand.median(single), nodes, BenchMeshCommand.median(mesh),
                     BenchMeshCommand.median(mesh) / BenchMeshCommand.median(single), same ? "yes" : "NO"))
        if !same { throw ExitCode(1) }
    }

    /// Starts `nodes` agents (a mesh when more than one), registers the repository on the first and
    /// times its registration audit until the result is stored on the primary.
    func audit(origin: String, binary: String, nodes: Int) async throws -> Outcome {
        let key = ClusterKeyring.generate()
        var agents: [AgentProcess] = []
        defer { for a in agents { a.stop() } }
        for i in 0..<nodes {
            let a = try AgentProcess(binary: binary)
            var args = ["--name", "node-\(i)", "--no-discovery"]
            if nodes > 1 { args += ["--gossip-addr", "127.0.0.1:0", "--cluster-key", key] }
            if i > 0, let seed = agents[0].gossipAddress { args += ["--join", seed] }
            try await a.start(extraArgs: args, env: ["GUARDIAN_PROBE_INTERVAL_MS": "200", "GUARDIAN_PUSH_PULL_SECONDS": "2"])
            agents.append(a)
        }
        let first = agents[0]
        // every member alive before the audit starts
        for _ in 0..<200 where nodes > 1 {
            let members = try await first.request("GET", "/v1/members").json["members"] as? [[String: Any]] ?? []
            if members.filter({ $0["status"] as? String == "alive" }).count == nodes { break }
            try await Task.sleep(for: .milliseconds(100))
        }
        let start = Date()
        let created = try await first.json("POST", "/v1/projects", ["repositoryUrl": origin, "name": "bench", "scheduleSeconds": 0])
        guard let id = created.json["id"] as? String else { throw ValidationError("registration failed: \(created.text)") }
        let status = try await first.waitForResult(project: id, timeout: 600)
        let seconds = Date().timeIntervalSince(start)
        guard let result = status["resultId"] as? String else { throw ValidationError("no result") }
        let env = try await first.request("GET", "/v1/results/\(result)").json
        guard let payload = (env["payload"] as? String).flatMap({ Data(base64Encoded: $0) }),
              let statement = try JSONSerialization.jsonObject(with: payload) as? [String: Any],
              let predicate = statement["predicate"] as? NSDictionary else { throw ValidationError("the result is not a statement") }
        var shards: [String] = []
        for a in agents where nodes > 1 {
            let text = try await a.request("GET", "/metrics").text
            func value(_ name: String) -> Int {
                text.split(separator: "\n").filter { $0.hasPrefix(name) }.reduce(0) { $0 + (Int(Double($1.split(separator: " ").last ?? "0") ?? 0)) }
            }
            let served = value("guardian_shards_served_total"), packed = value("guardian_shard_pack_bytes_total{direction=\"received\"}")
            if served > 0 { shards.append("\(served) served with \(packed / 1024) KB of pack") } else if value("guardian_shards_sent_total") > 0 { shards.append("primary") }
        }
        return Outcome(seconds: seconds, predicate: predicate, shards: shards)
    }
}
