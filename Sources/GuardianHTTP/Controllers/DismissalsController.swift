import GuardianNode
import Foundation
import GuardianStore
import GuardianCore
import Hummingbird

/// Dismissals of a project's findings by fingerprint (docs/checks.md): maintainers of the
/// project's team (and admins) dismiss and restore; its readers list them. A dismissal is a
/// registry record: it reaches every node, and every owner's next audit applies it.
struct DismissalsController {
    let api: API
    var node: Node { api.node }

    var routes: RouteCollection<GuardianContext> {
        let r = RouteCollection(context: GuardianContext.self)
        r.get("projects/:id/dismissals", use: list)
        r.post("projects/:id/dismissals", use: dismiss)
        r.delete("projects/:id/dismissals/:fingerprint", use: restore)
        return r
    }

    @Sendable func list(_ request: Request, context: GuardianContext) async throws -> Response {
        let (_, project) = try api.readable(context)
        return try API.encodable(Items(try node.store.dismissals(project: project.id)))
    }

    @Sendable func dismiss(_ request: Request, context: GuardianContext) async throws -> Response {
        let (p, project) = try api.writable(context)
        let input: DismissalInput = try await api.decode(request)
        return try API.encodable(try await api.dismiss(input, project: project, by: p), status: .created)
    }

    @Sendable func restore(_ request: Request, context: GuardianContext) async throws -> Response {
        let (_, project) = try api.writable(context)
        let fingerprint = try context.parameters.require("fingerprint")
        guard try node.registry.deleteDismissal(id: DismissalRecord.id(project: project.id, fingerprint: fingerprint)) else {
            throw NodeError(.notFound, "not_found", "no dismissal of \(fingerprint) in \(project.id)")
        }
        await node.events.publish("finding.restored", ["project": project.id, "fingerprint": fingerprint])
        return Response(status: .noContent)
    }
}

/// `POST /v1/projects/{id}/dismissals`, and the dashboard's dismiss button.
struct DismissalInput: Decodable {
    var fingerprint: String
    var reason: String
    var comment: String?
    var ruleId: String?
}

extension API {
    /// Records a dismissal (a registry write: any node, replicated to all) for a caller that may change the project.
    func dismiss(_ input: DismissalInput, project: ProjectRecord, by p: Principal) async throws -> DismissalRecord {
        guard let reason = DismissalRecord.Reason(rawValue: input.reason) else {
            throw APIError(.badRequest, "invalid_reason", "reason must be false_positive, wont_fix or accepted_risk")
        }
        guard DismissalRecord.validFingerprint(input.fingerprint) else {
            throw APIError(.badRequest, "invalid_fingerprint", "a fingerprint is 32 lowercase hex digits (a finding's `fingerprint`)")
        }
        // the rule comes from the finding itself when this node holds it; a caller's word otherwise
        let known = try node.store.findingRule(project: project.id, fingerprint: input.fingerprint)
        guard let rule = known ?? input.ruleId else {
            throw APIError(.badRequest, "missing_field", "ruleId is required for a fingerprint this node has not seen in the project's findings")
        }
        if let given = input.ruleId, let known, given != known {
            throw APIError(.badRequest, "rule_mismatch", "the finding \(input.fingerprint) is of rule \(known), not \(given)")
        }
        let record = DismissalRecord(projectId: project.id, fingerprint: input.fingerprint, ruleId: rule, reason: reason,
                                     comment: input.comment, byToken: p.tokenId, createdAt: Date().timeIntervalSince1970)
        try node.registry.save(dismissal: record)
        await node.events.publish("finding.dismissed", ["project": project.id, "fingerprint": record.fingerprint, "rule": rule,
                                                        "reason": record.reason])
        return record
    }
}
