import ArgumentParser
import Foundation
import GuardianAudit
import GuardianCore
import GuardianCrypto
import GuardianNode
import GuardianStore
import Logging

/// Air-gap figures (issue 5's bar: a 100,000-result bundle verifies and merges in ≤ 15 s): seeds a
/// data directory with signed results, exports them to a bundle file, imports the file into a fresh
/// data directory that never saw the exporter, then imports it again (nothing changes).
struct BenchAirGapCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(commandName: "airgap", abstract: "Export and import figures.")

    @Option var results = 100_000
    @Option var projects = 100
    @Option(help: "Findings per result.") var findings = 5
    @Option(help: "Where the two data directories and the bundle go (default: a new temporary directory, removed at the end).") var workDir: String?
    @Flag(help: "Keep the temporary directory (about 1.8 GB for 100,000 results) for profiling.") var keep = false

    /// A node as `guardian import`/`export` open one over a data directory: it runs no audits.
    func node(_ dir: String, _ name: String) throws -> Node {
        var c = AgentConfig()
        c.dataDir = dir
        c.name = name
        var logger = Logger(label: "bench")
        logger.logLevel = .warning
        return try Node(config: c, logger: logger, audits: false)
    }

    func run() async throws {
        let base = workDir ?? FileManager.default.temporaryDirectory.appendingPathComponent("guardian-bench-airgap-\(UUID())").path
        try FileManager.default.createDirectory(atPath: base, withIntermediateDirectories: true)
        // A directory the bench made itself goes when it ends, failed or not: each run leaves
        // about 1.8 GB: more than a temporary directory may hold.
        let owned = workDir == nil && !keep
        defer { if owned { try? FileManager.default.removeItem(atPath: base) } }
        let source = try node(base + "/source", "source")
        let now = Date().timeIntervalSince1970
        var t = Date()
        let sample = AuditReport.sample(findings: findings)
        for p in 0..<projects {
            let pid = String(format: "bench-%04d", p)
            try source.registry.insert(project: ProjectRecord(id: pid, name: pid, repositoryUrl: "/nonexistent/guardian-bench/\(pid).git", team: "default",
                                                              branch: nil, scheduleSeconds: 0, profile: "default", webhookSecret: nil, credentials: nil,
                                                              createdAt: now, updatedAt: now, lastAuditAt: nil, nextAuditAt: nil))
        }
        var batch: [(ResultRecord, [FindingRecord])] = []
        var envelopeBytes = 0
        for i in 0..<results {
            let pid = String(format: "bench-%04d", i % projects)
            var r = sample
            r.subject = AuditSubject(repository: "/nonexistent/guardian-bench/\(pid).git", commit: String(format: "%040x", i), revision: "HEAD", isGitRepository: true)
            let envelope = try Attestation.sign(r, key: source.identity)
            envelopeBytes += envelope.count
            batch.append(ResultRecord.signed(r, envelope: envelope, project: pid, signer: source.nodeID, at: now - Double(results - i)))
            if batch.count == 1000 { try await source.store.insert(results: batch); batch.removeAll() }
        }
        try await source.store.insert(results: batch)
        // the seeding's WAL (about 700 MB) is copied into the database now, not by the background
        // checkpointer while the export and the import are timed
        try source.store.checkpoint()
        print(String(format: "seeded %d signed results (%d findings each, %.1f KB envelopes on average) in %d projects: %.1f s",
                     results, findings, Double(envelopeBytes) / Double(results) / 1024, projects, Date().timeIntervalSince(t)))

        // per-result costs on one core, for the record: signature check, statement read, record id.
        // Each is the fastest of five passes over the same results (at most 2,000): this VM's speed swings by
        // a third within seconds, and the fastest pass is the one least disturbed.
        do {
            let sampleRows = try source.store.exportPage(project: nil, since: nil, after: 0, limit: 2000).records
            let keys = source.knownKeys()
            let envelopes = sampleRows.map(\.envelope)
            let payloads = try envelopes.map { try DSSE.verify($0, trusted: keys).payload }
            /// Microseconds per result: `body(i)` for every sample, the fastest of five passes.
            func fastest(_ body: (Int) throws -> Void) rethrows -> Double {
                var best = Double.infinity
                for _ in 0..<5 {
                    let t0 = DispatchTime.now().uptimeNanoseconds
                    for i in envelopes.indices { try body(i) }
                    best = min(best, Double(DispatchTime.now().uptimeNanoseconds - t0) / 1e3 / Double(envelopes.count))
                }
                return best
            }
            let verify = try fastest { _ = try DSSE.verify(envelopes[$0], trusted: keys) }
            let read = try fastest { _ = try StatementSummary(statement: payloads[$0]) }
            let id = fastest { _ = DSSE.recordID(envelopes[$0]) }
            print(String(format: "per result on one core (fastest of 5 passes over %d): DSSE+Ed25519 verify %.1f us, read the statement %.1f us, record id (BLAKE2b) %.1f us",
                         envelopes.count, verify, read, id))
        }

        let file = base + "/bench.bundle"
        _ = FileManager.default.createFile(atPath: file, contents: nil)
        let out = try FileHandle(forWritingTo: URL(fileURLWithPath: file))
        t = Date()
        let summary = try await source.exportBundle(project: nil, since: nil, keys: source.knownKeys()) { try out.write(contentsOf: $0) }
        // synced, as `guardian export` does: otherwise the kernel wrote the bundle's 470 MB back to
        // disk during the import that follows, and the import was timed against that
        try out.synchronize()
        try out.close()
        let exportSeconds = Date().timeIntervalSince(t)
        print(String(format: "export (written and synced): %d results, %d registry records, %.1f MB in %.2f s (%.0f results/s)",
                     summary.results, summary.registry, Double(summary.bytes) / 1e6, exportSeconds, Double(summary.results) / exportSeconds))

        let target = try node(base + "/target", "target")
        t = Date()
        let report = try await target.importBundle(FileChunks(path: file), trust: [source.nodeID], keys: target.knownKeys())
        let importSeconds = Date().timeIntervalSince(t)
        print(String(format: "import into a node that never saw the exporter: %d imported, %d signatures verified, complete=%@ in %.2f s (%.0f results/s); bar ≤ 15 s for 100,000: %@",
                     report.imported, report.resultsRead, report.complete ? "yes" : "no", importSeconds, Double(report.imported) / importSeconds,
                     importSeconds <= 15 * Double(results) / 100_000 ? "met" : "NOT met"))
        t = Date()
        let again = try await target.importBundle(FileChunks(path: file), trust: [source.nodeID], keys: target.knownKeys())
        print(String(format: "import again (idempotent): %d imported, %d already present, in %.2f s", again.imported, again.alreadyPresent, Date().timeIntervalSince(t)))
        print("cores: \(ProcessInfo.processInfo.activeProcessorCount); " + (owned ? "work directory removed (--keep keeps it)" : "data in \(base)"))
    }
}
