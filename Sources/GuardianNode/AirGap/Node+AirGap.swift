import Dispatch
import Foundation
import GuardianStore
import GuardianAudit
import GuardianCore
import GuardianCrypto
import GuardianMesh

/// What an export wrote.
public struct ExportSummary: Codable, Sendable {
    public var registry: Int
    public var results: Int
    public var signers: [String]
    /// Signers whose public keys this node does not know: their results are in the bundle, but an
    /// importer that does not know them either will refuse them.
    public var unknownSigners: [String]
    public var bytes: Int
}

/// What an import did. `complete` is true only when the whole bundle was read (header to trailer,
/// counts as announced), nothing was damaged and nothing refused.
public struct ImportReport: Codable, Sendable {
    public struct SignerOutcome: Codable, Sendable {
        public var id: String
        public var accepted: Bool
        public var results: Int
        public var reason: String?
    }
    public var exporter: String?
    public var exporterName: String?
    public var expectedRegistry: Int?
    public var expectedResults: Int?
    public var registryRead = 0, registryApplied = 0, registryUnchanged = 0
    public var resultsRead = 0, imported = 0, alreadyPresent = 0
    public var refused: [String: Int] = [:]
    public var signers: [SignerOutcome] = []
    /// Frames that failed their checksum, or where reading stopped: "byte N: why".
    public var damaged: [String] = []
    public var truncated = false
    /// What a truncated or damaged bundle did not deliver.
    public var missing: String?
    public var complete = false
    public var seconds = 0.0
}

extension Node {
    /// Public keys this node can vouch for: its own, `keys/*.pub`, and the members it has seen
    /// (`member-keys.json`, kept by the mesh), plus `extra` (the running mesh's live view).
    public nonisolated func knownKeys(_ extra: [String: VerifyingKey] = [:]) -> [String: VerifyingKey] {
        var keys = NodeIdentity.memberKeys(dataDir)
        keys.merge(NodeIdentity.trustedKeys(dataDir)) { _, new in new }
        keys.merge(extra) { _, new in new }
        keys[nodeID] = identity.verifyingKey
        return keys
    }

    /// Writes an air-gap bundle through `write`, in chunks of about 1 MB: registry records (projects
    /// and teams, no secrets, no tokens) and signed results, optionally of one project and since a time.
    public nonisolated func exportBundle(project: String?, since: Double?, keys: [String: VerifyingKey],
                                         write: ([UInt8]) async throws -> Void) async throws -> ExportSummary {
        if let project, try store.project(id: project) == nil { throw NodeError.noProject(project) }
        let (count, signerIDs, projects) = try store.exportSelection(project: project, since: since)
        let registryRecords = try registry.exportable(project: project, since: since, including: projects)
        let signers = signerIDs.compactMap { id in keys[id].map { AirGapBundle.Signer(id: id, publicKey: $0.base64) } }
        let unknown = signerIDs.filter { keys[$0] == nil }
        let me = identity.verifyingKey
        let header = AirGapBundle.Header(exporter: .init(id: nodeID, publicKey: me.base64), exporterName: config.name,
                                         createdAt: Date().timeIntervalSince1970, project: project, since: since,
                                         registry: registryRecords.count, results: count, signers: signers, unknownSigners: unknown)
        var out = AirGapBundle.magic
        var bytes = 0
        func flush(_ force: Bool = false) async throws {
            guard force || out.count >= 1 << 20 else { return }
            bytes += out.count
            try await write(out)
            out.removeAll(keepingCapacity: true)
        }
        out += AirGapBundle.frame(.header, AirGapBundle.signed(AirGapBundle.json(header), by: identity))
        for r in registryRecords {
            out += AirGapBundle.frame(.registry, AirGapBundle.signed(RegistrySync.records([r]).encode(), by: identity))
            try await flush()
        }
        var seq: Int64 = 0, written = 0
        while true {
            let (page, last) = try store.exportPage(project: project, since: since, after: seq, limit: 1000)
            if page.isEmpty { break }
            seq = last
            for r in page {
                out += AirGapBundle.resultFrame(r)
                written += 1
                try await flush()
            }
        }
        out += AirGapBundle.frame(.trailer, AirGapBundle.signed(AirGapBundle.json(AirGapBundle.Trailer(registry: registryRecords.count, results: written)), by: identity))
        try await flush(true)
        return ExportSummary(registry: registryRecords.count, results: written, signers: signers.map(\.id), unknownSigners: unknown, bytes: bytes)
    }

