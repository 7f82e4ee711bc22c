import Foundation
import GuardianCore
import GuardianMesh
import GuardianNode
import GuardianStore
import NIOCore

/// Mesh events: a member the mesh declared dead, or one that left, reported by the nodes that own
/// the member's ring key.
extension AlertSender {
    static func memberKey(_ name: String) -> String { "member:\(name)" }

    /// The nodes that report on a member: its key's owners with one more, the member itself left out
    /// (so a member that owns its own key still has a full set of reporters).
    func memberOwners(key: String, member: String, mesh: MeshShell) async -> [String] {
        let n = api.node.config.replicationFactor
        return Array(await mesh.intendedOwners(of: key, count: n + 1).filter { $0 != member }.prefix(n))
    }
    static func member(ofKey key: String) -> String? { key.hasPrefix("member:") ? String(key.dropFirst(7)) : nil }

    /// A member the mesh declared dead, or one that left: every node that owns the member's key on
    /// the ring (the member itself left out) writes the same messages, and the first of them sends.
    public func memberEvent(_ e: MemberEvent) async {
        let kind: AlertEventKind
        switch e.kind {
        case .died: kind = .memberFailed
        case .left: kind = .memberLeft
        default: return
        }
        guard let mesh = api.mesh else { return }
        let key = Self.memberKey(e.member.name)
        guard await memberOwners(key: key, member: e.member.name, mesh: mesh).contains(nodeName) else { return }
        let channels = ((try? api.node.registry.channels()) ?? []).filter { $0.events.contains(kind.rawValue) }
        guard !channels.isEmpty else { return }
        let what = kind == .memberFailed ? "failed (the mesh declared it dead)" : "left the mesh"
        let event = AlertEvent(kind: kind, project: "", subject: e.member.name,
                               summary: "member \(e.member.name) at \(e.member.meta.address) \(what)", severity: kind == .memberFailed ? .high : .medium)
        let now = clock()
        var rows: [AlertOutboxRow] = []
        for c in channels {
            let context = AlertContext(projectId: "", projectName: "the mesh", team: c.team, resultId: nil, commit: nil, health: nil,
                                       link: api.node.alerts.link("mesh"))
            // one message per member, incarnation and kind: every owner computes the same id
            var row = AlertOutboxRow(id: OutboxEntry.deliveryID(result: "\(key):\(e.member.incarnation):\(kind.rawValue)", eventKey: "events", channel: c.id),
                                     projectId: nil, channel: c.id, resultId: key, payload: AlertPayload(context: context, events: [event]).encoded,
                                     createdAt: now, updatedAt: now)
            if let period = DigestPeriod(rawValue: api.node.alerts.frequency(c).rawValue) { row.hold(for: period) }
            rows.append(row)
        }
        do { try store.insert(alerts: rows) } catch {
            logger.error("could not queue a member alert", metadata: ["member": "\(e.member.name)", "error": "\(error)"])
        }
    }
}
