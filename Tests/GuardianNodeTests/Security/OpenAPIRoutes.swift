import Foundation
import Testing

/// The routes of `docs/openapi.yaml` with what a request to each takes: path parameters, query
/// parameters with their schemas, and the request body's schema ($refs resolved). The HTTP fuzzer
/// and the isolation test are generated from it, so a route added to the document is covered.
struct OpenAPIRoutes {
    struct Parameter {
        var name: String
        var schema: [String: Any]
    }

    struct Operation {
        var method: String
        var path: String
        var pathParameters: [String]
        var query: [Parameter]
        var body: [String: Any]?
        var needsToken: Bool
    }

    let operations: [Operation]

    init() throws {
        let url = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()
            .deletingLastPathComponent().appendingPathComponent("docs/openapi.yaml")
        // one reader of the document and of its $refs for the whole suite
        let spec = try SchemaValidator(path: url.path)
        let doc = spec.document
        func resolve(_ v: Any?) -> [String: Any]? { (v as? [String: Any]).flatMap(spec.resolve) }
        var ops: [Operation] = []
        let paths = try #require(doc["paths"] as? [String: Any])
        for (path, value) in paths {
            guard let item = value as? [String: Any] else { continue }
            // a parameter whose reference leads nowhere is a broken document, not a route without it
            func resolveAll(_ list: Any?) throws -> [[String: Any]] {
                try (list as? [Any] ?? []).map { try #require(resolve($0), "\(path): a parameter's $ref leads nowhere: \($0)") }
            }
            let shared = try resolveAll(item["parameters"])
            for method in ["get", "post", "put", "patch", "delete"] {
                guard let op = item[method] as? [String: Any] else { continue }
                let params = shared + (try resolveAll(op["parameters"]))
                let body = resolve(op["requestBody"]).flatMap { rb in
                    ((rb["content"] as? [String: Any])?["application/json"] as? [String: Any]).flatMap { resolve($0["schema"]) }
                }.map { Self.deepResolve($0, spec.resolve) }
                let pathParameters = params.filter { $0["in"] as? String == "path" }.compactMap { $0["name"] as? String }
                let placeholders = path.split(separator: "/").filter { $0.hasPrefix("{") }.map { String($0.dropFirst().dropLast()) }
                #expect(Set(placeholders) == Set(pathParameters), "\(method) \(path): parameters \(pathParameters)")
                ops.append(Operation(
                    method: method.uppercased(), path: path,
                    pathParameters: pathParameters,
                    query: params.filter { $0["in"] as? String == "query" }.compactMap { p in
                        (p["name"] as? String).map { Parameter(name: $0, schema: p["schema"] as? [String: Any] ?? [:]) }
                    },
                    body: body,
                    needsToken: (op["security"] as? [Any])?.isEmpty != true))
            }
        }
        operations = ops.sorted { ($0.path, $0.method) < ($1.path, $1.method) }
    }

    /// A schema with every nested $ref replaced by its target.
    static func deepResolve(_ schema: [String: Any], _ resolve: ([String: Any]) -> [String: Any]?) -> [String: Any] {
        var out: [String: Any] = [:]
        for (k, v) in schema {
            if let d = v as? [String: Any] {
                out[k] = deepResolve(resolve(d) ?? d, resolve)
            } else if let a = v as? [Any] {
                out[k] = a.map { e in (e as? [String: Any]).map { deepResolve(resolve($0) ?? $0, resolve) } ?? e }
            } else {
                out[k] = v
            }
        }
        return out
    }

    /// `path` with each `{name}` replaced by `values[name]`, percent-encoded as one segment.
    static func fill(_ path: String, _ values: [String: String]) -> String {
        var out = path
        for (k, v) in values {
            let encoded = v.addingPercentEncoding(withAllowedCharacters: .alphanumerics.union(CharacterSet(charactersIn: "-._~"))) ?? v
            out = out.replacingOccurrences(of: "{\(k)}", with: encoded)
        }
        return out
    }
}
