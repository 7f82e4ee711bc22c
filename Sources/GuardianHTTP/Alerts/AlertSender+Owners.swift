import Foundation
import GuardianCore
import GuardianMesh
import GuardianNode
import GuardianStore
import NIOCore

/// What a sender tells the other owners: the rows it raised, its final records, retried until each
/// owner acknowledged them.
extension AlertSender {
    /// Tells the other owners that the entry is final; whether every one acknowledged it (trivially,
    /// with none). One that is down gets it from `pushFinals` later.
    func pushFinal(_ row: AlertOutboxRow) async -> Bool {
        !(await pushToOwners([row], path: API.alertFinalsPath) { try JSONEncoder().encode($0.map(AlertFinalRecord.init)) }).isEmpty
    }

    /// Rows raised here, pushed to the other owners until each has them (for as long as a standby
    /// could still send them): every owner then holds the same rows, whatever order the results
    /// reached it in, and a standby has what to send when the node that raised them dies.
    func shareRows(now: Int64) async {
        guard let rows = try? store.unsharedAlerts(since: now - plan.maxAge, limit: 500), !rows.isEmpty else { return }
        for (group, ownedHere) in await pushToOwners(rows, path: API.alertRowsPath, { try JSONEncoder().encode($0) }) {
            let ids = group.map(\.id)
            try? store.markShared(ids, at: now)
            // raised on a node that is none of the owners (it stood in for a failed one): the owners have them now
            if !ownedHere { try? store.handOff(ids, answer: "raised here and handed to the owners, which send it", now: now) }
        }
    }

    /// Final records an owner has not acknowledged yet (it was down, cut off or slow), pushed again
    /// in batches per set of owners, for as long as the message could still be sent by a standby.
    func pushFinals(now: Int64) async {
        guard let rows = try? store.unpushedFinals(by: nodeName, since: now - plan.maxAge, limit: 500), !rows.isEmpty else { return }
        for (group, _) in await pushToOwners(rows, path: API.alertFinalsPath, { try JSONEncoder().encode($0.map(AlertFinalRecord.init)) }) {
            try? store.markForwarded(group.map(\.id), at: now)
        }
    }

    /// Rows sent, one request per set of owners, to each row's owners other than this node; the
    /// groups every one of them acknowledged (a group with no other owner counts as acknowledged),
    /// each with whether this node is among its owners.
    func pushToOwners(_ rows: [AlertOutboxRow], path: String, _ encode: ([AlertOutboxRow]) throws -> Data) async -> [(rows: [AlertOutboxRow], ownedHere: Bool)] {
        var groups: [[String]: [AlertOutboxRow]] = [:]
        for row in rows { groups[await owners(of: row), default: []].append(row) }
        var acknowledged: [(rows: [AlertOutboxRow], ownedHere: Bool)] = []
        for (owners, group) in groups {
            let others = owners.filter { $0 != nodeName }
            if !others.isEmpty {
                guard let body = try? encode(group), await post(body, to: others, path: path).count == others.count else { continue }
            }
            acknowledged.append((group, owners.contains(nodeName)))
        }
        return acknowledged
    }

    /// POSTs `body` to each named member under a member claim; the members that answered 2xx.
    func post(_ body: Data, to members: [String], path: String) async -> Set<String> {
        guard let mesh = api.mesh, !members.isEmpty else { return [] }
        let addresses = await mesh.httpAddresses()
        return await withTaskGroup(of: String?.self) { group in
            for o in members {
                guard let address = addresses[o] else { continue }
                group.addTask {
                    do {
                        let answer = try await self.api.send(method: "POST", path: path, headers: [("Content-Type", "application/json")],
                                                             body: ByteBuffer(bytes: body), caller: .member, to: o, at: address, via: mesh)
                        if answer.response.status.code < 300 { return o }
                        self.logger.debug("a member refused an alert record", metadata: ["member": "\(o)", "path": "\(path)", "status": "\(answer.response.status.code)"])
                    } catch {
                        self.logger.debug("could not reach a member with an alert record", metadata: ["member": "\(o)", "path": "\(path)", "error": "\(error)"])
                    }
                    return nil
                }
            }
            var acked: Set<String> = []
            for await o in group { if let o { acked.insert(o) } }
            return acked
        }
    }
}
