/// Path-based classification: tests, vendored and generated code.
enum PathRules {
    static let testDirs: Set<[UInt8]> = Set(["test", "tests", "__tests__", "spec", "specs", "testing", "testdata",
                                               "integrationtests", "e2e"].map { Array($0.utf8) })

    /// Test code by path: test folders (tests/, __tests__/, *Tests/), and names like test_x.py, x_test.go,
    /// XTests.swift, x.test.ts, x.spec.js. Works on bytes: it runs for every file of every audit.
    static func isTest(_ path: String) -> Bool {
        var bytes = Array(path.utf8)
        for i in bytes.indices where bytes[i] >= 65 && bytes[i] <= 90 { bytes[i] |= 0x20 }
        var start = 0
        let n = bytes.count
        for i in 0...n where i == n || bytes[i] == 47 {
            let comp = bytes[start..<i]
            if i < n {
                if testDirs.contains(Array(comp)) || comp.hasSuffix("tests") || comp.hasSuffix("test") { return true }
            } else {
                let dot = comp.firstIndex(of: 46) ?? i
                let stem = bytes[start..<dot]
                if stem.hasPrefix("test_") || stem.hasSuffix("_test") || stem.hasSuffix("tests") || stem.hasSuffix("test")
                    || stem.hasSuffix("spec") || Array(stem) == Array("conftest".utf8) {
                    return true
                }
                if comp.containsRun(".test.") || comp.containsRun(".spec.") { return true }
            }
            start = i + 1
        }
        return false
    }

    static let sampleDirs = words(["fixtures", "fixture", "testdata", "test-data", "test_data", "examples", "example",
                                   "samples", "sample", "demo", "demos", "docs", "doc", "documentation", "certs",
                                   "testing", "mocks", "snapshots", "__snapshots__"])

    /// Fixtures, examples, samples, demos and docs (and SwiftPM targets named `…Example(s)`,
    /// `…Demo`, `…Development`): secrets there are samples, not leaks.
    static func isSampleOrExample(_ path: String) -> Bool { isSampleOrExample(LowerPath(path)) }

    static func isSampleOrExample(_ p: LowerPath) -> Bool {
        p.directories.contains { r in
            let c = p.lower[r]
            return oneOf(sampleDirs, c) || c.hasSuffix("example") || c.hasSuffix("examples") || c.hasSuffix("demo") || c.hasSuffix("development")
        }
    }

    static let toolDirs = words(["benchmarks", "benchmark", "benches", "scripts", "script", "tools", "tool", "plugins",
                                 "snippets", "bin", "utils", "dev", "contrib", "ci", "playground", "playgrounds"])
    static let manifests = words(["package.swift", "setup.py", "conftest.py", "noxfile.py", "fabfile.py", "manage.py",
                                  "__main__.py", "build.gradle", "build.gradle.kts", "gulpfile.js", "webpack.config.js",
                                  "rollup.config.js", "vite.config.ts", "jest.config.js", "babel.config.js"])

    /// A build manifest (`Package.swift`, `Package@swift-5.9.swift`, `setup.py` …).
    static func isManifest(_ path: String) -> Bool { isManifest(LowerPath(path)) }

    static func isManifest(_ p: LowerPath) -> Bool {
        let name = p.name
        return oneOf(manifests, name) || name.hasPrefix("package@swift")
    }

    /// Code that is no library's API: examples, samples, docs, benchmarks, scripts, tools, plugins
    /// and build manifests. Its public declarations need no documentation comments.
    static func isOutsideAPI(_ path: String) -> Bool { isOutsideAPI(LowerPath(path)) }

    static func isOutsideAPI(_ p: LowerPath) -> Bool {
        if isSampleOrExample(p) { return true }
        guard !p.components.isEmpty else { return false }
        if isManifest(p) { return true }
        return p.directories.contains { r in
            let c = p.lower[r]
            return oneOf(toolDirs, c) || c.hasSuffix("benchmarks") || c.hasSuffix("plugin")
        }
    }

    static let vendorMarkers = words(["node_modules/", "vendor/", "third_party/", "thirdparty/", "pods/", ".build/", "dist/",
                                      "build/generated/", "carthage/"])
    static let generatedSuffixes = words([".min.js", ".min.css", ".pb.swift", ".pb.go", "_pb2.py", ".pb.h", ".pb.cc", ".g.dart",
                                          ".generated.swift", ".designer.cs"])

    /// Vendored or generated code is not measured (it is not the team's code).
    static func vendoredOrGenerated(_ path: String) -> String? {
        let lower = LowerPath(path).lower[...]
        for marker in vendorMarkers where lower.starts(with: marker) || lower.containsRun([47] + marker) {
            return "vendored (\(String(decoding: marker.dropLast(), as: UTF8.self)))"
        }
        for suffix in generatedSuffixes where lower.hasSuffix(suffix) {
            return "generated (\(String(decoding: suffix, as: UTF8.self)))"
        }
        return nil
    }

