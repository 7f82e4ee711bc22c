import GuardianNode
import Foundation
import GuardianStore
import GuardianCore
import GuardianCrypto
import GuardianMesh
import HTTPTypes
import Hummingbird
import NIOCore
import Synchronization

/// The HTTP API v1 (docs/openapi.yaml): the router, assembled from one controller per resource.
/// Every route under `/v1` except the webhooks sits behind `AuthMiddleware`, so a handler finds its
/// caller in the context; errors become JSON in `ErrorMiddleware`.
public struct API: Sendable {
    let node: Node
    let mesh: MeshShell?
    /// Result replication (with a mesh): read repair, and the corrupt records a read found.
    let replication: ResultReplication?
    let statusCache = RenderCache<[UInt8]>()
    /// The dashboard's login sessions and the reports its project pages decode.
    let sessions = Sessions()
    let reports = ReportCache()
    /// The dashboard's fleet rows, rendered once per state of their project.
    let rowCache = RenderCache<String>()
    /// Relayed event streams open now (at most `maxRelays`).
    let relays = Slots(API.maxRelays)
    let verified = VerifiedCache()
    var tokenCache: TokenCache { node.tokenCache }
    /// The ring of a node without a mesh: itself alone.
    let soloRing: Ring

    public init(node: Node, mesh: MeshShell? = nil, replication: ResultReplication? = nil) {
        self.replication = replication
        self.node = node
        self.mesh = mesh
        soloRing = Ring(nodes: [Ring.Node(name: node.config.name, capacity: Int(node.config.tags["capacity"] ?? "") ?? 1)])
    }

    var auth: AuthMiddleware { AuthMiddleware(store: node.store, cache: tokenCache) }

    public func router() -> Router<GuardianContext> {
        let router = Router(context: GuardianContext.self)
        // outermost, so that they see the status ErrorMiddleware made of an error
        router.add(middleware: MetricsMiddleware())
        router.add(middleware: RequestLogMiddleware())
        router.add(middleware: ErrorMiddleware())
        router.add(middleware: MemberAuthMiddleware(mesh: mesh, maxBodyBytes: node.config.maxBodyBytes))
        HealthController(api: self).register(on: router)
        webhooks().register(on: router) // verified by the project's secret, not by a token
        Dashboard(api: self).register(on: router) // a login session, not a bearer token (the badge: either, or public)
        registerAlertFinals(on: router) // a member's claim, not a token
        let v1 = router.group("v1").add(middleware: auth)
        let collections = [NodeController(api: self).routes, MembersController(api: self).routes,
                           ProjectsController(api: self).routes, ResultsController(api: self).routes,
                           TeamsController(api: self).routes, DismissalsController(api: self).routes,
                           AirGapController(api: self).routes, EventsController(api: self).routes, OverviewController(api: self).routes,
                           AlertsController(api: self).routes]
        for routes in collections { v1.addRoutes(routes) }
        return router
    }

    func webhooks() -> Webhooks {
        var hooks = Webhooks(node: node)
        if mesh != nil {
            let api = self
            hooks.toPrimary = { @Sendable (request: Request, context: GuardianContext, body: ByteBuffer, project: String) async -> Response? in
                await api.forwardWebhookToPrimary(request, context, body: body, project: project)
            }
        }
        return hooks
    }

    // MARK: what the controllers share

    /// The project named by `:id` and the caller, when the caller may read it.
    func readable(_ context: GuardianContext) throws -> (Principal, ProjectRecord) {
        let p = try context.caller()
        let id = try context.parameters.require("id")
        guard let project = try node.store.project(id: id), p.canRead(team: project.team) else {
            // Same answer for "absent" and "not yours": a viewer of team A learns nothing about team B.
            throw NodeError.noProject(id)
        }
        return (p, project)
    }

    /// The project named by `:id`, when the caller may change it.
    func writable(_ context: GuardianContext) throws -> (Principal, ProjectRecord) {
        let (p, project) = try readable(context)
        guard p.canWrite(team: project.team) else { throw forbidden(project.team) }
        return (p, project)
    }

    /// Whether `p` may read what belongs to `project`: admins always, others when the project is
    /// registered here under a team they read.
    func canRead(_ p: Principal, project: String) throws -> Bool {
        if p.isAdmin { return true }
        return try node.store.project(id: project).map { p.canRead(team: $0.team) } ?? false
    }

    func forbidden(_ team: String) -> APIError {
        APIError(.forbidden, "forbidden", "this token may not change team '\(team)'")
    }

    func requireAdmin(_ context: GuardianContext, _ what: String) throws {
        guard try context.caller().isAdmin else { throw APIError(.forbidden, "forbidden", "only admin tokens can \(what)") }
    }

    func decode<T: Decodable>(_ request: Request) async throws -> T {
        let body = try await request.body.collect(upTo: node.config.maxBodyBytes)
        do { return try JSONDecoder().decode(T.self, from: Data(buffer: body)) } catch let DecodingError.keyNotFound(k, _) {
            throw APIError(.badRequest, "missing_field", "'\(k.stringValue)' is required")
        } catch let DecodingError.typeMismatch(_, ctx) {
            throw APIError(.badRequest, "invalid_json", "wrong type at '\(ctx.codingPath.map(\.stringValue).joined(separator: "."))'")
        } catch {
            throw APIError(.badRequest, "invalid_json", "the request body is not valid JSON for this route")
        }
    }

    /// The keys a signature is checked against here: this node's, the kept ones (`keys/*.pub`), and
    /// in a mesh every member's (results replicated here were signed by them).
    func trustedKeys() async -> [String: VerifyingKey] {
        var trusted = NodeIdentity.trustedKeys(node.dataDir)
        if let mesh { trusted.merge(await mesh.signerKeys()) { mine, _ in mine } }
        trusted[node.nodeID] = node.identity.verifyingKey
        return trusted
    }

    /// The ring of the live members this node sees (itself alone without a mesh).
    func currentRing() async -> Ring { await mesh?.ring() ?? soloRing }

    /// The owners of a key on the current ring, primary first.
    func owners(of key: String) async -> OwnersView {
        let owners = await node.owners(of: key)
        return OwnersView(key: nil, owners: owners, primary: owners.first)
    }

    static func json(_ value: Any, status: HTTPResponse.Status = .ok) -> Response {
        let data = (try? JSONSerialization.data(withJSONObject: value, options: [.sortedKeys, .withoutEscapingSlashes])) ?? Data("{}".utf8)
        return Response(status: status, headers: [.contentType: "application/json"], body: .init(byteBuffer: ByteBuffer(bytes: data)))
    }

    static func encodable<T: Encodable>(_ value: T, status: HTTPResponse.Status = .ok) throws -> Response {
        let e = JSONEncoder()
        e.outputFormatting = [.sortedKeys, .withoutEscapingSlashes]
        return Response(status: status, headers: [.contentType: "application/json"], body: .init(byteBuffer: ByteBuffer(bytes: try e.encode(value))))
    }
}

enum ISO8601 {
    static func format(_ t: Double) -> String {
        let f = ISO8601DateFormatter()
        return f.string(from: Date(timeIntervalSince1970: t))
    }
}
