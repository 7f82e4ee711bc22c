import Foundation
import GuardianTestKit
import Hummingbird
import NIOCore
import Synchronization

/// GitHub's, GitLab's, Bitbucket Cloud's and Azure DevOps' REST APIs as far as Guardian writes to
/// them, on loopback (this machine cannot reach the hosts). It holds comments and statuses in
/// memory, refuses a request without the provider's documented authentication (401), refuses a
/// review comment off the diff's lines (422, as GitHub does), and records every request.
final class FakeCodeHost: Sendable {
    struct Call: Sendable {
        var method: String
        var path: String
        var body: Data
        var headers: [String: String]
        func json() throws -> [String: Any] {
            guard let o = try JSONSerialization.jsonObject(with: body) as? [String: Any] else { throw FixtureError(message: "not a JSON object: \(path)") }
            return o
        }
    }
    struct Comment: Sendable { var id: Int; var body: String }
    struct State {
        var calls: [Call] = []
        /// Issue comments (GitHub), notes (GitLab) or threads (Azure), by request.
        var comments: [String: [Comment]] = [:]
        /// Review comments (GitHub) by request: body, path, line, commit.
        var reviews: [String: [(body: String, path: String, line: Int, commit: String)]] = [:]
        var statuses: [(sha: String, body: Data)] = []
        /// Webhooks made through the API, their bodies.
        var hooks: [Data] = []
        var nextId = 100
        /// Lines a review comment may go on, by path (GitHub answers 422 elsewhere); nil: any.
        var diffLines: [String: Set<Int>]?
        /// Answer every call with this status instead (a revoked token).
        var failWith: Int?
    }

    let token: String
    private let state = Mutex(State())
    private let port = Mutex<Int?>(nil)
    private let task = Mutex<Task<Void, any Error>?>(nil)
    init(token: String) { self.token = token }

    var base: String { "http://127.0.0.1:\(port.withLock { $0 } ?? 0)" }
    var calls: [Call] { state.withLock { $0.calls } }
    func comments(_ key: String) -> [Comment] { state.withLock { $0.comments[key] ?? [] } }
    func reviews(_ key: String) -> [(body: String, path: String, line: Int, commit: String)] { state.withLock { $0.reviews[key] ?? [] } }
    func statuses(_ sha: String) -> [[String: Any]] {
        let bodies = state.withLock { s in s.statuses.filter { $0.sha == sha }.map(\.body) }
        return bodies.map { (try? JSONSerialization.jsonObject(with: $0)) as? [String: Any] ?? [:] }
    }
    func failAll(with status: Int?) { state.withLock { $0.failWith = status } }
    func hooks() -> [[String: Any]] {
        state.withLock { $0.hooks }.map { (try? JSONSerialization.jsonObject(with: $0)) as? [String: Any] ?? [:] }
    }

    /// Whether the request carries the provider's documented authentication for `token`.
    func authorized(_ provider: String, _ h: [String: String]) -> Bool {
        switch provider {
        case "github": h["authorization"] == "Bearer \(token)" && h["x-github-api-version"] == "2022-11-28"
        case "gitlab": h["private-token"] == token
        case "bitbucket": h["authorization"] == "Bearer \(token)"
        default: h["authorization"] == "Basic " + Data(":\(token)".utf8).base64EncodedString()
        }
    }

    static func json(_ v: Any, _ status: Int = 200) -> Response {
        let data = (try? JSONSerialization.data(withJSONObject: v)) ?? Data()
        return Response(status: .init(code: status), headers: [.contentType: "application/json"], body: .init(byteBuffer: ByteBuffer(bytes: data)))
    }
    static func body(_ c: Call) -> [String: Any] { (try? c.json()) ?? [:] }
    static func list(_ s: State, _ key: String, _ make: (Comment) -> [String: Any]) -> Response { json((s.comments[key] ?? []).map(make)) }
    static func create(_ s: inout State, _ key: String, _ text: String) -> Int {
        s.nextId += 1
        s.comments[key, default: []].append(Comment(id: s.nextId, body: text))
        return s.nextId
    }
    /// Replaces a comment's text, or removes it (`text` nil); whether it was there.
    static func edit(_ s: inout State, _ id: Int, _ text: String?) -> Bool {
        for (k, list) in s.comments {
            if let i = list.firstIndex(where: { $0.id == id }) {
                if let text { s.comments[k]![i].body = text } else { s.comments[k]!.remove(at: i) }
                return true
            }
        }
        return false
    }
    static var empty: [String: Any] { [:] }

