import ArgumentParser
import Foundation
import GuardianAudit
import GuardianCore
import GuardianCrypto
import GuardianNode
import GuardianStore
import GuardianTestKit

/// The dashboard's render budget, over loopback against a real agent (the release `guardian`
/// next to this binary): a fleet of `projects` projects with a history each, and one project whose
/// latest result has `findings` findings. curl times each request itself (one process, one
/// keep-alive connection) and reports the bytes on the wire with and without gzip.
struct BenchDashboardCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(commandName: "dashboard", abstract: "Fleet and project pages: render time and weight.")

    @Option var projects: Int = 1000
    @Option var findings: Int = 5000
    @Option var requests: Int = 300
    @Option(help: "the guardian binary (default: next to this one)") var binary: String?

    func run() async throws {
        let root = FileManager.default.temporaryDirectory.appendingPathComponent("guardian-bench-dashboard-\(UUID())").path
        defer { try? FileManager.default.removeItem(atPath: root) }
        let t0 = Date()
        try seed(root)
        print(String(format: "seeded %d projects (3 results each, 10 teams), one of them with %d findings, in %.1f s", projects, findings, Date().timeIntervalSince(t0)))
        let guardian = binary ?? URL(fileURLWithPath: "/proc/self/exe").resolvingSymlinksInPath().deletingLastPathComponent().appendingPathComponent("guardian").path
        let agent = try AgentProcess(binary: guardian, dataDir: root)
        try await agent.start()
        defer { agent.stop() }
        let cookie = try await login(agent)
        let base = "http://127.0.0.1:\(agent.port)"
        // the summaries are written at start (backfill): wait until the fleet shows every project's health
        try await eventually("every project's summary", timeout: 120) {
            let page = try curl(["-H", "Cookie: \(cookie)", "\(base)/ui/?team=team-0"])
            return page.contains("fleet") && !page.contains("h-none")
        }
        print("== dashboard over loopback (\(requests) requests each; curl's own timing, one keep-alive connection)")
        var assetsGzip = 0
        for asset in ["style.css", "live.js", "icon.svg"] {
            assetsGzip += try measure("\(base)/ui/assets/\(asset)", cookie: cookie, count: 1, gzip: true).bytes
        }
        for (label, path) in [("fleet, all \(projects) projects", "/ui/"), ("fleet, sorted by health, filtered to one team", "/ui/?team=team-3&sort=health&dir=desc"),
                              ("fleet, searched", "/ui/?q=bench-00"), ("project with \(findings) findings, page 1", "/ui/projects/big"),
                              ("project with \(findings) findings, last page, severity filter", "/ui/projects/big?severity=low&page=1000"),
                              ("project with history", "/ui/projects/bench-0001")] {
            let plain = try measure(base + path, cookie: cookie, count: 1, gzip: false)
            let zipped = try measure(base + path, cookie: cookie, count: requests, gzip: true)
            print(String(format: "%-62@ p50 %5.1f ms  p99 %5.1f ms  %4d KB (%3d KB gzip; with assets %3d KB)  bar: p99 <= 30 ms, <= 200 KB",
                         label as NSString, zipped.p50 * 1000, zipped.p99 * 1000, plain.bytes / 1024, zipped.bytes / 1024, (zipped.bytes + assetsGzip) / 1024))
        }
    }

    /// A data directory with the fleet: projects in 10 teams with three results each (a trend), and "big".
    func seed(_ root: String) throws {
        let dir = try DataDirectory(path: root)
        let key = try NodeIdentity.loadOrCreate(dir)
        let store = try Store(path: dir.file("guardian.sqlite"))
        let registry = try ReplicatedRegistry.local(store)
        let now = Date().timeIntervalSince1970
        func project(_ id: String, team: String) throws {
            try registry.insert(project: ProjectRecord(id: id, name: id, repositoryUrl: "https://example.invalid/\(id).git", team: team, branch: nil,
                                                       scheduleSeconds: 0, profile: "default", webhookSecret: nil, credentials: nil,
                                                       createdAt: now, updatedAt: now, lastAuditAt: nil, nextAuditAt: nil))
        }
        var batch: [(ResultRecord, [FindingRecord])] = []
        for i in 0..<(projects - 1) {
            let id = String(format: "bench-%04d", i)
            try project(id, team: "team-\(i % 10)")
            for r in 0..<3 {
                var report = AuditReport.sample(findings: 10 + (i + r) % 7)
                report.subject = AuditSubject(repository: "https://example.invalid/\(id).git", commit: String(format: "%038x%02x", i, r),
                                              revision: "HEAD", isGitRepository: true, project: id)
                report.overallHealthScore = 40 + (i * 7 + r * 13) % 60
                batch.append(ResultRecord.signed(report, envelope: try Attestation.sign(report, key: key), project: id,
                                                 signer: key.verifyingKey.nodeID.value, at: now - Double(3 - r) * 3600))
            }
            if batch.count >= 150 { try store.insert(results: batch); batch.removeAll() }
        }
        try project("big", team: "team-0")
        var big = AuditReport.sample(findings: findings)
        big.subject = AuditSubject(repository: "https://example.invalid/big.git", commit: String(repeating: "b", count: 40), revision: "HEAD",
                                   isGitRepository: true, project: "big")
        batch.append(ResultRecord.signed(big, envelope: try Attestation.sign(big, key: key), project: "big", signer: key.verifyingKey.nodeID.value, at: now))
        try store.insert(results: batch)
    }

    func login(_ agent: AgentProcess) async throws -> String {
        let base = "http://127.0.0.1:\(agent.port)"
        let jar = FileManager.default.temporaryDirectory.appendingPathComponent("guardian-bench-jar-\(UUID())").path
        defer { try? FileManager.default.removeItem(atPath: jar) }
        let form = try curl(["-c", jar, "\(base)/ui/login"])
        guard let csrf = form.firstMatch(of: /name="csrf" value="([0-9a-f]{64})"/)?.1 else { throw ValidationError("no login form") }
        _ = try curl(["-b", jar, "-c", jar, "--data-urlencode", "token=\(agent.adminToken)", "--data-urlencode", "csrf=\(csrf)", "\(base)/ui/login"])
        let cookies = try String(contentsOfFile: jar, encoding: .utf8)
        guard let line = cookies.split(separator: "\n").first(where: { $0.contains("guardian_session") }),
              let value = line.split(separator: "\t").last else { throw ValidationError("login set no session") }
        return "guardian_session=\(value)"
    }

    func curl(_ args: [String]) throws -> String {
        let r = try CommandRunner.run("/usr/bin/curl", ["-sS"] + args)
        guard r.status == 0 else { throw ValidationError("curl \(args.last ?? ""): \(r.stderr)") }
        return r.stdout
    }

    /// `count` GETs of `url` in one curl process: each request's total time, and the bytes of the last.
    func measure(_ url: String, cookie: String, count: Int, gzip: Bool) throws -> (p50: Double, p99: Double, bytes: Int) {
        var args = ["-H", "Cookie: \(cookie)", "-w", "%{http_code} %{time_total} %{size_download}\\n"]
        if gzip { args += ["-H", "Accept-Encoding: gzip"] }
        for _ in 0..<count { args += ["-o", "/dev/null", url] }
        let lines = try curl(args).split(separator: "\n").map { $0.split(separator: " ") }
        guard lines.count == count, lines.allSatisfy({ $0.count == 3 && $0[0] == "200" }) else { throw ValidationError("\(url): \(lines.prefix(3))") }
        let times = lines.compactMap { Double($0[1]) }.sorted()
        return (times[times.count / 2], times[min(times.count - 1, Int(Double(times.count) * 0.99))], Int(lines[lines.count - 1][2]) ?? 0)
    }
}
