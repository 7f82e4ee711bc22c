import Foundation
import GuardianCore
import Yams
import GuardianJSON

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

    /// The schema a `$ref` names (itself when it is none); nil when the reference leads nowhere.
    func resolve(_ schema: [String: Any]) -> [String: Any]? {
        guard let ref = schema["$ref"] as? String else { return schema }
        guard ref.hasPrefix("#/") else { return nil }
        var node: Any? = document
        for part in ref.dropFirst(2).split(separator: "/") { node = (node as? [String: Any])?[String(part)] }
        return (node as? [String: Any]).flatMap(resolve)
    }

    /// Every `$ref` in the document that leads nowhere.
    func unresolvedReferences() -> [String] {
        var out: [String] = []
        func walk(_ node: Any) {
            if let d = node as? [String: Any] {
                if let ref = d["$ref"] as? String, resolve(d) == nil { out.append(ref) }
                for v in d.values { walk(v) }
            } else if let a = node as? [Any] {
                for v in a { walk(v) }
            }
        }
        walk(document)
        return out
    }

    func validate(_ value: JSONValue, _ schema: [String: Any], at path: String = "$") -> [String] {
        guard let schema = resolve(schema) else { return ["\(path): the schema's $ref \(schema["$ref"] ?? "") leads nowhere"] }
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
