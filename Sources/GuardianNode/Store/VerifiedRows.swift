import Dispatch
import Foundation
import GuardianAudit
import GuardianCrypto
import GuardianMesh

/// Signed results from elsewhere (pushes, hints, anti-entropy, read repair, air-gap imports) turned
/// into store rows: ids hashed and signatures checked on every core, results already stored
/// recognised by id (a hash of the exact bytes, checked when they were stored) and not verified
/// again, projects checked, and findings marked new against the project's previous result in the
/// order the results come. One builder serves a whole replication batch or a whole import.
struct VerifiedRows {
    enum Outcome {
        case present
        case refused(String, unknownSigner: String?)
        case row(ResultRecord, [FindingRecord])
    }

    let store: Store
    private var registered: [String: Bool] = [:]
    private var lastFingerprints: [String: Set<String>?] = [:]
    /// Ids turned into rows by this builder (their insert may still be running).
    private var seen: Set<String> = []

    init(store: Store) { self.store = store }

    /// Each record's outcome, in order. `trusted` gives the keys a record may be signed with.
    /// `ids` are the records' ids when the caller hashed them already.
    mutating func prepare(_ records: [ResultSync.Record], ids known: [String]? = nil,
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
                outcomes[i] = .refused("\(e)", unknownSigner: (e as? CryptoError)?.unknownSigner)
            case .success(let (statement, signer, fingerprints)):
                if registered[r.project] == nil { registered[r.project] = try store.project(id: r.project) != nil }
                guard registered[r.project] == true else {
                    outcomes[i] = .refused("project \(r.project) is not registered here", unknownSigner: nil)
                    continue
                }
                guard seen.insert(id).inserted else { continue } // twice in the input: present
                if lastFingerprints[r.project] == nil { lastFingerprints[r.project] = .some(try store.latestFingerprints(project: r.project)) }
                build.append((i, statement, signer, lastFingerprints[r.project]!))
                lastFingerprints[r.project] = .some(fingerprints)
            }
        }
        let rows = ParallelMap.run(build) { (i, statement, signer, previous) in
            let r = records[i]
            return ResultRecord.signed(statement, envelope: r.envelope, id: ids[i], project: r.project, signer: signer, at: r.createdAt,
                                       isNew: { fingerprint in previous.map { !$0.contains(fingerprint) } ?? false })
        }
        for ((i, _, _, _), (row, findings)) in zip(build, rows) { outcomes[i] = .row(row, findings) }
        Discard.later(consume verified)
        Discard.later(consume build)
        Discard.later(consume rows)
        return outcomes
    }
}

/// Releases large values on a thread of its own. Freeing a batch's arrays (8,192 results: their
/// statements, findings and frames, each a few heap objects) took tens of milliseconds at the end
/// of every batch of an import, on the one thread the next batch waits for, while a core sat idle.
enum Discard {
    private static let queue = DispatchQueue(label: "guardian.discard", qos: .utility)

    /// `value`'s last reference goes with the closure, which `queue` releases after running it.
    static func later<T: Sendable>(_ value: consuming T) {
        let last = value
        queue.async { withExtendedLifetime(last) {} }
    }
}

/// Maps over an array on every core (signature checks dominate an import).
enum ParallelMap {
    static func run<T: Sendable, U: Sendable>(_ items: [T], _ f: @Sendable (T) -> U) -> [U] {
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
