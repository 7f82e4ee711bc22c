import Foundation
import Testing

/// docs/openapi.yaml must list exactly the routes the code registers.
@Suite struct OpenAPITests {
    static let root = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()

    func codeRoutes() throws -> Set<String> {
        var out = Set<String>()
        let dir = Self.root.appendingPathComponent("Sources/GuardianNode/Agent")
        let re = try NSRegularExpression(pattern: #"router\.(get|post|put|patch|delete)\("([^"]+)"\)"#)
        for file in try FileManager.default.contentsOfDirectory(atPath: dir.path) where file.hasSuffix(".swift") {
            let text = try String(contentsOf: dir.appendingPathComponent(file), encoding: .utf8)
            for m in re.matches(in: text, range: NSRange(text.startIndex..., in: text)) {
                let method = String(text[Range(m.range(at: 1), in: text)!])
                var path = String(text[Range(m.range(at: 2), in: text)!])
                if path.contains("\\(provider.rawValue)") {
                    for p in ["github", "gitlab", "bitbucket", "azure"] {
                        out.insert(method + " " + convert(path.replacingOccurrences(of: "\\(provider.rawValue)", with: p)))
                    }
                    continue
                }
                path = convert(path)
                out.insert(method + " " + path)
            }
        }
        return out
    }

    func convert(_ path: String) -> String {
        path.split(separator: "/", omittingEmptySubsequences: false)
            .map { $0.hasPrefix(":") ? "{\($0.dropFirst())}" : String($0) }.joined(separator: "/")
    }

    func documentedRoutes() throws -> Set<String> {
        let text = try String(contentsOf: Self.root.appendingPathComponent("docs/openapi.yaml"), encoding: .utf8)
        var out = Set<String>()
        var current: String?
        var inPaths = false
        for line in text.split(separator: "\n", omittingEmptySubsequences: false) {
            if line.hasPrefix("paths:") { inPaths = true; continue }
            guard inPaths else { continue }
            if line.hasPrefix("  /") { current = String(line.dropFirst(2).dropLast()); continue }
            let t = line.trimmingCharacters(in: .whitespaces)
            for m in ["get", "post", "put", "patch", "delete"] where line.hasPrefix("    \(m):") || t.hasPrefix("\(m): {") && line.hasPrefix("    ") {
                if let c = current { out.insert("\(m) \(c)") }
            }
        }
        return out
    }

    @Test func documentMatchesRoutes() throws {
        let code = try codeRoutes(), docs = try documentedRoutes()
        #expect(code.count > 25)
        #expect(code.subtracting(docs).isEmpty, "routes missing from docs/openapi.yaml: \(code.subtracting(docs).sorted())")
        #expect(docs.subtracting(code).isEmpty, "documented routes that do not exist: \(docs.subtracting(code).sorted())")
    }
}