    /// Imports a bundle read from `chunks`: every result's signature is verified against the keys
    /// this node trusts (its own, `keys/`, the mesh's members) and the bundle's keys that `trust`
    /// names (node ids or keys); registry records only when the exporter's signature holds and the
    /// exporter is trusted the same way. What is already here is skipped, so importing twice
    /// changes nothing.
    public nonisolated func importBundle<S: AsyncSequence>(_ chunks: S, trust: [String] = [], keys: [String: VerifyingKey])
        async throws -> ImportReport where S.Element == [UInt8] {
        try await store.bulkLoad {
            var importer = BundleImporter(node: self, trust: trust, known: keys)
            for try await chunk in chunks {
                try await importer.feed(chunk)
            }
            return try await importer.finish()
        }
    }
}

/// The import of one bundle, frame by frame, results verified and stored in batches of 8,192
/// (signatures checked on every core; one transaction per batch, written while the next batch is
/// verified: fewer, larger transactions rewrite the random id index far less often).
struct BundleImporter {
    let node: Node
    let trust: Set<String>
    let known: [String: VerifyingKey]
    var reader = BundleReader()
    var report = ImportReport()
    var exporterKey: VerifyingKey?
    var exporterTrusted = false
    /// Keys results may be signed with, by node id.
    var signerKeys: [String: VerifyingKey] = [:]
    var signerCounts: [String: Int] = [:]
    var refusedSigners: [String: String] = [:]
    var registryBatch: [RegistryRecord] = []
    /// Result frames read and not yet opened (checksum, decoding) nor verified, with their offsets,
    /// and their bytes: a batch ends at `batchResults` frames or `batchBytes` bytes, whichever
    /// comes first (a frame may be 8 MB: a count alone would let a bundle hold gigabytes here).
    var resultFrames: [([UInt8], Int)] = []
    var resultBytes = 0
    static let batchResults = 8192, batchBytes = 64 << 20
    /// Verifies and turns results into rows across the whole import.
    var rows: VerifiedRows
    /// Inserts not yet finished, in order, each waiting for the one before it: at most two. They
    /// await their commits (`Store.insert` async): an insert that blocked one of the two threads of
    /// Swift's cooperative pool left the signature checks (`ParallelMap`, called from the other) on
    /// one core for as long as it lasted.
    var inserts: [Task<Void, any Error>] = []
    var sawHeader = false, sawTrailer = false
    let started = Date()

    init(node: Node, trust: [String], known: [String: VerifyingKey]) {
        self.node = node
        self.trust = Set(trust)
        self.known = known
        rows = VerifiedRows(store: node.store)
        // the keys this node already trusts; the bundle's own keys are added below when --trust names them
        signerKeys = known
    }

    /// A key from a bundle is trusted when this node already trusts that very key, or the operator
    /// named its node id or the key itself with `--trust`. Whoever wrote the bundle is trusted no
    /// further than that: a bundle is a file from across an air gap.
    func trusts(id: String, key: VerifyingKey) -> Bool {
        known[id]?.base64 == key.base64 || trust.contains(id) || trust.contains(key.base64)
    }

    mutating func feed(_ chunk: [UInt8]) async throws {
        reader.feed(chunk)
        while let item = reader.next() {
            switch item {
            case .damaged(let offset, let reason): report.damaged.append("byte \(offset): \(reason)")
            case .frame(let kind, let body, let offset): try await frame(kind, body, offset: offset)
            case .result(let frame, let offset):
                try await flushRegistry()
                resultFrames.append((frame, offset))
                resultBytes += frame.count
                if resultFrames.count >= Self.batchResults || resultBytes >= Self.batchBytes { try await flushResults() }
            }
        }
    }

