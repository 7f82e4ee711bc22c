import Dispatch
import Foundation
import GuardianAudit
import GuardianCore
import GuardianCrypto
import GuardianMesh

/// Signed results from elsewhere (pushes, hints, anti-entropy, read repair, air-gap imports) turned
/// into store rows: ids hashed and signatures checked on every core, results already stored
/// recognised by id (a hash of the exact bytes, checked when they were stored) and not verified
/// again, projects checked, and findings marked new against the project's previous result in the
/// order the results come. One builder serves a whole replication batch or a whole import.
///
/// What travels beside a signed envelope (its project, its time) is not signed, so it is believed
/// only as far as the statement agrees: a result is stored under a project only when the statement
/// is about that project's repository (and names that project, when it names one), and its time is
/// the statement's signed audit time. A statement that carries no time (older versions zeroed it)
/// keeps the time it came with, but never one in the future.
public struct VerifiedRows {
    public enum Outcome {
        case present
        /// `signature`: the envelope did not verify (else its statement does not fit the project).
        case refused(String, unknownSigner: String?, signature: Bool)
        case row(ResultRecord, [FindingRecord])
    }

    let store: Store
    /// Each project's repository URL, nil when it is not registered here.
    private var registered: [String: String?] = [:]
    /// How far ahead of this node's clock a signed time may be (clocks drift).
    static let maxAhead = 600.0
    private var lastFingerprints: [String: Set<String>?] = [:]
    /// Ids turned into rows by this builder (their insert may still be running).
    private var seen: Set<String> = []

    public init(store: Store) { self.store = store }

    /// Each record's outcome, in order. `trusted` gives the keys a record may be signed with.
    /// `ids` are the records' ids when the caller hashed them already.
    public mutating func prepare(_ records: [ResultSync.Record], ids known: [String]? = nil,
                          trusted: @Sendable (ResultSync.Record) -> [String: VerifyingKey]) throws -> [Outcome] {
        let ids = known ?? ParallelMap.run(records) { DSSE.recordID($0.envelope) }
        let stored = try store.existingIDs(ids)
        let todo = records.indices.filter { !stored.contains(ids[$0]) && !seen.contains(ids[$0]) }
        // Verified on every core, then an ordered pass decides each result's fate and which result
        // its findings are compared with (the project's previous one, in input order), then the
        // rows are built on every core with those marks. Rows are built once, with their marks: an
        // earlier version built them in parallel and marked them afterwards, which copied every
        // findings array it marked (half a million findings in a 100,000-result import).
        let verified = ParallelMap.run(todo) { i in
            let r = records[i]
            return Result { () throws -> (StatementSummary, String, Set<String>) in
                let (statement, v) = try Attestation.verifySummary(r.envelope, trusted: trusted(r))
                return (statement, v.signers.first ?? "", Set(statement.findings.map(\.fingerprint)))
            }
        }
        var outcomes = Array(repeating: Outcome.present, count: records.count)
        // (record index, its verified statement and signer, the fingerprints its findings are new against)
        var build: [(Int, StatementSummary, String, Set<String>?)] = []
        for (i, result) in zip(todo, verified) {
            let r = records[i], id = ids[i]
            switch result {
            case .failure(let e):
                outcomes[i] = .refused("\(e)", unknownSigner: (e as? CryptoError)?.unknownSigner, signature: true)
            case .success(let (statement, signer, fingerprints)):
                if registered[r.project] == nil { registered[r.project] = .some(try store.project(id: r.project)?.repositoryUrl) }
                guard let repository = registered[r.project] ?? nil else {
                    outcomes[i] = .refused("project \(r.project) is not registered here", unknownSigner: nil, signature: false)
                    continue
                }
                if let why = Self.mismatch(statement, project: r.project, repository: repository) {
                    outcomes[i] = .refused(why, unknownSigner: nil, signature: false)
                    continue
                }
                guard seen.insert(id).inserted else { continue } // twice in the input: present
                if lastFingerprints[r.project] == nil { lastFingerprints[r.project] = .some(try store.latestFingerprints(project: r.project)) }
                build.append((i, statement, signer, lastFingerprints[r.project]!))
                lastFingerprints[r.project] = .some(fingerprints)
            }
        }
        let now = Date().timeIntervalSince1970
        let rows = ParallelMap.run(build) { (i, statement, signer, previous) in
            let r = records[i]
            return ResultRecord.signed(statement, envelope: r.envelope, id: ids[i], project: r.project, signer: signer,
                                       at: Self.time(of: statement, carried: r.createdAt, now: now),
                                       isNew: { fingerprint in previous.map { !$0.contains(fingerprint) } ?? false })
        }
        for ((i, _, _, _), (row, findings)) in zip(build, rows) { outcomes[i] = .row(row, findings) }
        Discard.later(consume verified)
        Discard.later(consume build)
        Discard.later(consume rows)
        return outcomes
    }
}

