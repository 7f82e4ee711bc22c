import CompressNIO
import Foundation
import GuardianAudit
import GuardianCore
import GuardianNode
import GuardianStore
import HTTPTypes
import Hummingbird
import Mustache
import NIOCore

/// The dashboard: server-rendered pages under `/ui/` from Mustache templates and assets compiled
/// into the binary, behind a login session (`Sessions`), live through `/ui/events`. Every page
/// works without JavaScript; the one script only follows the event stream. Nothing is fetched from
/// any other host: the Content-Security-Policy allows this origin alone.
struct Dashboard {
    let api: API
    var node: Node { api.node }
    var sessions: Sessions { api.sessions }

    static let csp = "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self'; connect-src 'self'; "
        + "form-action 'self'; frame-ancestors 'none'; base-uri 'none'"

    func register(on router: Router<GuardianContext>) {
        router.get("/") { _, _ in Response(status: .seeOther, headers: [.location: "/ui/"]) }
        router.get("/ui/", use: fleet)
        router.get("/ui/login", use: loginForm)
        router.post("/ui/login", use: login)
        router.post("/ui/logout", use: logout)
        router.get("/ui/projects/:id", use: project)
        router.post("/ui/projects/:id/audit", use: auditNow)
        router.post("/ui/projects/:id/dismiss", use: dismiss)
        router.get("/ui/teams/:id", use: team)
        router.get("/ui/mesh", use: mesh)
        router.get("/ui/public/:team", use: publicTeam)
        router.get("/ui/events", use: events)
        router.get("/ui/assets/:name", use: asset)
        router.get("/v1/projects/:id/badge.svg", use: badge)
    }

    // MARK: sessions

    /// The caller of a dashboard request: its live session, whose token must still exist here with
    /// the same role and team (a revoked token ends its sessions at their next request).
    func caller(_ request: Request) -> (id: String, session: Sessions.Session)? {
        guard let id = request.cookie(Sessions.cookie), let s = sessions.get(id) else { return nil }
        guard let t = try? node.store.token(id: s.principal.tokenId), t.role == s.principal.role.rawValue, t.team == s.principal.team else {
            sessions.end(id)
            return nil
        }
        return (id, s)
    }

    /// The caller, or the answer that sends the browser to the login page and back.
    func requireCaller(_ request: Request) throws -> (id: String, session: Sessions.Session) {
        if let c = caller(request) { return c }
        try refuseBearer(request)
        let next = request.uri.path.hasPrefix("/ui/") ? request.uri.description : "/ui/"
        throw Redirect(to: "/ui/login?next=\(next.addingPercentEncoding(withAllowedCharacters: .alphanumerics) ?? "")")
    }

    /// An API client (a bearer token, no session) gets 401, not a redirect to a login form.
    func refuseBearer(_ request: Request) throws {
        if request.headers[.authorization] != nil {
            throw APIError(.unauthorized, "unauthorized", "the dashboard takes a login session (/ui/login), not a bearer token")
        }
    }

    /// A form post's session, with its CSRF token checked against the one the session holds.
    func formCaller(_ request: inout Request) async throws -> (session: Sessions.Session, fields: [String: String]) {
        let body = try await request.collectBody(upTo: 64 << 10)
        let fields = formFields(body)
        guard let (_, s) = caller(request) else {
            try refuseBearer(request)
            throw Redirect(to: "/ui/login")
        }
        guard let token = fields["csrf"], Sessions.same(token, s.csrf) else {
            throw APIError(.forbidden, "csrf", "the form's CSRF token does not match this session; reload the page and try again")
        }
        return (s, fields)
    }

    // MARK: rendering

    static let library: MustacheLibrary = {
        var lib = MustacheLibrary()
        for (name, bytes) in DashboardResources.templates {
            // the templates are compiled in and parsed by the tests: a broken one fails CI, not a user
            try! lib.register(String(decoding: bytes, as: UTF8.self), named: name)
        }
        return lib
    }()

    /// The context every page shares: who is looking, the node, the asset version.
    func base(_ title: String, _ s: Sessions.Session?, live: String? = nil, project: String? = nil) -> [String: Any] {
        var ctx: [String: Any] = ["title": title, "node": node.config.name, "version": Auditor.version,
                                  "assetVersion": DashboardResources.version]
        if let live { ctx["live"] = live }
        if let project { ctx["liveProject"] = project }
        if let s {
            var user: [String: Any] = ["role": s.principal.role.rawValue, "csrf": s.csrf, "node": node.config.name]
            if let t = s.principal.team { user["userTeam"] = t }
            ctx["user"] = user
            ctx["csrf"] = s.csrf
            ctx["canAdmin"] = s.principal.isAdmin
        }
        return ctx
    }

