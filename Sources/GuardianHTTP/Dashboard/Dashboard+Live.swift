import AsyncHTTPClient
import Foundation
import GuardianNode
import GuardianStore
import HTTPTypes
import Hummingbird
import NIOCore

/// `GET /ui/events`: the event stream of `/v1/events` for the browser's session. With
/// `?project=ID` for a project this node does not own, the stream is the primary's (asked as the
/// session's caller under a member claim), so the page of a project audited elsewhere still follows
/// its audit; every other page follows this node's stream, where results, summaries and members
/// arrive from the whole mesh.
extension Dashboard {
    @Sendable func events(_ request: Request, context: GuardianContext) async throws -> Response {
        guard let (_, s) = caller(request) else { throw APIError(.unauthorized, "unauthorized", "log in first") }
        if let id = request.uri.queryParameters.get("project"), api.mesh != nil {
            guard let project = try node.store.project(id: id), s.principal.canRead(team: project.team) else { throw NodeError.noProject(id) }
            if !(await node.owners(of: id)).contains(node.config.name) {
                return try await relay(project: id, as: s.principal)
            }
        }
        return try await EventsController(api: api).events(lastId: request.headers[HTTPField.Name("Last-Event-ID")!].flatMap(Int.init),
                                                           as: s.principal)
    }

    /// The primary's stream passed through as it arrives; it ends when either side goes.
    func relay(project: String, as p: Principal) async throws -> Response {
        let upstream = try await api.ownerEvents(project: project, as: p)
        let body = ResponseBody { writer in
            for try await chunk in upstream.body { try await writer.write(chunk) }
            try await writer.finish(nil)
        }
        return Response(status: .ok, headers: [.contentType: "text/event-stream", .cacheControl: "no-cache"], body: body)
    }
}

/// `GET /v1/projects/{id}/overview`: the project page's data (`ProjectOverview`), from an owner.
struct OverviewController {
    let api: API

    var routes: RouteCollection<GuardianContext> {
        let r = RouteCollection(context: GuardianContext.self)
        r.get("projects/:id/overview", use: overview)
        return r
    }

    @Sendable func overview(_ request: Request, context: GuardianContext) async throws -> Response {
        let (p, project) = try api.readable(context)
        if let forwarded = try await api.forwardIfNotOwner(request, context, as: p, project: project.id) { return forwarded }
        let filter = try FindingFilter { request.uri.queryParameters.get($0) }
        return try API.encodable(try await api.overview(project, filter: filter))
    }
}
