import Foundation
import GuardianMesh

/// Builds one request for an operation from its schemas, bent at random: the HTTP fuzzer's
/// generator. Seeded (`rng` is handed back so a run replays from its seed).
struct RequestGenerator {
    var rng: SplitMix64
    let known: HTTPFuzzTests.Known

    struct Request {
        var path: String
        var body: Data?
        var token: String
        var headers: [String: String]
    }

    static let hostile = ["../../etc/passwd", "..%2F..%2Fx", "%00", "仮実装後で", String(repeating: "a", count: 3000), "-", ".", "..",
                          "a b", "'; DROP TABLE project; --", "{\"x\":1}", "\u{202E}evil", "tok-000000000000", "0", "-1",
                          "1e309", "null", "true", "/", "\\", "a\u{7F}b", String(repeating: "仮", count: 300)]

    mutating func chance(_ n: Int) -> Bool { Int.random(in: 0..<n, using: &rng) == 0 }
    mutating func pick<T>(_ xs: [T]) -> T { xs[Int.random(in: 0..<xs.count, using: &rng)] }

    mutating func string(valid: [String]) -> String {
        if !valid.isEmpty && !chance(3) { return pick(valid) }
        if chance(2) { return pick(Self.hostile) }
        let n = Int.random(in: 0...24, using: &rng)
        return String((0..<n).map { _ in Character(Unicode.Scalar(UInt8.random(in: 0x21...0x7E, using: &rng))) })
    }

    /// A value for a path parameter named `name`.
    mutating func pathValue(_ name: String, path: String) -> String {
        switch name {
        case "task": return string(valid: known.tasks)
        case "project": return string(valid: known.projects)
        case "name": return string(valid: known.members)
        default:
            if path.hasPrefix("/v1/results") { return string(valid: known.results) }
            if path.hasPrefix("/v1/teams") { return string(valid: known.teams) }
            if path.hasPrefix("/v1/tokens") { return string(valid: known.tokenIDs) }
            return string(valid: known.projects)
        }
    }

    /// A JSON value for `schema`, usually of its type, sometimes not.
    mutating func value(_ schema: [String: Any], name: String = "", depth: Int = 0) -> Any {
        if chance(12) { return pick([NSNull(), 12345678901234 as Any, -1 as Any, "x" as Any, [1, 2] as Any, ["k": "v"] as Any, true as Any]) }
        if let options = schema["enum"] as? [Any], !chance(5) { return pick(options) }
        let type = (schema["type"] as? String) ?? ((schema["type"] as? [Any])?.first as? String) ?? "object"
        switch type {
        case "integer": return pick([0, 1, 3600, -5, Int.max, 2_000_000_000] as [Any])
        case "number": return pick([0.0, 1.5, -1e300, 1e308] as [Any])
        case "boolean": return chance(2)
        case "array":
            guard depth < 3 else { return [Any]() }
            let items = schema["items"] as? [String: Any] ?? [:]
            return (0..<Int.random(in: 0...3, using: &rng)).map { _ in value(items, depth: depth + 1) }
        case "object":
            guard depth < 3 else { return [String: Any]() }
            var out: [String: Any] = [:]
            let props = schema["properties"] as? [String: Any] ?? [:]
            let required = Set(schema["required"] as? [String] ?? [])
            for (k, s) in props.sorted(by: { $0.key < $1.key }) where required.contains(k) || !chance(3) {
                out[k] = value(s as? [String: Any] ?? [:], name: k, depth: depth + 1)
            }
            if chance(5) { out[string(valid: [])] = string(valid: []) }
            return out
        default:
            return stringValue(name)
        }
    }

    /// A string for a named field: repository URLs only on loopback, join addresses only on loopback.
    mutating func stringValue(_ name: String) -> String {
        switch name {
        case "repositoryUrl":
            return pick(["https://127.0.0.1:1/r.git", "http://localhost:9/r.git", "ssh://127.0.0.1/r", "git://127.0.0.1/r",
                         "/etc", "file:///etc", "relative", "https://example.invalid/r.git", "ftp://127.0.0.1/r", "", "git@127.0.0.1:r.git",
                         "https://127.0.0.1:1/" + String(repeating: "a", count: 3000)])
        case "address":
            return pick(["127.0.0.1:1", "127.0.0.1:0", "localhost:1", "not an address", ":", "127.0.0.1:99999"])
        case "team": return string(valid: known.teams)
        case "role": return pick(["admin", "maintainer", "viewer", "member", "root", ""])
        case "key": return string(valid: [])
        default: return string(valid: [])
        }
    }

    mutating func request(for op: OpenAPIRoutes.Operation) -> Request {
        var params: [String: String] = [:]
        for p in op.pathParameters { params[p] = pathValue(p, path: op.path) }
        var path = OpenAPIRoutes.fill(op.path, params)
        var query: [String] = []
        for q in op.query where !chance(3) {
            let v: String
            if q.name == "key" || q.name == "project" { v = string(valid: known.projects) }
            else if let e = q.schema["enum"] as? [String], !chance(4) { v = pick(e) }
            else { v = pick(["1", "0", "-1", "2026-11-27T10:00:00Z", "abc", "1e400", String(repeating: "9", count: 400)] + [string(valid: [])]) }
            query.append("\(q.name)=\(v.addingPercentEncoding(withAllowedCharacters: .alphanumerics) ?? v)")
        }
        // the query parameters routes read without the document naming them
        for extra in ["limit", "before", "check", "severity", "new", "rev", "local"] where chance(8) {
            query.append("\(extra)=\(pick(["1", "0", "-3", "strict", "critical", "x", "999999999999", "HEAD", "main"]))")
        }
        if !query.isEmpty { path += "?" + query.joined(separator: "&") }

        var body: Data?
        if op.method != "GET" && op.method != "DELETE" {
            if let schema = op.body, !chance(6) {
                body = try? JSONSerialization.data(withJSONObject: value(schema), options: [.fragmentsAllowed])
            } else if chance(2) {
                body = Data((0..<Int.random(in: 0...300, using: &rng)).map { _ in UInt8.random(in: 0...255, using: &rng) })
            } else {
                body = Data(pick(["{", "[]", "null", "{\"a\":", "{\"repositoryUrl\": 5}", "\"x\"", "{\"role\":\"admin\",\"team\":\"t\"}"]).utf8)
            }
        }
        let tokens = ["admin", "maintainer", "viewer"].compactMap { known.tokens[$0] }
        let token = chance(6) ? pick(["", "gdn_notavalidtoken", String(repeating: "x", count: 5000)]) : pick(tokens)
        var headers: [String: String] = [:]
        if chance(6) { headers["Last-Event-ID"] = pick(["0", "-1", "abc", "99999999999999999999"]) }
        if path.hasPrefix("/v1/hooks") {
            headers["X-GitHub-Event"] = pick(["push", "ping", "pull_request", ""])
            headers["X-GitHub-Delivery"] = string(valid: [])
            if chance(2) { headers["X-Hub-Signature-256"] = "sha256=" + String(repeating: "0", count: 64) }
            if chance(3) { headers["X-Gitlab-Token"] = "s" }
        }
        if path.hasPrefix("/v1/events") { headers["Last-Event-ID"] = "0" } // a stream answers at once with its head; the client reads no further
        return Request(path: path, body: body, token: token, headers: headers)
    }
}