    static func words(_ list: [String]) -> [[UInt8]] { list.map { Array($0.utf8) } }

    /// Whether `s` is one of `list` (short lists: compared by length first).
    static func oneOf(_ list: [[UInt8]], _ s: ArraySlice<UInt8>) -> Bool {
        list.contains { $0.count == s.count && $0.elementsEqual(s) }
    }

    /// The module a source file belongs to (Sources/X, src/X, lib/X, pkg/X, packages/X …), or its file stem.
    static let moduleRoots = words(["sources", "source", "src", "lib", "pkg", "packages", "internal", "cmd", "app", "apps", "crates"])

    static func module(of path: String) -> String {
        let p = LowerPath(path)
        let parts = p.components
        for i in parts.indices where i + 2 < parts.count && oneOf(moduleRoots, p.lower[parts[i]]) {
            return p.text(parts[i + 1])
        }
        if parts.count >= 2 { return p.original[parts[parts.count - 2]].elementsEqual("src".utf8) ? stem(p.text(parts[parts.count - 1])) : p.text(parts[0]) }
        return stem(parts.last.map(p.text) ?? path)
    }

    static func stem(_ name: String) -> String {
        let base = name.split(separator: "/").last.map(String.init) ?? name
        return base.split(separator: ".").first.map(String.init) ?? base
    }

    /// A normalised key for matching tests to modules: lower-case, without test words and separators.
    static func matchKey(_ s: String) -> String {
        var bytes = Array(s.utf8)
        for i in bytes.indices where bytes[i] >= 65 && bytes[i] <= 90 { bytes[i] |= 0x20 }
        var out: [UInt8] = []
        out.reserveCapacity(bytes.count)
        var i = 0
        while i < bytes.count {
            let rest = bytes[i...]
            if rest.hasPrefix("tests") { i += 5; continue }
            if rest.hasPrefix("test") || rest.hasPrefix("spec") { i += 4; continue }
            let b = bytes[i]
            if b != 95 && b != 45 && b != 46 { out.append(b) }
            i += 1
        }
        return String(decoding: out, as: UTF8.self)
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

/// A path's bytes, as given and in ASCII lower case, with its components (the non-empty runs
/// between slashes): split once, then asked many questions. Matching is ASCII case-insensitive.
struct LowerPath {
    let original: [UInt8]
    let lower: [UInt8]
    let components: [Range<Int>]

    init(_ path: String) {
        original = Array(path.utf8)
        var low = original
        for i in low.indices where low[i] >= 65 && low[i] <= 90 { low[i] |= 0x20 }
        lower = low
        components = Self.components(original)
    }

    /// The non-empty runs between slashes.
    static func components(_ bytes: [UInt8]) -> [Range<Int>] {
        var comps: [Range<Int>] = []
        var start = 0
        for i in 0...bytes.count where i == bytes.count || bytes[i] == 47 {
            if i > start { comps.append(start..<i) }
            start = i + 1
        }
        return comps
    }

    /// Every component but the last (the folders a file is in).
    var directories: ArraySlice<Range<Int>> { components.dropLast() }
    /// The last component, in lower case (empty for an empty path).
    var name: ArraySlice<UInt8> { components.last.map { lower[$0] } ?? [] }
    func text(_ r: Range<Int>) -> String { String(decoding: original[r], as: UTF8.self) }
}

extension ArraySlice where Element == UInt8 {
    func hasSuffix(_ s: [UInt8]) -> Bool { count >= s.count && self[(endIndex - s.count)...].elementsEqual(s) }
    func containsRun(_ s: [UInt8]) -> Bool {
        guard count >= s.count, let first = s.first else { return s.isEmpty }
        var i = startIndex
        while i + s.count <= endIndex {
            if self[i] == first && self[i..<(i + s.count)].elementsEqual(s) { return true }
            i += 1
        }
        return false
    }

    func hasSuffix(_ s: StaticString) -> Bool {
        let n = s.utf8CodeUnitCount
        guard count >= n else { return false }
        let p = s.utf8Start
        var j = endIndex - n
        for k in 0..<n { if self[j] != p[k] { return false }; j += 1 }
        return true
    }
    func hasPrefix(_ s: StaticString) -> Bool {
        let n = s.utf8CodeUnitCount
        guard count >= n else { return false }
        let p = s.utf8Start
        for k in 0..<n where self[startIndex + k] != p[k] { return false }
        return true
    }
    func containsRun(_ s: StaticString) -> Bool {
        let n = s.utf8CodeUnitCount
        guard count >= n else { return false }
        let p = s.utf8Start
        var i = startIndex
        while i + n <= endIndex {
            var k = 0
            while k < n && self[i + k] == p[k] { k += 1 }
            if k == n { return true }
            i += 1
        }
        return false
    }
}
