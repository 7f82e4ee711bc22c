import Foundation
import GuardianCore
import GuardianMesh
import Testing
@testable import GuardianAudit

/// Seeded random input for every language: the analyzer must never trap, hang or report a finding
/// outside the file. A failure prints its seed and language so it replays exactly.
@Suite struct AnalyzerFuzzTests {
    static let fragments: [String] = [
        "\"", "'", "`", "\"\"\"", "'''", "#", "##", "#\"", "\"#", "/*", "*/", "//", "\\", "\\(", "${", "{", "}", "(", ")",
        "[", "]", "<", ">", "\n", "\r\n", "\t", " ", "if", "for", "while", "case", "func", "fn", "def", "function", "fun",
        "init", "get", "set", "deinit", "protocol", "class", "public", "pub", "export", "&&", "||", "?", ":", ";", ",",
        "=", "->", "=>", "r#\"", "R\"x(", ")x\"", "@\"", "TODO", "FIXME", "AKIA", "try!", "eval(", "x", "y1", "0x1e+5",
        "'a", "仮実装", "\u{0}", "\u{FF}", ".", "!", "$", "@", "subscript", "willSet", "#if", "#endif", "pass", "raise",
    ]

    static let languages = ["a.swift", "a.py", "a.js", "a.ts", "a.go", "a.rs", "A.java", "a.kt", "a.c", "a.cpp", "a.cs",
                            "a.sh", "a.yml", ".github/workflows/x.yml", "Dockerfile", "a.md", "lcov.info", "a.env"]

    @Test(arguments: languages)
    func randomInputNeverTraps(path: String) {
        for seed in UInt64(1)...UInt64(500) {
            var rng = SplitMix64(seed: seed &* 7919 &+ UInt64(path.utf8.count))
            var bytes: [UInt8] = []
            let pieces = Int.random(in: 0...400, using: &rng)
            for _ in 0..<pieces {
                if Int.random(in: 0..<10, using: &rng) == 0 {
                    bytes.append(UInt8.random(in: 0...255, using: &rng))
                } else {
                    bytes += Array(Self.fragments.randomElement(using: &rng)!.utf8)
                }
            }
            let facts = bytes.withUnsafeBufferPointer {
                FileAnalyzer.analyze(path: path, buffer: $0, isTest: seed % 5 == 0, limits: AnalysisLimits())
            }
            let lines = Int32(bytes.filter { $0 == 10 }.count + 1)
            for f in facts.findings {
                #expect(f.line >= 1 && f.line <= lines, "seed \(seed) \(path): finding at line \(f.line) of \(lines)")
            }
            for fn in facts.functions {
                #expect(fn.startLine >= 1 && fn.endLine >= fn.startLine && fn.ccn >= 1, "seed \(seed) \(path): \(fn)")
            }
        }
    }
}
