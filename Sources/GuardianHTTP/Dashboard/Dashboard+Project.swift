import Foundation
import GuardianAudit
import GuardianCore
import GuardianCrypto
import GuardianNode
import GuardianStore
import Hummingbird
import NIOCore
import Synchronization

/// The project page. Its data comes from an owner (`GET /v1/projects/{id}/overview`, asked of the
/// owners when this node is not one); the page is rendered here, with this node's session, and the
/// latest result's signature is checked here against the keys this node trusts.
extension Dashboard {
    @Sendable func project(_ request: Request, context: GuardianContext) async throws -> Response {
        await handle(request) {
            let (_, s) = try requireCaller(request)
            let id = try context.parameters.require("id")
            guard let record = try node.store.project(id: id), s.principal.canRead(team: record.team) else {
                throw NodeError.noProject(id)
            }
            let filter = try FindingFilter { request.uri.queryParameters.get($0) }
            let (o, local) = try await overview(of: record, filter: filter, as: s.principal)
            var ctx = base(record.name, s, live: "project", project: id)
            ctx.merge(try await projectContext(o, local: local, filter: filter, canWrite: s.principal.canWrite(team: record.team))) { _, new in new }
            return page("project", ctx, request: request)
        }
    }

    /// The overview from this node when it owns the project (or runs alone), else from an owner.
    func overview(of project: ProjectRecord, filter: FindingFilter, as p: Principal) async throws -> (ProjectOverview, local: Bool) {
        if await ownsHere(project.id) {
            return (try await api.overview(project, filter: filter, envelope: false), true)
        }
        let q = filter.query(page: filter.page)
        let answer = try await api.askOwners(project: project.id, method: "GET", path: "/v1/projects/\(project.id)/overview" + (q.isEmpty ? "" : "?\(q)"), as: p)
        guard answer.response.status == .ok else {
            throw APIError(.badGateway, "owner_error", "the owner answered \(answer.response.status.code) for the project's data")
        }
        do { return (try JSONDecoder().decode(ProjectOverview.self, from: Data(buffer: answer.body)), false) } catch {
            throw APIError(.badGateway, "owner_error", "the owner's project data does not decode: \(error)")
        }
    }

    /// A signer's node id with the member's name when the mesh knows it.
    func signerName(_ id: String?) async -> String {
        guard let id else { return "–" }
        if id == node.nodeID { return "\(node.config.name) (\(id))" }
        if let view = await api.mesh?.view(), let m = ([view.me] + view.members).first(where: { $0.meta.id == id }) { return "\(m.name) (\(id))" }
        return id
    }

    /// Whether this node answers for the project itself: it runs alone, or it is an owner.
    func ownsHere(_ project: String) async -> Bool {
        if api.mesh == nil { return true }
        return await node.owners(of: project).contains(node.config.name)
    }

    /// Whether the page's result is what its owner signed: the envelope hashes to the result id it
    /// names, its signature verifies with the keys this node trusts, and the signed statement gives
    /// the project, health, gate and commit the page shows. Checked once per result id on this node.
    func verify(_ o: ProjectOverview, local: Bool) async -> (ok: Bool, text: String) {
        guard let resultId = o.resultId else { return (false, "no result") }
        var facts = api.verified.get(resultId)
        // a page built here from this node's store, of a result verified here already, needs no bytes
        if facts == nil || !local {
            let bytes: [UInt8]
            if let envelope = o.envelope { bytes = Array(envelope.utf8) } else if local, let r = try? node.store.result(id: resultId) {
                bytes = [UInt8](r.envelope)
            } else {
                return (false, "no envelope")
            }
            guard DSSE.recordID(bytes) == resultId else { return (false, "the envelope is not the result the page names") }
            if facts == nil {
                do {
                    let (s, _) = try Attestation.verifySummary(bytes, trusted: await api.trustedKeys())
                    let f = VerifiedCache.Facts(project: s.project, health: s.overallHealthScore, gatePassed: s.gatePassed, commit: s.commit)
                    api.verified.put(resultId, f)
                    facts = f
                } catch {
                    return (false, "does not verify on node \(node.config.name): \(error)")
                }
            }
        }
        guard let f = facts, f.project == nil || f.project == o.project.id, f.health == o.health, f.gatePassed == o.gatePassed, f.commit == o.commit else {
            return (false, "the page's data does not match the signed result")
        }
        return (true, "verified on node \(node.config.name)")
    }