    /// A rendered page: HTML, compressed when the client accepts gzip, never cached by a proxy.
    func page(_ template: String, _ context: [String: Any], request: Request, status: HTTPResponse.Status = .ok,
              extraHeaders: HTTPFields = [:]) -> Response {
        let html = Self.library.render(context, withTemplate: template) ?? "template \(template) is missing"
        var headers = Self.securityHeaders
        headers[.contentType] = "text/html; charset=utf-8"
        headers[.cacheControl] = "private, no-cache"
        headers.append(contentsOf: extraHeaders)
        return Self.body(ByteBuffer(string: html), headers: headers, request: request, status: status)
    }

    static var securityHeaders: HTTPFields {
        [HTTPField.Name("Content-Security-Policy")!: csp, HTTPField.Name("X-Content-Type-Options")!: "nosniff",
         HTTPField.Name("Referrer-Policy")!: "no-referrer", HTTPField.Name("X-Frame-Options")!: "DENY"]
    }

    /// The body as is, or gzipped when the client accepts gzip and it is worth it.
    static func body(_ buffer: ByteBuffer, headers: HTTPFields, request: Request, status: HTTPResponse.Status = .ok) -> Response {
        var headers = headers
        headers[.vary] = "Accept-Encoding"
        var buffer = buffer
        if buffer.readableBytes > 1024, acceptsGzip(request), let zipped = try? buffer.compress(with: .gzip()) {
            headers[.contentEncoding] = "gzip"
            return Response(status: status, headers: headers, body: .init(byteBuffer: zipped))
        }
        return Response(status: status, headers: headers, body: .init(byteBuffer: buffer))
    }

    static func acceptsGzip(_ request: Request) -> Bool {
        request.headers[values: .acceptEncoding].contains { v in
            v.split(separator: ",").contains { part in
                let p = part.split(separator: ";").map { $0.trimmingCharacters(in: .whitespaces) }
                return p.first == "gzip" && !p.dropFirst().contains("q=0")
            }
        }
    }

    /// An error page for the browser (the API's errors stay JSON).
    func errorPage(_ error: any Error, request: Request, session: Sessions.Session?) -> Response {
        let (status, heading, message): (HTTPResponse.Status, String, String)
        switch error {
        case let e as APIError: (status, heading, message) = (e.status, e.status.reasonPhrase, e.message)
        case let e as NodeError: (status, heading, message) = (ErrorMiddleware.status(of: e.kind), "Not available", e.message)
        default: (status, heading, message) = (.internalServerError, "Something went wrong", "\(error)")
        }
        var ctx = base(heading, session)
        ctx["heading"] = heading
        ctx["message"] = message
        return page("error", ctx, request: request, status: status)
    }

    /// Runs a page handler: redirects and errors become their pages.
    func handle(_ request: Request, _ body: () async throws -> Response) async -> Response {
        do { return try await body() } catch let r as Redirect {
            return Response(status: .seeOther, headers: [.location: r.location])
        } catch {
            return errorPage(error, request: request, session: caller(request)?.session)
        }
    }

    // MARK: assets

    @Sendable func asset(_ request: Request, context: GuardianContext) async throws -> Response {
        let name = try context.parameters.require("name")
        guard let a = DashboardResources.assets[name] else { throw NodeError(.notFound, "not_found", "no asset '\(name.prefix(40))'") }
        var headers = Self.securityHeaders
        headers[.contentType] = a.type
        headers[.eTag] = a.etag
        // an asset's URL carries the build's asset version: a new build is a new URL
        headers[.cacheControl] = "public, max-age=86400"
        if request.headers[values: .ifNoneMatch].contains(where: { $0 == a.etag || $0 == "*" }) {
            return Response(status: .notModified, headers: headers)
        }
        return Self.body(ByteBuffer(bytes: a.bytes), headers: headers, request: request)
    }
}

/// Sends the browser elsewhere (303 See Other), thrown from inside a page handler.
struct Redirect: Error { var location: String; init(to location: String) { self.location = location } }
