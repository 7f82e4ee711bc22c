import GuardianNode
import GuardianStore
import Foundation
import GuardianAudit
import GuardianCrypto
import Hummingbird
import NIOCore

/// Audit tasks and signed results: `GET /v1/audits/{task}`, `GET /v1/projects/{id}/results`,
/// `GET /v1/results/{id}` (the exact stored bytes) and `POST /v1/verify`. Ids that name no project
/// here are asked of the other members; a stored copy whose bytes no longer hash to its id is
/// removed and comes back by repair.
struct ResultsController {
    let api: API
    var node: Node { api.node }

    var routes: RouteCollection<GuardianContext> {
        let r = RouteCollection(context: GuardianContext.self)
        r.get("audits/:task", use: task)
        r.get("projects/:id/results", use: list)
        r.get("results/:id", use: result)
        r.post("verify", use: verify)
        return r
    }

    @Sendable func task(_ request: Request, context: GuardianContext) async throws -> Response {
        let p = try context.caller()
        let id = try context.parameters.require("task")
        guard let task = await node.task(id) else {
            if let elsewhere = await api.askMembers(request, context, as: p) { return elsewhere.response }
            throw NodeError(.notFound, "not_found", "no audit task '\(id)'")
        }
        // Same answer for "absent" and "not yours" (a task of a removed project is the admin's alone).
        guard try api.canRead(p, project: task.projectId) else { throw NodeError(.notFound, "not_found", "no audit task '\(id)'") }
        return try API.encodable(task)
    }

    @Sendable func list(_ request: Request, context: GuardianContext) async throws -> Response {
        let (p, project) = try api.readable(context)
        if let forwarded = try await api.forwardIfNotOwner(request, context, as: p, project: project.id) { return forwarded }
        // read repair: an owner that serves a project's results compares it with the other owners
        if let replication = api.replication { Task { await replication.repair(project: project.id) } }
        let limit = min(max(request.uri.queryParameters.get("limit", as: Int.self) ?? 20, 1), 200)
        let before = request.uri.queryParameters.get("before", as: Double.self)
        let rows = try node.store.results(project: project.id, limit: limit, before: before)
        let corrupt = rows.filter { DSSE.recordID([UInt8]($0.envelope)) != $0.id }
        if !corrupt.isEmpty { try await api.removeCorrupt(corrupt.map(\.id)) }
        let good = rows.filter { r in !corrupt.contains { $0.id == r.id } }
        // the envelopes as stored, each one JSON object in `items`
        let items = good.compactMap { try? JSONSerialization.jsonObject(with: $0.envelope) }
        var body: [String: Any] = ["items": items, "ids": good.map(\.id)]
        if rows.count == limit, let last = rows.last { body["next"] = "/v1/projects/\(project.id)/results?limit=\(limit)&before=\(last.createdAt)" }
        return API.json(body)
    }

    @Sendable func result(_ request: Request, context: GuardianContext) async throws -> Response {
        let p = try context.caller()
        let id = try context.parameters.require("id")
        var found = try node.store.result(id: id)
        if let r = found, DSSE.recordID([UInt8](r.envelope)) != r.id {
            try await api.removeCorrupt([r.id])
            found = nil
        }
        guard let r = found else {
            if let elsewhere = await api.askMembers(request, context, as: p) {
                await api.readRepair(elsewhere, id: id)
                return elsewhere.response
            }
            throw NodeError(.notFound, "not_found", "no result '\(id)'")
        }
        guard try api.canRead(p, project: r.projectId) else { throw NodeError(.notFound, "not_found", "no result '\(id)'") }
        return Response(status: .ok, headers: [.contentType: "application/json", API.recordIDHeader: r.id,
                                               API.projectHeader: r.projectId, API.createdAtHeader: String(r.createdAt)],
                        body: .init(byteBuffer: ByteBuffer(bytes: r.envelope)))
    }

    @Sendable func verify(_ request: Request, context: GuardianContext) async throws -> Response {
        let body = try await request.body.collect(upTo: node.config.maxBodyBytes)
        let bytes = [UInt8](Data(buffer: body))
        do {
            let (st, v) = try Attestation.verify(bytes, trusted: await api.trustedKeys())
            return try API.encodable(VerifyView(valid: true, record: DSSE.recordID(bytes), signers: v.signers,
                                                repository: st.subject.first?.name ?? "", commit: st.subject.first?.digest["gitCommit"] ?? "",
                                                overallHealthScore: st.predicate.overallHealthScore))
        } catch let e as CryptoError {
            return try API.encodable(VerifyView(valid: false, reason: e.description), status: .unprocessableContent)
        }
    }
}