    func projectContext(_ o: ProjectOverview, local: Bool, filter: FindingFilter, canWrite: Bool) async throws -> [String: Any] {
        let p = o.project
        var ctx: [String: Any] = ["id": p.id, "name": p.name, "team": p.team, "repositoryUrl": p.repositoryUrl, "backLink": "/ui/",
                                  "canWrite": canWrite, "findingsTotal": o.findingsTotal, "onlyNew": filter.onlyNew]
        if let b = p.branch { ctx["branch"] = b }
        if o.builtBy != node.config.name { ctx["servedBy"] = o.builtBy }
        if let r = o.running { ctx["running"] = ["phase": r.phase, "percent": Int(min(max(r.progress, 0), 1) * 100)] as [String: Any] }
        ctx["owners"] = o.owners.enumerated().map { i, w in ["name": w.name, "holds": w.holds, "primary": i == 0] as [String: Any] }
        ctx["checkOptions"] = Check.allCases.map { ["name": $0.rawValue, "selected": $0.rawValue == filter.check] as [String: Any] }
        ctx["severityOptions"] = Severity.allCases.map { ["name": $0.rawValue, "selected": $0.rawValue == filter.severity] as [String: Any] }
        guard let resultId = o.resultId else { return ctx }
        ctx["hasResult"] = true
        ctx["resultId"] = resultId
        ctx["health"] = o.health ?? 0
        ctx["healthBand"] = Self.band(o.health)
        ctx["gate"] = o.gatePassed == true ? "passed" : "failed"
        if let w = Self.when(o.createdAt) { ctx["created"] = w.text; ctx["createdIso"] = w.iso }
        ctx["commit"] = o.commit ?? "–"
        ctx["signer"] = await signerName(o.signer)
        ctx["profile"] = o.profile ?? "–"
        let v = await verify(o, local: local)
        ctx["verifiedClass"] = v.ok ? "s-passed" : "s-failed"
        ctx["verifiedSymbol"] = v.ok ? "✔" : "✖"
        ctx["verifiedText"] = v.text
        ctx["severityNames"] = Severity.allCases.sorted { $0.rank > $1.rank }.map(\.rawValue)
        ctx["checks"] = o.checks.map { c in
            ["name": c.name, "question": c.question, "status": c.status, "symbol": Self.symbol(c.status), "score": c.score,
             "severities": c.severities] as [String: Any]
        }
        ctx["history"] = o.history.reversed().map { h in
            let w = Self.when(h.createdAt)
            return ["time": w?.text ?? "", "iso": w?.iso ?? "", "commit": String((h.commit ?? "–").prefix(10)), "signer": h.signer,
                    "health": h.health] as [String: Any]
        }
        ctx["historyChart"] = Charts.history(health: o.history.map(\.health),
                                             checks: Check.allCases.map { c in (c.rawValue, o.history.compactMap { $0.checks[c.rawValue] }) })
        ctx["insights"] = o.insights.map { i in
            var d: [String: Any] = ["kind": i.kind, "message": i.message, "confidence": Int((min(max(i.confidence, 0), 1) * 100).rounded())]
            if let f = i.file { d["file"] = f }
            return d
        }
        ctx["findings"] = o.findings.map { f in
            var d: [String: Any] = ["check": f.check, "ruleId": f.ruleId, "severity": f.severity, "message": f.message,
                                    "fingerprint": f.fingerprint, "isNew": f.isNew, "projectId": p.id,
                                    "code": f.code.map { ["number": $0.number, "text": $0.text, "hit": $0.hit] as [String: Any] },
                                    "hasCode": !f.code.isEmpty]
            if let file = f.file { d["location"] = f.line.map { "\(file):\($0)" } ?? file }
            if let s = f.suppressed { d["suppressed"] = s }
            if let x = f.fix { d["fix"] = x }
            if let x = f.patch { d["patch"] = x }
            return d
        }
        if o.pages > 1 && o.pages <= 10_000 {
            ctx["hasPages"] = true
            ctx["pageLinks"] = (1...o.pages).map { ["n": $0, "href": "/ui/projects/\(p.id)?\(filter.query(page: $0))#findings", "current": $0 == o.page] as [String: Any] }
        }
        return ctx
    }

    /// The project `:id` names, for a session that may change it (another team's: as absent).
    func writableProject(_ context: GuardianContext, _ s: Sessions.Session) throws -> ProjectRecord {
        let id = try context.parameters.require("id")
        guard let project = try node.store.project(id: id), s.principal.canRead(team: project.team) else { throw NodeError.noProject(id) }
        guard s.principal.canWrite(team: project.team) else { throw api.forbidden(project.team) }
        return project
    }

    /// "Audit now": queued on the primary, through the API's own route (forwarded when not here).
    @Sendable func auditNow(_ request: Request, context: GuardianContext) async throws -> Response {
        var request = request
        return await handle(request) {
            let (s, _) = try await formCaller(&request)
            let id = try writableProject(context, s).id
            if await ownsHere(id) {
                _ = try await node.enqueue(project: id, reason: .manual, revision: nil)
            } else {
                let answer = try await api.askOwners(project: id, method: "POST", path: "/v1/projects/\(id)/audits", as: s.principal)
                guard answer.response.status == .accepted else {
                    throw APIError(.badGateway, "owner_error", "the owner answered \(answer.response.status.code): \(String(buffer: answer.body).prefix(200))")
                }
            }
            throw Redirect(to: "/ui/projects/\(id)")
        }
    }

    /// Dismisses a finding from its card: the same registry write as `POST /v1/projects/{id}/dismissals`.
    @Sendable func dismiss(_ request: Request, context: GuardianContext) async throws -> Response {
        var request = request
        return await handle(request) {
            let (s, fields) = try await formCaller(&request)
            let project = try writableProject(context, s)
            let id = project.id
            _ = try await api.dismiss(DismissalInput(fingerprint: fields["fingerprint"] ?? "", reason: fields["reason"] ?? "",
                                                     comment: fields["comment"].flatMap { $0.isEmpty ? nil : $0 }, ruleId: fields["ruleId"]),
                                      project: project, by: s.principal)
            throw Redirect(to: "/ui/projects/\(id)#findings")
        }
    }
}

/// Result ids whose envelopes this node verified, with the signed facts a page must match.
final class VerifiedCache: Sendable {
    struct Facts: Sendable, Equatable {
        var project: String?
        var health: Int
        var gatePassed: Bool
        var commit: String?
    }
    private let entries = Mutex<[String: Facts]>([:])
    func get(_ id: String) -> Facts? { entries.withLock { $0[id] } }
    func put(_ id: String, _ f: Facts) { entries.withLock { e in if e.count > 50_000 { e.removeAll() }; e[id] = f } }
}
