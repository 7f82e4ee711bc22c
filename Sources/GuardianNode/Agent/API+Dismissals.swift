import Foundation
import GuardianCore
import Hummingbird

/// Dismissals of a project's findings by fingerprint (docs/checks.md): maintainers of the
/// project's team (and admins) dismiss and restore; its readers list them. A dismissal is a
/// registry record: it reaches every node, and every owner's next audit applies it.
extension API {
    struct DismissalInput: Decodable {
        var fingerprint: String
        var ruleId: String?
        var reason: String
        var comment: String?
    }

    func addDismissalRoutes(_ router: Router<GuardianContext>) {
        router.get("/v1/projects/:id/dismissals") { request, context in
            let (_, project) = try await readable(request, context)
            return try Self.encodable(["items": try node.store.dismissals(project: project.id)])
        }
        router.post("/v1/projects/:id/dismissals") { request, context in
            let (p, project) = try await readable(request, context)
            guard p.canWrite(team: project.team) else { throw forbidden(project.team) }
            let input: DismissalInput = try await decode(request, context)
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
            return try Self.encodable(record, status: .created)
        }
        router.delete("/v1/projects/:id/dismissals/:fingerprint") { request, context in
            let (p, project) = try await readable(request, context)
            guard p.canWrite(team: project.team) else { throw forbidden(project.team) }
            let fingerprint = try context.parameters.require("fingerprint")
            guard try node.registry.deleteDismissal(id: DismissalRecord.id(project: project.id, fingerprint: fingerprint)) else {
                throw APIError(.notFound, "not_found", "no dismissal of \(fingerprint) in \(project.id)")
            }
            await node.events.publish("finding.restored", ["project": project.id, "fingerprint": fingerprint])
            return Response(status: .noContent)
        }
    }
}
