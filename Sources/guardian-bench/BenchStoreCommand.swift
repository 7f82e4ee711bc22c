import ArgumentParser
import Foundation
import GuardianAudit
import GuardianCore
import GuardianCrypto
import GuardianNode
import GuardianStore

/// Seeds a data directory with projects, signed results and findings, measuring on the way:
/// signed results acknowledged durably per second (one transaction each, and group commit), and
/// signature verifications per second on one core. Used by scripts/bench-agent.sh.
struct BenchStoreCommand: ParsableCommand {
    static let configuration = CommandConfiguration(commandName: "store", abstract: "Seed and measure the store.")

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
        let t0 = Date()
        var batch: [(ResultRecord, [FindingRecord])] = []
        for i in 0..<projects {
            let pid = String(format: "bench-%04d", i)
            try? ReplicatedRegistry.local(store).insert(project: ProjectRecord(id: pid, name: pid, repositoryUrl: "https://example.invalid/\(pid).git", team: "default",
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

        // 2. durable signed results per second (small reports, as an incremental push produces):
        //    sign (in-toto statement, DSSE, Ed25519) + store durably, measured end to end.
        let small = try Self.sampleReport(findings: 5)
        do {
            var r = small; r.subject.commit = String(repeating: "b", count: 40)
            let n = 2000
            var t = Date(); for _ in 0..<n { _ = try Attestation.statementBytes(r) }; let statement = Date().timeIntervalSince(t)
            let bytes = try Attestation.statementBytes(r)
            t = Date(); for _ in 0..<n { _ = DSSE.sign(payload: bytes, payloadType: DSSE.inTotoPayloadType, key: key) }; let sign = Date().timeIntervalSince(t)
            print(String(format: "  per result on one core: statement %.0f us, DSSE+Ed25519 signature %.0f us (payload %d bytes)",
                         statement * 1e6 / Double(n), sign * 1e6 / Double(n), bytes.count))
        }
        @Sendable func made(_ i: Int, _ series: Int) throws -> (ResultRecord, [FindingRecord]) {
            var r = small
            r.subject = AuditSubject(repository: "https://example.invalid/throughput.git", commit: String(format: "%040x", i + series * 10_000_000),
                                     revision: "HEAD", isGitRepository: true)
            return try Self.record(r, project: "bench-0000", key: key, at: now + Double(i))
        }
        // one writer, one transaction (one fsync) per result
        let start = Date()
        let sequentialCount = min(throughputResults, 1000)
        for i in 0..<sequentialCount { try store.insert(results: [try made(i, 1)]) }
        let single = Double(sequentialCount) / Date().timeIntervalSince(start)
        print(String(format: "signed results acknowledged durably, one writer, one transaction (one fsync) each: %.0f/s", single))
        // many concurrent producers (audits finishing, replicas arriving) share commits: group commit
        for (series, producers) in [16, 64].enumerated() {
            let timing = Timing()
            let (rate, perCommit) = try Self.concurrently(producers, results: throughputResults, store: store) { i in
                let a = DispatchTime.now().uptimeNanoseconds
                let m = try made(i, 2 + series)
                let b = DispatchTime.now().uptimeNanoseconds
                try store.insert(results: [m])
                timing.add(Int(b - a), Int(DispatchTime.now().uptimeNanoseconds - b))
            }
            print(String(format: "signed results acknowledged durably, %d concurrent producers, group commit: %.0f/s (%.1f results per fsync; per result %.0f us signing, %.0f us waiting for the commit) (bar: >= 5000/s)",
                         producers, rate, perCommit, timing.signing / Double(throughputResults) / 1000, timing.waiting / Double(throughputResults) / 1000))
        }
        // the store alone: results signed beforehand (as replicas and imports arrive), stored durably
        // by 16 concurrent writers sharing commits
        let signed = try (0..<throughputResults).map { try made($0, 9) }
        let (rate, perCommit) = try Self.concurrently(16, results: throughputResults, store: store) { try store.insert(results: [signed[$0]]) }
        print(String(format: "signed results stored durably (signed beforehand), 16 writers, group commit: %.0f/s (%.1f results per fsync)", rate, perCommit))

        // 3. verifications per second, one core, on a realistic envelope
        var report = base
        report.subject.commit = String(repeating: "a", count: 40)
        let envelope = try Attestation.sign(report, key: key)
        let trusted = [key.verifyingKey.nodeID.value: key.verifyingKey]
        let envKB = Double(envelope.count) / 1024
        // Ed25519 hashes the whole signed message (SHA-512), so the floor for an envelope is libsodium
        // on the message the envelope signs; the gap is what DSSE costs on top (parsing, base64, the
        // pre-authentication encoding).
        let verified = try DSSE.verify(envelope, trusted: trusted)
        let message = DSSE.pae(type: verified.payloadType, body: verified.payload)
        let messageSignature = key.sign(message)
        let smallEnvelope = try Attestation.sign(try Self.sampleReport(findings: 5), key: key)
        let raw = key.sign(Array(repeating: 7, count: 64)), rawMessage = [UInt8](repeating: 7, count: 64)
        // The four rates are measured in 7 interleaved rounds of 0.3 s each, so that the VM's speed,
        // which drifts by a third over minutes here, weighs on all of them alike; each is printed as
        // the median round and the best.
        let rates = try Self.interleaved(rounds: 7, seconds: 0.3, [
            { _ = try DSSE.verify(envelope, trusted: trusted) },
            { _ = try DSSE.verify(smallEnvelope, trusted: trusted) },
            { _ = key.verifyingKey.verify(signature: messageSignature, message: message) },
            { _ = key.verifyingKey.verify(signature: raw, message: rawMessage) },
        ])
        let (dsse, incremental, libsodium, tiny) = (rates[0], rates[1], rates[2], rates[3])
        print(String(format: "signature verifications: %.0f/s on one core (median of 7 rounds, best %.0f/s; DSSE envelope of %.1f KB; bar: >= 10000/s)",
                     dsse.median, dsse.best, envKB))
        print(String(format: "signature verifications: %.0f/s on one core (median of 7 rounds, best %.0f/s; DSSE envelope of %.1f KB, an incremental result)",
                     incremental.median, incremental.best, Double(smallEnvelope.count) / 1024))
        print(String(format: "raw Ed25519 verifications: %.0f/s on one core (median, best %.0f/s; libsodium, 64-byte message)", tiny.median, tiny.best))
        print(String(format: "raw Ed25519 verifications: %.0f/s on one core (median, best %.0f/s; libsodium, the %d-byte message the %.1f KB envelope signs); DSSE verification is %.0f%% of that",
                     libsodium.median, libsodium.best, message.count, envKB, dsse.median / libsodium.median * 100))
    }

    /// Runs `body(i)` for every result index on `threads` threads of their own (thread k takes
    /// k, k + threads, …); returns results per second and results per WAL sync (fsync).
    static func concurrently(_ threads: Int, results: Int, store: Store, _ body: @escaping @Sendable (Int) throws -> Void) throws -> (Double, Double) {
        let before = store.commitStats
        let start = Date()
        let failures = Counter()
        let done = DispatchGroup()
        for t in 0..<threads {
            done.enter()
            Thread.detachNewThread {
                for i in stride(from: t, to: results, by: threads) {
                    do { try body(i) } catch { failures.add() }
                }
                done.leave()
            }
        }
        done.wait()
        let rate = Double(results) / Date().timeIntervalSince(start)
        let after = store.commitStats
        guard failures.value == 0 else { throw ValidationError("\(failures.value) results failed to store") }
        return (rate, Double(after.results - before.results) / Double(max(1, after.syncs - before.syncs)))
    }

    /// Rates of several operations measured in interleaved rounds: each round runs every operation
    /// for `seconds`; per operation, the median round and the best.
    static func interleaved(rounds: Int, seconds: Double, _ bodies: [() throws -> Void]) throws -> [(median: Double, best: Double)] {
        var samples = Array(repeating: [Double](), count: bodies.count)
        for _ in 0..<rounds {
            for (k, body) in bodies.enumerated() { samples[k].append(try rate(seconds: seconds, body)) }
        }
        return samples.map { s in
            let sorted = s.sorted()
            return (sorted[sorted.count / 2], sorted.last ?? 0)
        }
    }

    /// Calls per second of `body` on this thread, over `seconds`, in batches of 100.
    static func rate(seconds: Double, _ body: () throws -> Void) rethrows -> Double {
        let start = Date()
        var n = 0
        while Date().timeIntervalSince(start) < seconds {
            for _ in 0..<100 { try body() }
            n += 100
        }
        return Double(n) / Date().timeIntervalSince(start)
    }

    static func record(_ report: AuditReport, project: String, key: SigningKey, at time: Double) throws -> (ResultRecord, [FindingRecord]) {
        ResultRecord.signed(report, envelope: try Attestation.sign(report, key: key), project: project, signer: key.verifyingKey.nodeID.value, at: time)
    }

    static func sampleReport(findings: Int) throws -> AuditReport { AuditReport.sample(findings: findings) }
}

/// A thread-safe count.
final class Counter: @unchecked Sendable {
    private let lock = NSLock()
    private var n = 0
    func add() { lock.lock(); n += 1; lock.unlock() }
    var value: Int { lock.lock(); defer { lock.unlock() }; return n }
}

/// Summed nanoseconds spent signing and waiting for the commit, across producer threads.
final class Timing: @unchecked Sendable {
    private let lock = NSLock()
    private(set) var signing = 0.0, waiting = 0.0
    func add(_ sign: Int, _ wait: Int) { lock.lock(); signing += Double(sign); waiting += Double(wait); lock.unlock() }
}
