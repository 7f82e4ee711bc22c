import ArgumentParser
import Foundation
import GuardianAudit
import GuardianCore
import GuardianCrypto
import GuardianNode

/// Seeds a data directory with projects, signed results and findings, measuring on the way:
/// signed results acknowledged durably per second (one transaction each, and group commit), and
/// signature verifications per second on one core. Used by scripts/bench-agent.sh.
struct BenchStoreCommand: ParsableCommand {
    static let configuration = CommandConfiguration(commandName: "bench-store", abstract: "Seed and measure the store.", shouldDisplay: false)

    @Option var dataDir: String
    @Option var projects: Int = 1000
    @Option var findingsPerProject: Int = 100
    @Option var throughputResults: Int = 2000

    func run() throws {
        let dir = try DataDirectory(path: dataDir)
        let key = try NodeIdentity.loadOrCreate(dir)
        let store = try Store(path: dir.file("guardian.sqlite"))
        let base = try Self.sampleReport(findings: findingsPerProject)
        let now = Date().timeIntervalSince1970

        // 1. seed: projects, each with one signed result carrying `findingsPerProject` findings
        var t0 = Date()
        var batch: [(ResultRecord, [FindingRecord])] = []
        for i in 0..<projects {
            let pid = String(format: "bench-%04d", i)
            try? store.insert(project: ProjectRecord(id: pid, name: pid, repositoryUrl: "https://example.invalid/\(pid).git", team: "default",
                                                     branch: nil, scheduleSeconds: 0, profile: "default", webhookSecret: nil,
                                                     credentials: nil, createdAt: now, updatedAt: now, lastAuditAt: nil, nextAuditAt: nil))
            var report = base
            report.subject = AuditSubject(repository: "https://example.invalid/\(pid).git", commit: String(format: "%040x", i), revision: "HEAD", isGitRepository: true)
            batch.append(try Self.record(report, project: pid, key: key, at: now))
            if batch.count == 50 { try store.insert(results: batch); batch.removeAll() }
        }
        try store.insert(results: batch)
        let seeded = Date().timeIntervalSince(t0)
        print(String(format: "seeded %d projects, %d results, %d findings in %.1f s", projects, projects, projects * findingsPerProject, seeded))

        // 2. durable signed results per second (small reports, as an incremental push produces)
        let small = try Self.sampleReport(findings: 5)
        func measure(group: Int) throws -> Double {
            var made: [(ResultRecord, [FindingRecord])] = []
            let start = Date()
            for i in 0..<throughputResults {
                var r = small
                r.subject = AuditSubject(repository: "https://example.invalid/throughput.git", commit: String(format: "%040x", i + group * 1_000_000),
                                         revision: "HEAD", isGitRepository: true)
                made.append(try Self.record(r, project: "bench-0000", key: key, at: now + Double(i)))
                if made.count == group { try store.insert(results: made); made.removeAll() }
            }
            if !made.isEmpty { try store.insert(results: made) }
            return Double(throughputResults) / Date().timeIntervalSince(start)
        }
        let single = try measure(group: 1)
        let grouped = try measure(group: 64)
        print(String(format: "signed results acknowledged durably: %.0f/s one transaction each, %.0f/s with group commit of 64 (bar: >= 5000/s)", single, grouped))

        // 3. verifications per second, one core, on a realistic envelope
        var report = base
        report.subject.commit = String(repeating: "a", count: 40)
        let envelope = try Attestation.sign(report, key: key)
        let trusted = [key.verifyingKey.nodeID.value: key.verifyingKey]
        t0 = Date()
        var n = 0
        while Date().timeIntervalSince(t0) < 2 {
            for _ in 0..<100 { _ = try DSSE.verify(envelope, trusted: trusted) }
            n += 100
        }
        let envKB = Double(envelope.count) / 1024
        print(String(format: "signature verifications: %.0f/s on one core (DSSE envelope of %.1f KB; bar: >= 10000/s)", Double(n) / Date().timeIntervalSince(t0), envKB))
        let smallEnvelope = try Attestation.sign(try Self.sampleReport(findings: 5), key: key)
        t0 = Date(); n = 0
        while Date().timeIntervalSince(t0) < 1 {
            for _ in 0..<100 { _ = try DSSE.verify(smallEnvelope, trusted: trusted) }
            n += 100
        }
        print(String(format: "signature verifications: %.0f/s on one core (DSSE envelope of %.1f KB, an incremental result)", Double(n) / Date().timeIntervalSince(t0), Double(smallEnvelope.count) / 1024))
        let raw = key.sign(Array(repeating: 7, count: 64))
        t0 = Date(); n = 0
        while Date().timeIntervalSince(t0) < 1 {
            for _ in 0..<1000 { _ = key.verifyingKey.verify(signature: raw, message: Array(repeating: 7, count: 64)) }
            n += 1000
        }
        print(String(format: "raw Ed25519 verifications: %.0f/s on one core (libsodium)", Double(n) / Date().timeIntervalSince(t0)))
    }

    static func record(_ report: AuditReport, project: String, key: SigningKey, at time: Double) throws -> (ResultRecord, [FindingRecord]) {
        let env = try Attestation.sign(report, key: key)
        let id = DSSE.recordID(env)
        var findings: [FindingRecord] = []
        for (check, r) in report.magicResults {
            for v in r.violations {
                findings.append(FindingRecord(resultId: id, projectId: project, checkName: check, ruleId: v.ruleId, severity: v.severity.rawValue,
                                              file: v.file, line: v.line, message: v.message, fingerprint: v.fingerprint, isNew: false))
            }
        }
        return (ResultRecord(id: id, projectId: project, commitId: report.subject.commit, createdAt: time, signer: key.verifyingKey.nodeID.value,
                             health: report.overallHealthScore, gatePassed: report.gate.passed, envelope: Data(env)), findings)
    }

    /// A report with `findings` violations spread over the checks, built by the real scorer path.
    static func sampleReport(findings: Int) throws -> AuditReport {
        var results: [String: CheckResult] = [:]
        for (i, check) in Check.allCases.enumerated() {
            let count = findings / Check.allCases.count + (i < findings % Check.allCases.count ? 1 : 0)
            let vs = (0..<count).map { k in
                Violation(ruleId: RuleCatalog.rules(for: check)[0].id, severity: .medium, file: "Sources/App/File\(k).swift", line: 10 + k,
                          message: "sample finding \(k) of \(check.rawValue)", fingerprint: Fingerprint.make(path: "f\(k)", contentHash: UInt64(k), occurrence: 0),
                          lineHash: Fingerprint.lineHash(contentHash: UInt64(k), occurrence: 0))
            }
            results[check.rawValue] = CheckResult(status: .warning, score: 70, violations: vs, suggestions: [], lastRun: "1970-01-01T00:00:00Z",
                                                  executionTime: 0, skippedRules: [], counts: ["medium": count], penalty: 4)
        }
        return AuditReport(guardianVersion: Auditor.version, subject: AuditSubject(repository: "x", commit: nil, revision: nil, isGitRepository: true),
                           profile: "default", strictness: 0.8, overallHealthScore: 70, gate: .init(passed: true, reasons: []),
                           magicResults: results, aiInsights: [], statistics: AuditStatistics(), skippedFiles: [], baseline: nil,
                           timing: AuditTiming(startedAt: "1970-01-01T00:00:00Z", totalMs: 0, cacheHits: 0, cacheMisses: 0))
    }
}
