import GuardianNode
import GuardianStore
import Foundation
import GuardianCore
import HTTPTypes
import Hummingbird
import NIOCore

/// Air-gap bundles over HTTP (admin tokens only): `GET /v1/export` streams a bundle,
/// `POST /v1/import` reads one as it arrives and answers with the import report (200 when the
/// whole bundle was imported, 422 with the same report when something was damaged, refused or
/// missing: what was whole is imported either way).
struct AirGapController {
    let api: API
    var node: Node { api.node }

    var routes: RouteCollection<GuardianContext> {
        let r = RouteCollection(context: GuardianContext.self)
        r.get("export", use: export)
        r.post("import", use: importBundle)
        return r
    }

    @Sendable func export(_ request: Request, context: GuardianContext) async throws -> Response {
        try api.requireAdmin(context, "export")
        let q = request.uri.queryParameters
        let project = q.get("project")
        let since = try q.get("since").map { s in
            guard let t = API.parseTime(s) else { throw APIError(.badRequest, "invalid_time", "since must be seconds since 1970 or an ISO 8601 time") }
            return t
        }
        if let project, try node.store.project(id: project) == nil { throw NodeError.noProject(project) }
        let keys = node.knownKeys(await api.mesh?.signerKeys() ?? [:])
        let node = self.node
        let body = ResponseBody { writer in
            _ = try await node.exportBundle(project: project, since: since, keys: keys) { chunk in
                try await writer.write(ByteBuffer(bytes: chunk))
            }
            try await writer.finish(nil)
        }
        return Response(status: .ok, headers: [.contentType: "application/octet-stream",
                                               .contentDisposition: "attachment; filename=\"guardian.bundle\""], body: body)
    }

    @Sendable func importBundle(_ request: Request, context: GuardianContext) async throws -> Response {
        try api.requireAdmin(context, "import")
        let trust = request.uri.queryParameters.getAll("trust")
        let keys = node.knownKeys(await api.mesh?.signerKeys() ?? [:])
        let chunks = request.body.map { [UInt8](buffer: $0) }
        let report = try await node.importBundle(chunks, trust: trust, keys: keys)
        return try API.encodable(report, status: report.complete ? .ok : .unprocessableContent)
    }
}

extension API {
    /// Seconds since 1970, or an ISO 8601 time (`2026-11-27T10:00:00Z`, or a date).
    public static func parseTime(_ s: String) -> Double? {
        if let t = Double(s), t.isFinite, t >= 0 { return t }
        let f = ISO8601DateFormatter()
        if let d = f.date(from: s) { return d.timeIntervalSince1970 }
        f.formatOptions = [.withFullDate]
        return f.date(from: s)?.timeIntervalSince1970
    }
}