    static func start(token: String) async throws -> FakeCodeHost {
        let host = FakeCodeHost(token: token)
        let router = Router()
        /// Records the call; the answer of `handle`, or 401 without the right credentials.
        func route(_ method: HTTPRequest.Method, _ path: RouterPath, _ provider: String,
                   _ handle: @escaping @Sendable (inout State, Call, Parameters) -> Response) {
            router.on(path, method: method) { request, context -> Response in
                let body = try await request.body.collect(upTo: 4 << 20)
                var headers: [String: String] = [:]
                for f in request.headers { headers[f.name.canonicalName.lowercased()] = f.value }
                let call = Call(method: method.rawValue, path: request.uri.path, body: Data(buffer: body), headers: headers)
                return host.state.withLock { s in
                    s.calls.append(call)
                    if let status = s.failWith { return Self.json(["message": "refused"], status) }
                    guard host.authorized(provider, headers) else { return Self.json(["message": "Bad credentials"], 401) }
                    return handle(&s, call, context.parameters)
                }
            }
        }
        // GitHub's and GitLab's statuses and comments (notes) have the same shapes under other paths
        let status: @Sendable (inout State, Call, Parameters) -> Response = { s, c, p in
            s.statuses.append((p.get("sha") ?? "", c.body))
            return Self.json(["id": 1], 201)
        }
        let listing = { (prefix: String, param: String) -> @Sendable (inout State, Call, Parameters) -> Response in
            { s, _, p in Self.list(s, "\(prefix)/\(p.get(param) ?? "")") { ["id": $0.id, "body": $0.body] } }
        }
        let creating = { (prefix: String, param: String) -> @Sendable (inout State, Call, Parameters) -> Response in
            { s, c, p in Self.json(["id": Self.create(&s, "\(prefix)/\(p.get(param) ?? "")", Self.body(c)["body"] as? String ?? "")], 201) }
        }
        let editing = { (param: String) -> @Sendable (inout State, Call, Parameters) -> Response in
            { s, c, p in
                Self.edit(&s, Int(p.get(param) ?? "") ?? 0, Self.body(c)["body"] as? String ?? "") ? Self.json(Self.empty) : Self.json(["message": "Not Found"], 404)
            }
        }
        // GitHub
        route(.post, "/repos/:o/:r/statuses/:sha", "github", status)
        route(.get, "/repos/:o/:r/issues/:n/comments", "github", listing("gh", "n"))
        route(.post, "/repos/:o/:r/issues/:n/comments", "github", creating("gh", "n"))
        route(.patch, "/repos/:o/:r/issues/comments/:id", "github", editing("id"))
        route(.delete, "/repos/:o/:r/issues/comments/:id", "github") { s, c, p in
            Self.edit(&s, Int(p.get("id") ?? "") ?? 0, nil) ? Response(status: .noContent) : Self.json(["message": "Not Found"], 404)
        }
        route(.get, "/repos/:o/:r/pulls/:n/comments", "github") { s, c, p in
            Self.json((s.reviews["gh/\(p.get("n") ?? "")"] ?? []).map { ["body": $0.body, "path": $0.path, "line": $0.line] })
        }
        route(.post, "/repos/:o/:r/pulls/:n/comments", "github") { s, c, p in
            let b = Self.body(c)
            guard let path = b["path"] as? String, let line = b["line"] as? Int, let commit = b["commit_id"] as? String, b["side"] as? String == "RIGHT",
                  let text = b["body"] as? String else { return Self.json(["message": "Invalid request"], 422) }
            if let lines = s.diffLines, lines[path]?.contains(line) != true { return Self.json(["message": "line must be part of the diff"], 422) }
            s.reviews["gh/\(p.get("n") ?? "")", default: []].append((text, path, line, commit))
            return Self.json(["id": 1], 201)
        }
        route(.post, "/repos/:o/:r/hooks", "github") { s, c, _ in
            s.hooks.append(c.body)
            return Self.json(["id": 1], 201)
        }
        // GitLab (the project id is the URL-encoded path: one segment)
        route(.post, "/api/v4/projects/:id/statuses/:sha", "gitlab", status)
        route(.get, "/api/v4/projects/:id/merge_requests/:iid/notes", "gitlab", listing("gl", "iid"))
        route(.post, "/api/v4/projects/:id/merge_requests/:iid/notes", "gitlab", creating("gl", "iid"))
        route(.put, "/api/v4/projects/:id/merge_requests/:iid/notes/:note", "gitlab", editing("note"))
        // Bitbucket Cloud
        route(.post, "/2.0/repositories/:ws/:repo/commit/:sha/statuses/build", "bitbucket") { s, c, p in
            s.statuses.append((p.get("sha") ?? "", c.body))
            return Self.json(["key": "guardian"], 201)
        }
        route(.put, "/2.0/repositories/:ws/:repo/commit/:sha/reports/guardian", "bitbucket") { _, _, _ in Self.json(["uuid": "{r}"]) }
        route(.post, "/2.0/repositories/:ws/:repo/commit/:sha/reports/guardian/annotations", "bitbucket") { _, c, _ in
            let list = (try? JSONSerialization.jsonObject(with: c.body)) as? [[String: Any]]
            return list == nil ? Self.json(["error": "expected a list"], 400) : Self.json(list!)
        }
        // Azure DevOps
        route(.post, "/org/:project/_apis/git/repositories/:repo/pullRequests/:n/statuses", "azure") { s, c, p in
            s.statuses.append(("pr\(p.get("n") ?? "")", c.body))
            return Self.json(["id": 1], 201)
        }
        route(.get, "/org/:project/_apis/git/repositories/:repo/pullRequests/:n/threads", "azure") { s, c, p in
            Self.json(["value": (s.comments["az/\(p.get("n") ?? "")"] ?? []).map { ["id": $0.id, "comments": [["id": 1, "content": $0.body]]] }])
        }
        route(.post, "/org/:project/_apis/git/repositories/:repo/pullRequests/:n/threads", "azure") { s, c, p in
            let text = ((Self.body(c)["comments"] as? [[String: Any]])?.first?["content"] as? String) ?? ""
            return Self.json(["id": Self.create(&s, "az/\(p.get("n") ?? "")", text)], 200)
        }
        route(.patch, "/org/:project/_apis/git/repositories/:repo/pullRequests/:n/threads/:t/comments/:c", "azure") { s, c, p in
            Self.edit(&s, Int(p.get("t") ?? "") ?? 0, Self.body(c)["content"] as? String ?? "") ? Self.json(Self.empty) : Self.json(["message": "not found"], 404)
        }
        let app = Application(router: router, configuration: .init(address: .hostname("127.0.0.1", port: 0)),
                              onServerRunning: { channel in host.port.withLock { $0 = channel.localAddress?.port } })
        let t = Task(executorPreference: ThreadExecutor.servers) { try await app.runService(gracefulShutdownSignals: []) }
        host.task.withLock { $0 = t }
        try await eventually("the fake code host listens", timeout: 60) { host.port.withLock { $0 } != nil }
        return host
    }

    func setDiffLines(_ lines: [String: Set<Int>]?) { state.withLock { $0.diffLines = lines } }
    func stop() { task.withLock { $0?.cancel() } }
}
