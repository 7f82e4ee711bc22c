import Dispatch
import Foundation
import GuardianStore
import GuardianAudit
import GuardianCore
import GuardianCrypto
import GuardianMesh
import Logging
import Synchronization

/// Results that arrive from members and bundles: verified, then stored.
extension Node {
    /// Stores signed results other nodes sent (pushes, handed-off hints, anti-entropy, read repair):
    /// each is verified against its signer's public key, which must be a known member, and its
    /// project must be registered here, before anything is written; the good ones are stored in one
    /// durable transaction. Returns the ids now held and the records refused (counted and logged).
    public nonisolated func storeReplicas(_ all: [ResultSync.Record], signers: [String: VerifyingKey]) async -> (stored: [String], refused: Int) {
        // Records another session is verifying and storing right now (the same backlog arriving from
        // two owners at once) are left to it: neither verified twice nor reported stored here.
        let allIDs = ParallelMap.run(all) { DSSE.recordID($0.envelope) }
        let claimed = replicating.withLock { busy in Set(allIDs.filter { busy.insert($0).inserted }) }
        defer { replicating.withLock { busy in busy.subtract(claimed) } }
        let mine = all.indices.filter { claimed.contains(allIDs[$0]) }
        let records = mine.map { all[$0] }
        var rows = VerifiedRows(store: store)
        let outcomes: [VerifiedRows.Outcome]
        do {
            // a signer outside the mesh (an imported result) is verified with the key the sending member vouches for
            outcomes = try rows.prepare(records, ids: mine.map { allIDs[$0] }) { r in
                var trusted = signers
                if let k = r.vouchedKey, trusted[k.nodeID.value] == nil { trusted[k.nodeID.value] = k }
                return trusted
            }
        } catch {
            logger.error("could not read the store for replicated results", metadata: ["error": "\(error)"])
            return ([], 0)
        }
        var batch: [(ResultRecord, [FindingRecord])] = []
        var held: [String] = [], refused = 0
        for (r, outcome) in zip(records, outcomes) {
            switch outcome {
            case .present: held.append(DSSE.recordID(r.envelope))
            case .row(let result, let findings): batch.append((result, findings))
            case .refused(let why, _, _):
                refused += 1
                AgentMetrics.resultRefused()
                logger.warning("refused a replicated result", metadata: ["project": "\(r.project)", "error": "\(why)"])
            }
        }
        guard !batch.isEmpty else { return (held, refused) }
        do {
            try await store.insert(results: batch)
        } catch {
            logger.error("could not store replicated results", metadata: ["count": "\(batch.count)", "error": "\(error)"])
            return (held, refused)
        }
        // each project's team looked up once per batch (an event's scope), not once per result
        var teams: [String: String] = [:]
        for p in Set(batch.map(\.0.projectId)) { teams[p] = try? store.project(id: p)?.team }
        for (r, _) in batch {
            held.append(r.id)
            await events.publish("result.replicated", ["project": r.projectId, "result": r.id, "signer": r.signer], team: teams[r.projectId])
        }
        // the primary speaks for a project whose newest result arrived from another owner (failover, import)
        for p in Set(batch.map(\.0.projectId)) where await isPrimary(p) { recordSummary(project: p) }
        // keep the keys of signers from outside the mesh: this node can then verify and export those results
        let signersStored = Set(batch.map(\.0.signer))
        keep(keys: records.compactMap(\.vouchedKey).filter { signers[$0.nodeID.value] == nil && signersStored.contains($0.nodeID.value) })
        return (held, refused)
    }

    /// Keeps public keys in `keys/<id>.pub` (trusted by `guardian verify` and `POST /v1/verify`,
    /// and named as signers when this node exports); a key already kept is not written again.
    nonisolated func keep(keys: [VerifyingKey]) {
        var done: Set<String> = []
        for k in keys where done.insert(k.nodeID.value).inserted {
            let name = "keys/\(k.nodeID.value).pub"
            if FileManager.default.fileExists(atPath: dataDir.file(name)) { continue }
            try? FileManager.default.createDirectory(atPath: dataDir.file("keys"), withIntermediateDirectories: true)
            try? dataDir.writeAtomically(name, Array((k.base64 + "\n").utf8), mode: 0o600)
        }
    }
}