    private mutating func refuse(_ reason: String, _ n: Int = 1) { report.refused[reason, default: 0] += n }

    private mutating func frame(_ kind: AirGapBundle.Kind, _ body: [UInt8], offset: Int) async throws {
        switch kind {
        case .header:
            guard !sawHeader else { return report.damaged.append("byte \(offset): a second header") }
            sawHeader = true
            guard body.count > 64, let header = try? JSONDecoder().decode(AirGapBundle.Header.self, from: Data(body.dropLast(64))) else {
                return report.damaged.append("byte \(offset): a header that does not decode")
            }
            report.exporter = header.exporter.id
            report.exporterName = header.exporterName
            report.expectedRegistry = header.registry
            report.expectedResults = header.results
            guard let key = try? VerifyingKey(base64: header.exporter.publicKey), key.nodeID.value == header.exporter.id,
                  AirGapBundle.opened(body, key: key) != nil else {
                return report.damaged.append("byte \(offset): the header's signature does not verify; its keys and registry records are not used")
            }
            exporterKey = key
            exporterTrusted = trusts(id: header.exporter.id, key: key)
            for s in header.signers {
                guard let k = try? VerifyingKey(base64: s.publicKey), k.nodeID.value == s.id else {
                    refusedSigners[s.id] = "its public key does not match its id"
                    continue
                }
                if trusts(id: s.id, key: k) { signerKeys[s.id] = k } else { refusedSigners[s.id] = "not trusted here: name it with --trust" }
            }
            for id in header.unknownSigners where signerKeys[id] == nil { refusedSigners[id] = refusedSigners[id] ?? "the exporter did not know its key" }
        case .registry:
            report.registryRead += 1
            guard let key = exporterKey else { return refuse("registry record without a verified header") }
            guard exporterTrusted else { return refuse("registry record from an exporter not trusted here (name it with --trust)") }
            guard let content = AirGapBundle.opened(body, key: key), case .records(let rs)? = try? RegistrySync.decode(content) else {
                return refuse("registry record with a bad signature")
            }
            for r in rs {
                if r.kind == .token { refuse("token records are never imported"); continue }
                // a channel is a URL the node will POST to: a bundle may not add or change one
                if r.kind == .channel { refuse("alert channel records are never imported"); continue }
                registryBatch.append(r)
            }
        case .result:
            break // the reader hands result frames out whole (`.result`), to be opened in `flushResults`
        case .trailer:
            sawTrailer = true
            guard let key = exporterKey, let content = AirGapBundle.opened(body, key: key),
                  let t = try? JSONDecoder().decode(AirGapBundle.Trailer.self, from: Data(content)) else {
                return report.damaged.append("byte \(offset): a trailer that does not verify")
            }
            if t.results != report.expectedResults { report.expectedResults = t.results }
        }
    }

    private mutating func flushRegistry() async throws {
        guard !registryBatch.isEmpty else { return }
        let batch = registryBatch
        registryBatch = []
        let o = try await node.registry.merge(batch, keepSecrets: true)
        report.registryApplied += o.applied
        report.registryUnchanged += o.stale
        if o.refused > 0 { refuse("registry record stamped in the future", o.refused) }
        if o.malformed > 0 { refuse("registry record that does not decode", o.malformed) }
        if o.invalid > 0 { refuse("registry record with an invalid id or field", o.invalid) }
    }

