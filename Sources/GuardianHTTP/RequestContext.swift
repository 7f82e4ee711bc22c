import GuardianNode
import GuardianStore
import Foundation
import GuardianCrypto
import HTTPTypes
import Hummingbird
import NIOCore

/// The request context of Guardian's router: besides Hummingbird's own, the member claim of a
/// request that another member forwarded (set by `MemberAuthMiddleware`) and the authenticated
/// caller (set by `AuthMiddleware`); never set by a handler.
public struct GuardianContext: RequestContext {
    public var coreContext: CoreRequestContextStorage
    /// The claim of the member that forwarded this request; nil for a request from a client.
    public internal(set) var forwarded: MemberClaim?
    /// Who is calling; set on every route behind `AuthMiddleware`.
    public internal(set) var principal: Principal?

    public init(source: ApplicationRequestContextSource) { coreContext = .init(source: source) }

    /// The authenticated caller. A route outside `AuthMiddleware` that asks has a wiring defect: it
    /// answers 401 rather than serve an anonymous caller.
    func caller() throws -> Principal {
        guard let principal else { throw APIError(.unauthorized, "unauthorized", "this route needs a bearer token") }
        return principal
    }
}

/// Checks `X-Guardian-Member` before any route runs. A request that carries the header must prove
/// a member sent it to this node: the claim opens with the cluster key (once, within the replay
/// window), names this node, and matches the method, the path and the body as received. Anything
/// else is 401, and so is a request that carries an `Authorization` header beside the claim (a
/// forwarding member never sends one). A proven claim goes to the context.
struct MemberAuthMiddleware: RouterMiddleware {
    typealias Context = GuardianContext
    let mesh: MeshShell?
    let maxBodyBytes: Int

    func handle(_ request: Request, context: Context, next: (Request, Context) async throws -> Response) async throws -> Response {
        guard let header = request.headers[API.memberHeader] else { return try await next(request, context) }
        let refused = APIError(.unauthorized, "unauthorized", "the X-Guardian-Member header does not prove a member of this mesh")
        // a member never forwards a caller's token: a request that carries one beside a claim is not a member's
        guard let mesh, request.headers[.authorization] == nil else { throw refused }
        // the claim is opened and matched to the request before the body is read
        guard let claim = await mesh.openClaim(header), claim.to == mesh.config.name,
              claim.method == request.method.rawValue, claim.path == request.uri.description else { throw refused }
        var request = request
        let body = try await request.collectBody(upTo: maxBodyBytes)
        guard claim.bodyHash == MemberClaim.hash(body: [UInt8](buffer: body)) else { throw refused }
        var context = context
        context.forwarded = claim
        return try await next(request, context)
    }
}