extension VerifiedRows {
    /// Why a verified statement may not be stored under `project`, or nil when it may.
    static func mismatch(_ s: StatementSummary, project: String, repository: String) -> String? {
        if let p = s.project, p != project { return "the statement was signed for project \(p.prefix(64)), not \(project)" }
        if let r = s.repository, r != repository { return "the statement is about another repository than project \(project)'s" }
        if let ms = s.signedAtMs, Timestamp.seconds(ms) > Date().timeIntervalSince1970 + maxAhead {
            return "the statement is dated in the future (\(Timestamp.iso(ms: ms)))"
        }
        return nil
    }

    /// A result's time: the signed one; else the one it came with, but not later than now.
    static func time(of s: StatementSummary, carried: Double, now: Double) -> Double {
        s.signedAtMs.map(Timestamp.seconds) ?? min(carried, now)
    }
}

/// Releases large values on a thread of its own. Freeing a batch's arrays (8,192 results: their
/// statements, findings and frames, each a few heap objects) took tens of milliseconds at the end
/// of every batch of an import, on the one thread the next batch waits for, while a core sat idle.
public enum Discard {
    private static let queue = DispatchQueue(label: "guardian.discard", qos: .utility)

    /// `value`'s last reference goes with the closure, which `queue` releases after running it.
    public static func later<T: Sendable>(_ value: consuming T) {
        let last = value
        queue.async { withExtendedLifetime(last) {} }
    }
}

/// Maps over an array on every core (signature checks dominate an import).
public enum ParallelMap {
    public static func run<T: Sendable, U: Sendable>(_ items: [T], _ f: @Sendable (T) -> U) -> [U] {
        let out = UnsafeMutablePointer<U?>.allocate(capacity: items.count)
        out.initialize(repeating: nil, count: items.count)
        defer { out.deinitialize(count: items.count); out.deallocate() }
        let slots = Slots(base: out)
        // many more chunks than cores, handed out as threads free up: a core that is busy elsewhere
        // (the previous batch's insert) then slows its share instead of the whole batch
        let pieces = max(1, min(items.count, ProcessInfo.processInfo.activeProcessorCount * 32))
        let chunk = (items.count + pieces - 1) / pieces
        items.withUnsafeBufferPointer { input in
            let source = Source(base: input.baseAddress, count: input.count)
            DispatchQueue.concurrentPerform(iterations: pieces) { w in
                let lo = w * chunk, hi = min(source.count, lo + chunk)
                guard lo < hi, let base = source.base else { return }
                for i in lo..<hi { slots.base[i] = f(base[i]) }
            }
        }
        return (0..<items.count).map { out[$0]! }
    }

    // Each worker writes only its own indices; the buffers outlive the concurrentPerform call.
    struct Slots<U>: @unchecked Sendable { let base: UnsafeMutablePointer<U?> }
    struct Source<T>: @unchecked Sendable { let base: UnsafePointer<T>?; let count: Int }
}
