import Foundation
import GuardianCore
import Yams

/// Checks a JSON value against the part of JSON Schema that docs/openapi.yaml uses: `$ref`,
/// `type` (one or a list, "null" included), `required`, `properties`, `items`,
/// `additionalProperties`, `enum` and `const`. Returns every mismatch with its JSON path.
/// Immutable once loaded (the document is a `let` of YAML values), so shared across tasks.
struct SchemaValidator: @unchecked Sendable {
    let document: [String: Any]

    init(path: String) throws {
        let text = try String(contentsOfFile: path, encoding: .utf8)
        guard let doc = try Yams.load(yaml: text) as? [String: Any] else { throw CocoaError(.fileReadCorruptFile) }
        document = doc
    }

    /// The schema a documented response carries: `paths[path][method].responses[status].content[application/json].schema`.
    func responseSchema(_ method: String, _ path: String, status: Int) -> [String: Any]? {
        let paths = document["paths"] as? [String: Any]
        let op = (paths?[path] as? [String: Any])?[method] as? [String: Any]
        let responses = op?["responses"] as? [String: Any]
        let response = (responses?[String(status)] ?? responses?["\(status)"]) as? [String: Any]
        let content = (response?["content"] as? [String: Any])?["application/json"] as? [String: Any]
        return content?["schema"] as? [String: Any]
    }

    func resolve(_ schema: [String: Any]) -> [String: Any] {
        guard let ref = schema["$ref"] as? String, ref.hasPrefix("#/") else { return schema }
        var node: Any = document
        for part in ref.dropFirst(2).split(separator: "/") { node = (node as? [String: Any])?[String(part)] as Any }
        return resolve(node as? [String: Any] ?? [:])
    }

    func validate(_ value: JSONValue, _ schema: [String: Any], at path: String = "$") -> [String] {
        let schema = resolve(schema)
        var problems: [String] = []
        let types: [String] = (schema["type"] as? [String]) ?? (schema["type"] as? String).map { [$0] } ?? []
        if !types.isEmpty && !types.contains(where: { Self.matches(value, type: $0) }) {
            return ["\(path): expected \(types.joined(separator: "|")), got \(Self.kind(value))"]
        }
        if let allowed = schema["enum"] as? [Any], let s = value.string, !allowed.contains(where: { "\($0)" == s }) {
            problems.append("\(path): '\(s)' is not one of \(allowed)")
        }
        if let c = schema["const"] as? String, let s = value.string, s != c { problems.append("\(path): '\(s)' is not '\(c)'") }
        if let members = value.members {
            let present = Dictionary(members, uniquingKeysWith: { a, _ in a })
            for key in schema["required"] as? [String] ?? [] where present[key] == nil { problems.append("\(path): '\(key)' is missing") }
            let properties = schema["properties"] as? [String: Any] ?? [:]
            for (key, v) in members {
                if let p = properties[key] as? [String: Any] {
                    problems += validate(v, p, at: "\(path).\(key)")
                } else if let extra = schema["additionalProperties"] as? [String: Any] {
                    problems += validate(v, extra, at: "\(path).\(key)")
                }
            }
        }
        if let items = value.array, let itemSchema = schema["items"] as? [String: Any] {
            for (i, v) in items.enumerated() { problems += validate(v, itemSchema, at: "\(path)[\(i)]") }
        }
        return problems
    }

    static func matches(_ v: JSONValue, type: String) -> Bool {
        switch (type, v) {
        case ("null", .null), ("boolean", .bool), ("string", .string), ("array", .array), ("object", .object), ("number", .number): true
        case ("integer", .number(let n)): n.rounded() == n
        default: false
        }
    }

    static func kind(_ v: JSONValue) -> String {
        switch v {
        case .null: "null"
        case .bool: "boolean"
        case .number: "number"
        case .string: "string"
        case .array: "array"
        case .object: "object"
        }
    }
}
