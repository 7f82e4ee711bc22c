import Foundation
import GuardianNode
import GuardianStore
import HTTPTypes
import Hummingbird

/// Login and logout. The login form is protected by a double-submit token (a cookie and a field
/// that must match) so another site cannot log a browser in with its own token.
extension Dashboard {
    @Sendable func loginForm(_ request: Request, context: GuardianContext) async throws -> Response {
        await handle(request) {
            if caller(request) != nil { throw Redirect(to: safeNext(request.uri.queryParameters.get("next"))) }
            return loginPage(request, next: request.uri.queryParameters.get("next"), error: nil)
        }
    }

    func loginPage(_ request: Request, next: String?, error: String?, status: HTTPResponse.Status = .ok) -> Response {
        let token = Sessions.randomToken()
        var ctx = base("Log in", nil)
        ctx["loginCsrf"] = token
        ctx["next"] = safeNext(next)
        ctx["hours"] = Int(Sessions.lifetime / 3600)
        if let error { ctx["error"] = error }
        let cookie = sessionCookie(Sessions.loginCookie, token, maxAge: 3600, secure: request.overTLS || api.node.config.tlsCert != nil)
        return page("login", ctx, request: request, status: status, extraHeaders: [.setCookie: cookie])
    }

    @Sendable func login(_ request: Request, context: GuardianContext) async throws -> Response {
        var request = request
        let fields = formFields(try await request.collectBody(upTo: 16 << 10))
        guard let sent = fields["csrf"], let cookie = request.cookie(Sessions.loginCookie), Sessions.same(sent, cookie) else {
            return loginPage(request, next: fields["next"], error: "The login form expired; try again.", status: .forbidden)
        }
        let secret = (fields["token"] ?? "").trimmingCharacters(in: .whitespacesAndNewlines)
        guard !secret.isEmpty, let rec = try node.store.token(hash: Data(Auth.hash(secret))), let role = Principal.Role(rawValue: rec.role) else {
            return loginPage(request, next: fields["next"], error: "Unknown or revoked token.", status: .unauthorized)
        }
        let (id, _) = sessions.create(Principal(role: role, team: rec.team, tokenId: rec.id))
        var headers: HTTPFields = [.location: safeNext(fields["next"])]
        headers.append(HTTPField(name: .setCookie, value: sessionCookie(Sessions.cookie, id, maxAge: Int(Sessions.lifetime), secure: request.overTLS || api.node.config.tlsCert != nil)))
        headers.append(HTTPField(name: .setCookie, value: sessionCookie(Sessions.loginCookie, "", maxAge: 0, secure: request.overTLS || api.node.config.tlsCert != nil)))
        return Response(status: .seeOther, headers: headers)
    }

    @Sendable func logout(_ request: Request, context: GuardianContext) async throws -> Response {
        var request = request
        return await handle(request) {
            _ = try await formCaller(&request)
            if let id = request.cookie(Sessions.cookie) { sessions.end(id) }
            return Response(status: .seeOther, headers: [.location: "/ui/login",
                                                         .setCookie: sessionCookie(Sessions.cookie, "", maxAge: 0, secure: request.overTLS || api.node.config.tlsCert != nil)])
        }
    }

    /// Where to go after login: a path of the dashboard on this node, never another host.
    func safeNext(_ next: String?) -> String {
        guard let next, next.hasPrefix("/ui/"), !next.hasPrefix("//"), !next.contains("\\"), !next.contains("\r"), !next.contains("\n") else { return "/ui/" }
        return next
    }
}
