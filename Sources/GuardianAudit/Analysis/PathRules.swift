/// Path-based classification: tests, vendored and generated code.
enum PathRules {
    static func isTest(_ path: String) -> Bool {
        let lower = path.lowercased()
        let parts = lower.split(separator: "/")
        for dir in parts.dropLast() {
            switch dir {
            case "test", "tests", "__tests__", "spec", "specs", "testing", "testdata", "integrationtests", "e2e":
                return true
            default:
                if dir.hasSuffix("tests") || dir.hasSuffix("test") { return true }
            }
        }
        guard let name = parts.last else { return false }
        let stem = name.split(separator: ".").first.map(String.init) ?? String(name)
        if stem.hasPrefix("test_") || stem.hasSuffix("_test") || stem.hasSuffix("tests") || stem.hasSuffix("test")
            || stem.hasSuffix("spec") || String(name).has(".test.") || String(name).has(".spec.") || stem == "conftest" {
            return true
        }
        return false
    }

    /// Vendored or generated code is not measured (it is not the team's code).
    static func vendoredOrGenerated(_ path: String) -> String? {
        let lower = path.lowercased()
        for marker in ["node_modules/", "vendor/", "third_party/", "thirdparty/", "pods/", ".build/", "dist/",
                       "build/generated/", "carthage/"] where lower.hasPrefix(marker) || lower.has("/" + marker) {
            return "vendored (\(marker.dropLast()))"
        }
        for suffix in [".min.js", ".min.css", ".pb.swift", ".pb.go", "_pb2.py", ".pb.h", ".pb.cc", ".g.dart",
                       ".generated.swift", ".designer.cs"] where lower.hasSuffix(suffix) {
            return "generated (\(suffix))"
        }
        return nil
    }

    /// The module a source file belongs to (Sources/X, src/X, lib/X, pkg/X, packages/X …), or its file stem.
    static func module(of path: String) -> String {
        let parts = path.split(separator: "/").map(String.init)
        let roots: Set<String> = ["sources", "source", "src", "lib", "pkg", "packages", "internal", "cmd", "app", "apps", "crates"]
        for (i, p) in parts.enumerated() where roots.contains(p.lowercased()) && i + 2 < parts.count {
            return parts[i + 1]
        }
        if parts.count >= 2 { return parts[parts.count - 2] == "src" ? stem(parts.last!) : parts[0] }
        return stem(parts.last ?? path)
    }

    static func stem(_ name: String) -> String {
        let base = name.split(separator: "/").last.map(String.init) ?? name
        return base.split(separator: ".").first.map(String.init) ?? base
    }

    /// A normalised key for matching tests to modules: lower-case, without test words and separators.
    static func matchKey(_ s: String) -> String {
        var k = s.lowercased()
        for w in ["tests", "test", "spec"] where k.has(w) { k = k.replacingOccurrences(of: w, with: "") }
        return String(k.filter { $0 != "_" && $0 != "-" && $0 != "." })
    }
}

import Foundation

extension String {
    /// Substring test on UTF-8 bytes; avoids Foundation's slower `contains` in hot paths.
    func has(_ needle: String) -> Bool {
        var hay = self
        var ndl = needle
        return hay.withUTF8 { h in
            ndl.withUTF8 { n in
                guard n.count <= h.count, let first = n.first else { return n.isEmpty }
                var i = 0
                let last = h.count - n.count
                while i <= last {
                    if h[i] == first {
                        var j = 1
                        while j < n.count && h[i + j] == n[j] { j += 1 }
                        if j == n.count { return true }
                    }
                    i += 1
                }
                return false
            }
        }
    }
}
