import GuardianNode
import GuardianStore
import Hummingbird

/// Authenticates every request of the routes behind it, once, and puts the caller in the context:
/// the principal a forwarding member vouches for (`MemberAuthMiddleware` proved its claim), else the
/// bearer token's. A forwarded principal must still name a token this node holds with the same role
/// and team: a token revoked here is revoked for forwarded calls too.
struct AuthMiddleware: RouterMiddleware {
    typealias Context = GuardianContext
    let store: Store
    let cache: TokenCache

    func handle(_ request: Request, context: Context, next: (Request, Context) async throws -> Response) async throws -> Response {
        var context = context
        context.principal = try authenticate(request, context)
        return try await next(request, context)
    }

    func authenticate(_ request: Request, _ context: Context) throws -> Principal {
        guard let claim = context.forwarded else { return try Auth.authenticate(request, store: store, cache: cache) }
        guard case .token(let p) = claim.caller, let rec = try store.token(id: p.tokenId),
              rec.role == p.role.rawValue, rec.team == p.team else {
            throw APIError(.unauthorized, "unauthorized", "the forwarded caller's token is not valid here")
        }
        return p
    }
}
