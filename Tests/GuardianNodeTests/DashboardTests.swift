import Foundation
import GuardianCore
@testable import GuardianHTTP
@testable import GuardianNode
import GuardianMesh
import GuardianStore
import HTTPTypes
import Hummingbird
import Mustache
import HummingbirdTesting
import NIOCore
import Testing

/// The dashboard in process, over a real store: sessions, CSRF, what each token sees, escaping,
/// the replicated summaries behind the fleet, and the pure pieces (charts, redirects). The browser
/// test (tests/browser/dashboard_test.py) drives the same pages in Chromium against real agents.
@Suite struct DashboardTests {
    /// A session cookie for `secret`, through the login form.
    static func login(_ client: some TestClientProtocol, _ secret: String) async throws -> String {
        let form = try await client.execute(uri: "/ui/login", method: .get)
        let setCookie = try #require(form.headers[.setCookie])
        let loginToken = String(try #require(setCookie.split(separator: ";").first?.split(separator: "=").last))
        let r = try await client.execute(uri: "/ui/login", method: .post,
                                         headers: [.cookie: "guardian_login=\(loginToken)", .contentType: "application/x-www-form-urlencoded"],
                                         body: ByteBuffer(string: "token=\(secret)&csrf=\(loginToken)&next=%2Fui%2F"))
        #expect(r.status == .seeOther, "\(String(buffer: r.body))")
        let cookie = try #require(r.headers[values: .setCookie].first { $0.hasPrefix("guardian_session=") })
        #expect(cookie.contains("HttpOnly") && cookie.contains("SameSite=Strict") && !cookie.contains("Secure"))
        return String(try #require(cookie.split(separator: ";").first))
    }

    static func get(_ client: some TestClientProtocol, _ uri: String, _ cookie: String) async throws -> (HTTPResponse.Status, String) {
        let r = try await client.execute(uri: uri, method: .get, headers: [.cookie: cookie])
        return (r.status, String(buffer: r.body))
    }

    @Test func templatesParseAndEveryPageEscapesWhatItShows() async throws {
        // each compiled-in template parses on its own (the library is built with try!: a broken one must fail here first)
        for (name, bytes) in DashboardResources.templates {
            #expect(throws: Never.self, "\(name)") { _ = try MustacheTemplate(string: String(decoding: bytes, as: UTF8.self)) }
        }
        #expect(throws: (any Error).self) { _ = try MustacheTemplate(string: "{{#open}} never closed") }
        #expect(Set(DashboardResources.templates.keys) == ["head", "foot", "login", "checkcells", "fleet", "fleetrow", "project", "team", "mesh", "error"])
        let node = try TestNode.make("dash-escape")
        let admin = try await TestNode.adminToken(node)
        try AirGapTests.seed(node, projects: ["demo"], results: 2)
        var p = try #require(try node.store.project(id: "demo"))
        p.name = "<script>alert(1)</script>"
        try node.registry.update(project: p)
        node.backfillSummaries()
        let app = Application(router: API(node: node).router())
        try await app.test(.router) { client in
            let cookie = try await Self.login(client, admin)
            let (status, fleet) = try await Self.get(client, "/ui/", cookie)
            #expect(status == .ok)
            #expect(!fleet.contains("<script>alert(1)") && fleet.contains("&lt;script&gt;alert(1)&lt;/script&gt;"))
            let (_, project) = try await Self.get(client, "/ui/projects/demo", cookie)
            #expect(!project.contains("<script>alert(1)") && project.contains("The eight checks"))
            let r = try await client.execute(uri: "/ui/", method: .get, headers: [.cookie: cookie])
            #expect(r.headers[HTTPField.Name("Content-Security-Policy")!]?.contains("default-src 'none'") == true)
        }
    }

    @Test func theFleetShowsReplicatedSummariesAndOnlyTheCallersTeams() async throws {
        let node = try TestNode.make("dash-fleet")
        let admin = try await TestNode.adminToken(node)
        try AirGapTests.seed(node, projects: ["alpha", "beta"], results: 3)
        var beta = try #require(try node.store.project(id: "beta"))
        beta.team = "blue"
        try node.registry.update(project: beta)
        node.backfillSummaries()
        let summary = try #require(try node.store.summary(project: "alpha"))
        let latestAlpha = try node.store.latestResultSummary(project: "alpha")?.id
        #expect(summary.trend.count == 3 && summary.checks.count == 8 && summary.resultId == latestAlpha)
        let (viewer, record) = Auth.newToken(role: .viewer, team: "blue", name: "v")
        try node.registry.insert(token: record)
        let app = Application(router: API(node: node).router())
        try await app.test(.router) { client in
            let cookie = try await Self.login(client, viewer)
            let (_, fleet) = try await Self.get(client, "/ui/", cookie)
            #expect(fleet.contains("/ui/projects/beta") && !fleet.contains("/ui/projects/alpha"))
            #expect(try await Self.get(client, "/ui/projects/alpha", cookie).0 == .notFound)
            #expect(try await Self.get(client, "/ui/teams/default", cookie).0 == .notFound)
            #expect(try await Self.get(client, "/v1/projects/alpha/badge.svg", cookie).0 == .notFound)
            #expect(try await Self.get(client, "/v1/projects/beta/badge.svg", cookie).0 == .ok)
            // a bad bearer token learns no more than no token: the same 404 as an absent project
            for headers: HTTPFields in [[.authorization: "Bearer junk"], [:]] {
                #expect(try await client.execute(uri: "/v1/projects/alpha/badge.svg", method: .get, headers: headers).status == .notFound)
                #expect(try await client.execute(uri: "/v1/projects/absent/badge.svg", method: .get, headers: headers).status == .notFound)
            }
            // the mesh page counts only what the viewer may read, and shows hints to admins only
            let (_, meshPage) = try await Self.get(client, "/ui/mesh", cookie)
            #expect(meshPage.contains("<td class=\"num\">1</td><td class=\"num\">1</td><td class=\"num\">–</td>"), "\(meshPage)")
            // the admin's fleet sorted by health, descending, and filtered by team
            let adminCookie = try await Self.login(client, admin)
            let (_, blue) = try await Self.get(client, "/ui/?team=blue&sort=health&dir=desc", adminCookie)
            #expect(blue.contains("/ui/projects/beta") && !blue.contains("/ui/projects/alpha") && blue.contains("aria-sort=\"descending\""))
            // a revoked token's session ends at its next request
            try node.registry.deleteToken(id: record.id)
            let r = try await client.execute(uri: "/ui/", method: .get, headers: [.cookie: cookie])
            #expect(r.status == .seeOther && r.headers[.location]?.hasPrefix("/ui/login") == true)
        }
    }

    @Test func formsNeedTheSessionsCSRFToken() async throws {
        let node = try TestNode.make("dash-csrf")
        let admin = try await TestNode.adminToken(node)
        try AirGapTests.seed(node, projects: ["demo"], results: 1)
        let latest = try #require(try node.store.latestResultSummary(project: "demo"))
        let fingerprint = try #require(try node.store.findings(result: latest.id, check: nil, severity: nil, onlyNew: false, limit: 1).first)
        let app = Application(router: API(node: node).router())
        try await app.test(.router) { client in
            let cookie = try await Self.login(client, admin)
            let (_, page) = try await Self.get(client, "/ui/projects/demo", cookie)
            let csrf = try #require(page.firstMatch(of: /name="csrf" value="([0-9a-f]{64})"/)?.1)
            let headers: HTTPFields = [.cookie: cookie, .contentType: "application/x-www-form-urlencoded"]
            let body = "fingerprint=\(fingerprint.fingerprint)&ruleId=\(fingerprint.ruleId.addingPercentEncoding(withAllowedCharacters: .alphanumerics)!)&reason=wont_fix"
            let refused = try await client.execute(uri: "/ui/projects/demo/dismiss", method: .post, headers: headers,
                                                   body: ByteBuffer(string: body + "&csrf=" + String(repeating: "0", count: 64)))
            #expect(refused.status == .forbidden)
            #expect(try node.store.dismissals(project: "demo").isEmpty)
            let done = try await client.execute(uri: "/ui/projects/demo/dismiss", method: .post, headers: headers,
                                                body: ByteBuffer(string: body + "&csrf=\(csrf)"))
            #expect(done.status == .seeOther, "\(String(buffer: done.body))")
            #expect(try node.store.dismissals(project: "demo").map(\.fingerprint) == [fingerprint.fingerprint])
            // a login whose field does not match its cookie is refused
            let forced = try await client.execute(uri: "/ui/login", method: .post,
                                                  headers: [.cookie: "guardian_login=\(String(repeating: "a", count: 64))", .contentType: "application/x-www-form-urlencoded"],
                                                  body: ByteBuffer(string: "token=\(admin)&csrf=\(String(repeating: "b", count: 64))"))
            #expect(forced.status == .forbidden && forced.headers[values: .setCookie].allSatisfy { !$0.hasPrefix("guardian_session=") })
            // audit now and logout need the token too; with it, logout ends the session
            let wrong = "csrf=" + String(repeating: "0", count: 64)
            let audit = try await client.execute(uri: "/ui/projects/demo/audit", method: .post, headers: headers, body: ByteBuffer(string: wrong))
            #expect(audit.status == .forbidden)
            #expect(await node.queueDepth == 0, "a refused form queues nothing")
            #expect(try await client.execute(uri: "/ui/logout", method: .post, headers: headers, body: ByteBuffer(string: wrong)).status == .forbidden)
            #expect(try await Self.get(client, "/ui/", cookie).0 == .ok, "a refused logout leaves the session")
            #expect(try await client.execute(uri: "/ui/logout", method: .post, headers: headers, body: ByteBuffer(string: "csrf=\(csrf)")).status == .seeOther)
            #expect(try await Self.get(client, "/ui/", cookie).0 == .seeOther)
        }
    }

    @Test func sessionsExpireAndRedirectsStayOnTheDashboard() throws {
        let now = ManualClock(1000.0)
        let sessions = Sessions(now: { now.value })
        let (id, s) = sessions.create(Principal(role: .viewer, team: "t", tokenId: "x"))
        #expect(sessions.get(id)?.csrf == s.csrf)
        now.value = 1000 + Sessions.lifetime + 1
        #expect(sessions.get(id) == nil)
        #expect(Sessions.same("ab", "ab") && !Sessions.same("ab", "ac") && !Sessions.same("", ""))
        // one token's logins push out only its own oldest sessions
        now.value = 5000
        let other = sessions.create(Principal(role: .admin, team: nil, tokenId: "admin")).id
        var ids: [String] = []
        for i in 0..<(Sessions.maxPerToken + 5) {
            now.value = 5000 + Double(i + 1)
            ids.append(sessions.create(Principal(role: .viewer, team: "t", tokenId: "noisy")).id)
        }
        #expect(sessions.get(other) != nil && sessions.get(ids[0]) == nil && sessions.get(ids.last!) != nil)
        let d = Dashboard(api: API(node: try TestNode.make("dash-next")))
        #expect(d.safeNext("/ui/projects/x") == "/ui/projects/x")
        for evil in ["//evil.example/ui/", "https://evil.example/", "/ui/\\evil", "/v1/projects", nil] { #expect(d.safeNext(evil) == "/ui/") }
    }

    @Test func chartsAndBadgeEscapeAndScale() {
        #expect(Charts.points([0, 100], width: 10, height: 10, pad: 0) == "0.0,10.0 10.0,0.0")
        #expect(Charts.sparkline([50, 60]).contains("aria-label=\"Health trend: 50, 60\""))
        #expect(Charts.badge(health: nil, gatePassed: nil).contains("no result"))
        #expect(Charts.badge(health: 91, gatePassed: true).contains("#2e7d32") && Charts.badge(health: 91, gatePassed: false).contains("gate failed"))
        #expect(HTML.escape("<a href=\"x\">'&") == "&lt;a href=&quot;x&quot;&gt;&#39;&amp;")
    }

    @Test func aSummaryFromAPeerMustBeValid() async throws {
        let node = try TestNode.make("dash-summary")
        try AirGapTests.seed(node, projects: ["demo"], results: 1)
        let good = ProjectSummary(id: "demo", resultId: "r1", createdAt: Date().timeIntervalSince1970, commit: "abc", health: 80, gatePassed: true,
                                  signer: "n", checks: ["strict": .init(status: "passed", score: 90, findings: 1)], trend: [70, 80])
        var bad = good
        bad.health = 300
        var unknown = good
        unknown.checks = ["magic": .init(status: "passed", score: 1, findings: 0)]
        func record(_ s: ProjectSummary, wall: Int64) throws -> RegistryRecord {
            RegistryRecord(kind: .summary, id: s.id, stamp: HLC(wall: wall, logical: 0, node: "peer"), value: Array(try ProjectSummary.encoded(s).utf8))
        }
        let wall = Int64(Date().timeIntervalSince1970 * 1000)
        let outcome = try await node.registry.merge([try record(bad, wall: wall), try record(unknown, wall: wall + 1)])
        #expect(outcome.invalid == 2 && outcome.applied == 0)
        #expect(try await node.registry.merge([try record(good, wall: wall + 2)]).applied == 1)
        #expect(try node.store.summary(project: "demo") == good)
        #expect(try node.store.project(id: "demo")?.lastAuditAt == good.createdAt, "a summary from a peer sets the project's last audit")
        var ahead = good
        ahead.createdAt = Date().timeIntervalSince1970 + 3600
        #expect(try await node.registry.merge([try record(ahead, wall: wall + 3)]).invalid == 1, "a summary from an hour ahead would freeze the project's")
        // deleting the project tombstones its summary too, so a late copy cannot bring it back
        try node.registry.deleteProject(id: "demo")
        #expect(try node.store.summary(project: "demo") == nil && (try node.store.summaries())["demo"] == nil)
        #expect(try node.registry.records(["summary/demo"]).first?.isTombstone == true)
        #expect(try await node.registry.merge([try record(good, wall: wall + 1)]).stale == 1)
    }
}

/// A clock the test sets, read from a `@Sendable` closure.
final class ManualClock<T: Sendable>: @unchecked Sendable {
    private let lock = NSLock()
    private var v: T
    init(_ v: T) { self.v = v }
    var value: T {
        get { lock.lock(); defer { lock.unlock() }; return v }
        set { lock.lock(); v = newValue; lock.unlock() }
    }
}
