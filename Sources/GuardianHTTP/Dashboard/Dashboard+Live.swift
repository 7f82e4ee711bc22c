import AsyncHTTPClient
import Foundation
import GuardianNode
import GuardianStore
import HTTPTypes
import Hummingbird
import NIOCore
import Synchronization

/// `GET /ui/events`: the event stream of `/v1/events` for the browser's session. With
/// `?project=ID` for a project this node does not own, the stream is the primary's (asked as the
/// session's caller under a member claim), so the page of a project audited elsewhere still follows
/// its audit; every other page follows this node's stream, where results, summaries and members
/// arrive from the whole mesh.
extension Dashboard {
    @Sendable func events(_ request: Request, context: GuardianContext) async throws -> Response {
        guard let (_, s) = caller(request) else { throw APIError(.unauthorized, "unauthorized", "log in first") }
        // the stream lasts while the session does: a logout or a revoked token closes it (the
        // session and its token are read again at most every 5 s, not on every event)
        let dashboard = self
        let session = Recheck(every: 5) { dashboard.caller(request) != nil }
        let stillValid: @Sendable () -> Bool = { session.holds() }
        let lastId = request.headers[HTTPField.Name("Last-Event-ID")!]
        if let id = request.uri.queryParameters.get("project") {
            guard let project = try node.store.project(id: id), s.principal.canRead(team: project.team) else { throw NodeError.noProject(id) }
            if !(await ownsHere(id)) {
                return try await relay(project: id, as: s.principal, lastId: lastId, stillValid: stillValid)
            }
        }
        return try await EventsController(api: api).events(lastId: lastId.flatMap(Int.init), as: s.principal, stillValid: stillValid)
    }

    /// The primary's stream passed through as it arrives; it ends when either side goes or the
    /// session ends. At most `API.maxRelays` at once on this node.
    func relay(project: String, as p: Principal, lastId: String?, stillValid: @escaping @Sendable () -> Bool) async throws -> Response {
        // the slot is held by an object the body captures: it is given back when the body ends or
        // is dropped unrun (a client that left before the headers went out)
        guard let slot = api.relays.acquire(for: p.tokenId) else {
            throw APIError(.tooManyRequests, "too_many_streams", "this node (or this token) relays the most event streams it allows; reload later")
        }
        let upstream = try await api.ownerEvents(project: project, as: p, lastId: lastId)
        let body = ResponseBody { writer in
            withExtendedLifetime(slot) {}
            for try await chunk in upstream.body {
                guard stillValid() else { break }
                try await writer.write(chunk)
            }
            try await writer.finish(nil)
        }
        var headers = Self.securityHeaders
        headers[.contentType] = "text/event-stream"
        headers[.cacheControl] = "no-cache"
        return Response(status: .ok, headers: headers, body: body)
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
        return try API.encodable(try await api.overview(project, filter: filter, envelope: true))
    }
}

/// Things held at once, up to a limit in all and a quarter of it per token; a slot is given back
/// when the `Slot` that holds it goes.
final class Slots: Sendable {
    private let held = Mutex<(total: Int, byToken: [String: Int])>((0, [:]))
    let limit: Int
    init(_ limit: Int) { self.limit = limit }
    var perToken: Int { max(1, limit / 4) }

    func acquire(for token: String) -> Slot? {
        let ok = held.withLock { h -> Bool in
            guard h.total < limit, h.byToken[token, default: 0] < perToken else { return false }
            h.total += 1
            h.byToken[token, default: 0] += 1
            return true
        }
        return ok ? Slot(self, token) : nil
    }

    fileprivate func release(_ token: String) {
        held.withLock { h in
            h.total = max(0, h.total - 1)
            let n = (h.byToken[token] ?? 1) - 1
            h.byToken[token] = n > 0 ? n : nil
        }
    }

    var count: Int { held.withLock { $0.total } }
}

/// One held slot of `Slots`.
final class Slot: Sendable {
    let slots: Slots
    let token: String
    fileprivate init(_ slots: Slots, _ token: String) { self.slots = slots; self.token = token }
    deinit { slots.release(token) }
}

/// A condition read again at most every `every` seconds, and false for good once it fails.
final class Recheck: Sendable {
    private let state = Mutex<(at: Double, holds: Bool)>((0, true))
    private let every: Double
    private let check: @Sendable () -> Bool

    init(every: Double, _ check: @escaping @Sendable () -> Bool) { self.every = every; self.check = check }

    func holds() -> Bool {
        let now = Date().timeIntervalSince1970
        let (due, holds) = state.withLock { ($0.holds && now - $0.at >= every, $0.holds) }
        guard due else { return holds }
        let ok = check()
        state.withLock { $0 = (now, ok) }
        return ok
    }
}
