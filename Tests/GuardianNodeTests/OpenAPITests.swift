import Foundation
import GuardianAudit
import GuardianCore
@testable import GuardianNode
@testable import GuardianHTTP
@testable import GuardianStore
import HTTPTypes
import Hummingbird
import HummingbirdTesting
import Logging
import NIOCore
import Testing
import GuardianJSON

/// docs/openapi.yaml must list exactly the routes the router serves, and the bodies the routes
/// answer must have the documented shapes. The router runs in process over a real node (real
/// SQLite, signed results).
@Suite struct OpenAPITests {
    static let root = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()
    static var spec: String { root.appendingPathComponent("docs/openapi.yaml").path }

    static func node() throws -> Node { try TestNode.make("openapi") }

    /// `:id` as `{id}`.
    static func convert(_ path: String) -> String {
        path.split(separator: "/", omittingEmptySubsequences: false)
            .map { $0.hasPrefix(":") ? "{\($0.dropFirst())}" : String($0) }.joined(separator: "/")
    }

    func documentedRoutes(_ v: SchemaValidator) -> Set<String> {
        var out = Set<String>()
        for (path, item) in v.document["paths"] as? [String: Any] ?? [:] {
            for method in ["get", "post", "put", "patch", "delete"] where (item as? [String: Any])?[method] != nil {
                out.insert("\(method) \(path)")
            }
        }
        return out
    }

    @Test func documentMatchesRoutes() throws {
        let router = API(node: try Self.node()).router()
        let code = Set(router.routes.map { "\($0.method.rawValue.lowercased()) \(Self.convert($0.path.description))" })
        let docs = documentedRoutes(try SchemaValidator(path: Self.spec))
        #expect(code.count > 40, "\(code.sorted())")
        #expect(code.subtracting(docs).isEmpty, "routes missing from docs/openapi.yaml: \(code.subtracting(docs).sorted())")
        #expect(docs.subtracting(code).isEmpty, "documented routes that do not exist: \(docs.subtracting(code).sorted())")
    }

    @Test func everyReferenceResolves() throws {
        let spec = try SchemaValidator(path: Self.spec)
        #expect(spec.unresolvedReferences().isEmpty, "\(spec.unresolvedReferences())")
        #expect(!spec.validate(.object([]), ["$ref": "#/components/schemas/NoSuchSchema"]).isEmpty)
    }