    /// Opens, verifies and stores the batch. Frames are checked and decoded, and their results'
    /// ids hashed, on every core; results already stored are recognised by id (a hash of the exact
    /// bytes, checked when they were stored) and not verified again; the others are verified on
    /// every core, and their insert runs while the next batch is verified.
    private mutating func flushResults() async throws {
        guard !resultFrames.isEmpty else { return }
        let frames = resultFrames
        resultFrames = []
        resultBytes = 0
        let version = reader.version
        let opened = ParallelMap.run(frames) { frame, _ in AirGapBundle.openResult(frame, version: version) }
        var batch: [ResultSync.Record] = [], ids: [String] = []
        batch.reserveCapacity(frames.count)
        ids.reserveCapacity(frames.count)
        for ((_, offset), frame) in zip(frames, opened) {
            switch frame {
            case .failure(let damage): report.damaged.append("byte \(offset): \(damage.reason)")
            case .success(let (records, recordIDs)):
                report.resultsRead += records.count
                batch += records
                ids += recordIDs
            }
        }
        Discard.later(consume opened)
        Discard.later(consume frames)
        let keys = signerKeys
        var insert: [(ResultRecord, [FindingRecord])] = []
        let outcomes = try rows.prepare(batch, ids: ids, trusted: { _ in keys })
        Discard.later(consume batch)
        Discard.later(consume ids)
        for outcome in outcomes {
            switch outcome {
            case .present: report.alreadyPresent += 1
            case .row(let result, let findings):
                insert.append((result, findings))
                signerCounts[result.signer, default: 0] += 1
            case .refused(_, let signer?, _):
                refuse("signed by \(signer), whose key is not accepted")
                refusedSigners[signer] = refusedSigners[signer] ?? "its key is not in the bundle or known here"
            case .refused(_, nil, true):
                refuse("bad signature")
            case .refused(let why, nil, false):
                refuse(why)
            }
        }
        // Inserts run in order on the store's writer while the next batches are verified, and up to
        // two wait for it: with only one, verification stopped at the end of every batch until the
        // previous insert (slowed by sharing two cores with it) had finished, and a core sat idle
        // for about a tenth of the import.
        while inserts.count >= 2 { try await inserts.removeFirst().value }
        guard !insert.isEmpty else { return }
        report.imported += insert.count
        let store = node.store, previous = inserts.last
        inserts.append(Task { [insert] in
            try await previous?.value
            try await store.insert(results: insert)
        })
    }

    mutating func finish() async throws -> ImportReport {
        try await flushRegistry()
        try await flushResults()
        while !inserts.isEmpty { try await inserts.removeFirst().value }
        if let stopped = reader.stopped { report.damaged.append(stopped) }
        if !reader.started && reader.stopped == nil { report.damaged.append("empty input: not a Guardian bundle") }
        report.truncated = reader.leftover > 0 || (reader.started && !sawTrailer && reader.stopped == nil)
        var missing: [String] = []
        if let n = report.expectedResults, report.resultsRead < n { missing.append("\(n - report.resultsRead) of \(n) results") }
        if let n = report.expectedRegistry, report.registryRead < n { missing.append("\(n - report.registryRead) of \(n) registry records") }
        if !sawHeader { missing.append("the header (signer keys and counts)") }
        if !sawTrailer { missing.append("the trailer") }
        if !missing.isEmpty {
            report.missing = missing.joined(separator: ", ") + (report.truncated ? " (the file ends at byte \(reader.offset + reader.leftover))" : "")
        }
        var outcomes = signerCounts.map { ImportReport.SignerOutcome(id: $0.key, accepted: true, results: $0.value) }
        for (id, why) in refusedSigners where signerCounts[id] == nil {
            outcomes.append(.init(id: id, accepted: false, results: 0, reason: why))
        }
        report.signers = outcomes.sorted { $0.id < $1.id }
        // the keys of accepted signers are kept (keys/<id>.pub): this node can then verify the imported
        // results (`guardian verify`, POST /v1/verify) and name their signers when it exports them
        node.keep(keys: signerCounts.keys.filter { known[$0] == nil }.compactMap { signerKeys[$0] })
        report.complete = missing.isEmpty && report.damaged.isEmpty && report.refused.isEmpty && !report.truncated
        report.seconds = Date().timeIntervalSince(started)
        return report
    }
}