    /// Calls the routes with an admin token over a node holding a project with a signed result,
    /// and checks each answer's status and body against the documented schema for that status.
    @Test func answersHaveTheDocumentedShapes() async throws {
        let node = try Self.node()
        let admin = try await TestNode.adminToken(node)
        let resultId = try #require(try AirGapTests.seed(node, projects: ["demo"], results: 1).first)
        let envelope = try #require(try node.store.result(id: resultId)).envelope
        let spec = try SchemaValidator(path: Self.spec)
        let fingerprint = try #require(try node.store.findings(result: resultId, check: nil, severity: nil, onlyNew: false, limit: 1).first)
            .fingerprint
        let app = Application(router: API(node: node).router())

        // (method, path as documented, uri, body, the status expected)
        let calls: [(HTTPRequest.Method, String, String, String?, Int)] = [
            (.get, "/v1/node", "/v1/node", nil, 200),
            (.get, "/v1/members", "/v1/members", nil, 200),
            (.get, "/v1/ring", "/v1/ring", nil, 200),
            (.get, "/v1/ring/owners", "/v1/ring/owners?key=demo", nil, 200),
            (.get, "/v1/projects", "/v1/projects", nil, 200),
            (.get, "/v1/projects/{id}", "/v1/projects/demo", nil, 200),
            (.patch, "/v1/projects/{id}", "/v1/projects/demo", #"{"name": "Demo"}"#, 200),
            (.get, "/v1/projects/{id}/owners", "/v1/projects/demo/owners", nil, 200),
            (.get, "/v1/projects/{id}/audit-status", "/v1/projects/demo/audit-status", nil, 200),
            (.get, "/v1/projects/{id}/results", "/v1/projects/demo/results", nil, 200),
            (.get, "/v1/results/{id}", "/v1/results/\(resultId)", nil, 200),
            (.get, "/v1/projects/{id}/findings", "/v1/projects/demo/findings", nil, 200),
            (.get, "/v1/projects/{id}/overview", "/v1/projects/demo/overview", nil, 200),
            (.get, "/v1/projects/{id}/overview", "/v1/projects/demo/overview?severity=worst", nil, 400),
            (.post, "/v1/projects/{id}/dismissals", "/v1/projects/demo/dismissals", #"{"fingerprint": "\#(fingerprint)", "reason": "wont_fix"}"#, 201),
            (.get, "/v1/projects/{id}/dismissals", "/v1/projects/demo/dismissals", nil, 200),
            (.get, "/v1/teams/{id}", "/v1/teams/default", nil, 200),
            (.put, "/v1/teams/{id}", "/v1/teams/red", #"{"name": "red", "strictness": 0.9}"#, 200),
            (.post, "/v1/tokens", "/v1/tokens", #"{"role": "viewer", "team": "red"}"#, 201),
            (.post, "/v1/verify", "/v1/verify", String(decoding: envelope, as: UTF8.self), 200),
            (.post, "/v1/verify", "/v1/verify", #"{"payloadType": "x", "payload": "", "signatures": []}"#, 422),
            (.get, "/v1/keys", "/v1/keys", nil, 409),
            (.post, "/v1/projects", "/v1/projects", #"{"repositoryUrl": "ftp://example.invalid/x.git"}"#, 400),
            (.post, "/v1/projects", "/v1/projects", #"{"name": "no url"}"#, 400),
            (.get, "/v1/projects/{id}", "/v1/projects/absent", nil, 404),
        ]
        try await app.test(.router) { client in
            for (method, documented, uri, body, expected) in calls {
                let r = try await client.execute(uri: uri, method: method, headers: [.authorization: "Bearer \(admin)"],
                                                 body: body.map { ByteBuffer(string: $0) })
                let text = String(buffer: r.body)
                #expect(r.status.code == expected, "\(method) \(uri): \(r.status) \(text)")
                let value = try JSONValue.parse(Array(text.utf8))
                let schema = try #require(spec.responseSchema(method.rawValue.lowercased(), documented, status: expected)
                                            ?? (expected >= 400 ? ["$ref": "#/components/schemas/Error"] : nil),
                                          "no documented schema for \(method) \(documented) \(expected)")
                let problems = spec.validate(value, schema)
                #expect(problems.isEmpty, "\(method) \(uri): \(problems) in \(text.prefix(600))")
            }
            // the documented schemas are not vacuous: a body without a required field fails them
            let project = try #require(spec.responseSchema("get", "/v1/projects/{id}", status: 200))
            #expect(!spec.validate(try JSONValue.parse(Array(#"{"id": "x"}"#.utf8)), project).isEmpty)
        }
    }

    /// A route's required request fields are the documented ones: a body without one is refused
    /// with 400 `missing_field`.
    @Test func requestsWithoutARequiredFieldAreRefused() async throws {
        let node = try Self.node()
        let admin = try await TestNode.adminToken(node)
        try AirGapTests.seed(node, projects: ["demo"], results: 1)
        let spec = try SchemaValidator(path: Self.spec)
        let app = Application(router: API(node: node).router())
        let routes: [(HTTPRequest.Method, String, String)] = [
            (.post, "/v1/tokens", "/v1/tokens"),
            (.post, "/v1/projects/{id}/dismissals", "/v1/projects/demo/dismissals"),
        ]
        try await app.test(.router) { client in
            for (method, documented, uri) in routes {
                let paths = spec.document["paths"] as? [String: Any]
                let op = (paths?[documented] as? [String: Any])?[method.rawValue.lowercased()] as? [String: Any]
                let body = ((op?["requestBody"] as? [String: Any])?["content"] as? [String: Any])?["application/json"] as? [String: Any]
                let schema = try #require(spec.resolve(body?["schema"] as? [String: Any] ?? [:]), "\(documented): no request schema")
                let firstRequired = try #require((schema["required"] as? [String])?.first, "\(documented) documents no required field")
                let r = try await client.execute(uri: uri, method: method, headers: [.authorization: "Bearer \(admin)"], body: ByteBuffer(string: "{}"))
                let text = String(buffer: r.body)
                #expect(r.status == .badRequest && text.contains("missing_field") && text.contains(firstRequired), "\(uri): \(r.status) \(text)")
            }
        }
    }

    /// Which refusal a caller sees when a request has several faults, and what a project without a
    /// result answers, as clients have relied on.
    @Test func refusalsComeInTheirOrder() async throws {
        let node = try Self.node()
        let admin = try await TestNode.adminToken(node)
        try AirGapTests.seed(node, projects: ["demo"], results: 0)
        let app = Application(router: API(node: node).router())
        try await app.test(.router) { client in
            func call(_ method: HTTPRequest.Method, _ uri: String, _ body: String? = nil) async throws -> (Int, String) {
                let r = try await client.execute(uri: uri, method: method, headers: [.authorization: "Bearer \(admin)"],
                                                 body: body.map { ByteBuffer(string: $0) })
                return (Int(r.status.code), String(buffer: r.body))
            }
            let schedule = try await call(.patch, "/v1/projects/demo", #"{"repositoryUrl": "https://x.invalid/y.git", "scheduleSeconds": -1}"#)
            #expect(schedule.0 == 400 && schedule.1.contains("invalid_schedule"), "\(schedule)")
            let immutable = try await call(.patch, "/v1/projects/demo", #"{"repositoryUrl": "https://x.invalid/y.git", "name": "n"}"#)
            #expect(immutable.0 == 400 && immutable.1.contains("immutable_field"), "\(immutable)")
            let noResult = try await call(.get, "/v1/projects/demo/findings?check=bogus")
            #expect(noResult.0 == 200 && noResult.1.contains(#""items":[]"#), "\(noResult)")
        }
    }
}
