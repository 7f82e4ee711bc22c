import Foundation
import GuardianCore
import GuardianTestKit
import Testing
@testable import GuardianAudit

/// The controls a team has in its repository: `.guardian.yml` (exclude, vendored, rules,
/// thresholds), `.gitattributes` linguist markers, and `guardian:ignore` comments.
@Suite struct RepositoryControlsTests {
    static func audit(_ repo: FixtureRepo) throws -> AuditReport {
        var o = AuditOptions(target: repo.path)
        o.cacheDirectory = nil
        return try Auditor.run(o)
    }

    @Test func globsMatchLikeGitignore() {
        let cases: [(String, String, Bool)] = [
            ("*.pb.swift", "Sources/App/Model.pb.swift", true), ("*.pb.swift", "Sources/App/Model.swift", false),
            ("vendor/", "vendor/lib/a.c", true), ("vendor/", "src/vendor/a.c", true), ("vendor/", "vendor", false),
            ("Sources/CZlib/", "Sources/CZlib/crc.c", true), ("Sources/CZlib/", "Other/Sources/CZlib/a.c", false),
            ("/docs/*.md", "docs/a.md", true), ("/docs/*.md", "x/docs/a.md", false),
            ("gen/**", "gen/a/b/c.go", true), ("**/fixtures/**", "Tests/X/fixtures/k.pem", true), ("**/fixtures/**", "fixtures2/k", false),
            ("a?c.py", "abc.py", true), ("a?c.py", "abbc.py", false), ("third_party", "third_party/x/y.h", true),
        ]
        for (pattern, path, expected) in cases {
            #expect(Glob(pattern).matches(path) == expected, "\(pattern) ~ \(path)")
        }
    }

    @Test func aConfigurationIsParsedOrRefusedWithItsLine() throws {
        let good = try RepositoryConfig.parse("""
            exclude: ["gen/**"]
            vendored: [Sources/CZlib/]
            rules:
              strict/parameter-count: off
              integrity/placeholder-marker: info
            thresholds:
              max_cyclomatic: 15
              min_test_ratio: 0.2
            """)
        #expect(good.isExcluded("gen/x/y.go") && !good.isExcluded("src/y.go"))
        #expect(good.vendoredPattern("Sources/CZlib/a.c")?.pattern == "Sources/CZlib/")
        #expect(good.rules["strict/parameter-count"] == .off && good.rules["integrity/placeholder-marker"] == .severity(.info))
        let t = good.apply(to: Thresholds.forStrictness(0.8))
        #expect(t.maxCyclomatic == 15 && t.minTestRatio == 0.2)
        #expect(try RepositoryConfig.parse("") == RepositoryConfig())

        for (text, line, words) in [
            ("exclude: [a]\nrulez: {}\n", 2, "unknown key 'rulez'"),
            ("rules:\n  strict/no-such-rule: off\n", 2, "unknown rule 'strict/no-such-rule'"),
            ("rules:\n  strict/parameter-count: loud\n", 2, "is not off, info, low, medium, high or critical"),
            ("thresholds:\n  max_cyclomatik: 3\n", 2, "unknown threshold 'max_cyclomatik'"),
            ("thresholds:\n  min_coverage: 80\n", 2, "is a share"),
            ("exclude: notalist\n", 1, "must be a list"),
        ] {
            do {
                _ = try RepositoryConfig.parse(text)
                Issue.record("accepted: \(text)")
            } catch let e as GuardianError {
                #expect(e.description.hasPrefix(".guardian.yml:\(line): ") && e.description.contains(words), "\(e)")
            }
        }
        #expect(throws: GuardianError.self) { try RepositoryConfig.parse("exclude: [unclosed\n") }
    }

    @Test func excludeVendoredRulesAndThresholdsApplyToTheAudit() throws {
        let repo = try FixtureRepo()
        try repo.write("app/main.py", "import os\n\n\ndef run(c):\n    \"\"\"Run.\"\"\"\n    # TODO: check c\n    os.system(c)\n")
        try repo.write("gen/out.py", "def g(c):\n    \"\"\"G.\"\"\"\n    return eval(c)  # FIXME\n")
        try repo.write("Sources/CZlib/crc.c", "int f(int a) { /* XXX */ return a; }\n")
        try repo.write("third/lib.py", "def h(c):\n    \"\"\"H.\"\"\"\n    return eval(c)\n")
        try repo.write(".gitattributes", "third/** linguist-vendored\n*.md linguist-documentation\n")
        try repo.write("README.md", "# Demo\n")
        try repo.commit("feat: demo")
        let before = try Self.audit(repo)
        #expect(before.allViolations.contains { $0.file == "gen/out.py" })
        #expect(before.allViolations.contains { $0.file == "Sources/CZlib/crc.c" })
        #expect(before.allViolations.contains { $0.ruleId == "integrity/placeholder-marker" && $0.file == "app/main.py" })

        try repo.write(".guardian.yml", """
            exclude: ["gen/**"]
            vendored: [Sources/CZlib/]
            rules:
              integrity/placeholder-marker: off
              strict/dangerous-call: info
            """)
        try repo.commit("chore: configure guardian")
        let after = try Self.audit(repo)
        #expect(!after.allViolations.contains { $0.file == "gen/out.py" || $0.file == "Sources/CZlib/crc.c" || $0.file == "third/lib.py" })
        let skipped = Dictionary(uniqueKeysWithValues: after.skippedFiles.map { ($0.path, $0.reason) })
        #expect(skipped["gen/out.py"] == "excluded (.guardian.yml)")
        #expect(skipped["Sources/CZlib/crc.c"] == "vendored (.guardian.yml: Sources/CZlib/)")
        #expect(skipped["third/lib.py"] == "vendored (.gitattributes: third/**)")
        #expect(!after.allViolations.contains { $0.ruleId == "integrity/placeholder-marker" })
        let dangerous = try #require(after.allViolations.first { $0.ruleId == "strict/dangerous-call" && $0.file == "app/main.py" })
        #expect(dangerous.severity == .info)

        // a bad configuration stops the audit with its line
        try repo.write(".guardian.yml", "rules:\n  strict/dangerous-call: sometimes\n")
        try repo.commit("chore: break the config")
        #expect { try Self.audit(repo) } throws: { ($0 as? GuardianError)?.description.hasPrefix(".guardian.yml:2:") == true }
    }

    /// The comment syntaxes of every supported language: the marker on the line above the finding,
    /// or on the same line; a reason after `--`.
    static let commented: [(path: String, above: String, todo: String)] = [
        ("Sources/App/A.swift", "// guardian:ignore integrity/placeholder-marker -- tracked in #12", "// 仮実装 later"),
        ("app/a.py", "# guardian:ignore integrity/placeholder-marker -- tracked in #12", "# 仮実装 later"),
        ("web/a.js", "/* guardian:ignore integrity/placeholder-marker -- tracked in #12 */", "// 仮実装 later"),
        ("web/a.ts", "// guardian:ignore integrity/placeholder-marker -- tracked in #12", "// 仮実装 later"),
        ("pkg/a/a.go", "// guardian:ignore integrity/placeholder-marker -- tracked in #12", "// 仮実装 later"),
        ("crates/a/src/a.rs", "// guardian:ignore integrity/placeholder-marker -- tracked in #12", "// 仮実装 later"),
        ("src/main/java/A.java", "// guardian:ignore integrity/placeholder-marker -- tracked in #12", "// 仮実装 later"),
        ("src/main/kotlin/A.kt", "// guardian:ignore integrity/placeholder-marker -- tracked in #12", "// 仮実装 later"),
        ("lib/a.c", "/* guardian:ignore integrity/placeholder-marker -- tracked in #12 */", "/* 仮実装 later */"),
        ("lib/a.cpp", "// guardian:ignore integrity/placeholder-marker -- tracked in #12", "// 仮実装 later"),
        ("src/A.cs", "// guardian:ignore integrity/placeholder-marker -- tracked in #12", "// 仮実装 later"),
    ]

    /// The marker is found in any case, at the very start and the very end of a file, and not
    /// when a file only comes close (`memchr` finds the colons; the bytes around them decide).
    @Test func ignoreMarkerAnywhereInAFile() {
        func suppressions(_ text: String) -> [InlineSuppression] {
            Array(text.utf8).withUnsafeBufferPointer {
                FileAnalyzer.analyze(path: "notes.txt", buffer: $0, isTest: false, limits: AnalysisLimits()).suppressions
            }
        }
        #expect(suppressions("guardian:ignore a/b").map(\.rules) == [["a/b"]])
        #expect(suppressions("x: 1\ny:: 2\n# GUARDIAN:Ignore a/b").map(\.line) == [3])
        #expect(suppressions("# guardian:ignore").map(\.rules) == [[]])
        func holds(_ text: String) -> Bool {
            Array(text.utf8).withUnsafeBufferPointer {
                FileAnalyzer(path: "notes.txt", buffer: $0, isTest: false, limits: AnalysisLimits()).holdsIgnoreMarker()
            }
        }
        #expect(holds("guardian:ignore") && holds("x\nGuardian:IGNORE") && holds("::guardian:ignore::"))
        for near in ["guardian:ignor", "uardian:ignore", "guardian;ignore", "guardian: ignore", ":::::::::::::::::::", "",
                     "guardian:ignor:guardian:ignor"] {
            #expect(!holds(near), "\(near)")
            #expect(suppressions(near).isEmpty, "\(near)")
        }
    }

    @Test func inlineSuppressionsInEveryLanguage() throws {
        let repo = try FixtureRepo()
        for c in Self.commented {
            // line 1: a counted 仮実装 marker (the control); lines 3-4: the suppressed one; line 6: same-line form
            try repo.write(c.path, "\(c.todo)\n\n\(c.above)\n\(c.todo)\n\n\(c.todo) guardian:ignore integrity/placeholder-marker\n")
        }
        try repo.write("app/other.py", "# guardian:ignore strict/dangerous-call -- another rule\n# 仮実装 counted\n# guardian:ignore integrity/placehlder-marker\n# 仮実装 typo, counted\n")
        try repo.commit("feat: markers")
        let r = try Self.audit(repo)
        for c in Self.commented {
            let markers = r.allViolations.filter { $0.ruleId == "integrity/placeholder-marker" && $0.file == c.path }
            let byLine = Dictionary(uniqueKeysWithValues: markers.map { ($0.line ?? 0, $0) })
            #expect(byLine[1]?.suppression == nil, "\(c.path): the control marker must count")
            #expect(byLine[4]?.suppression == Suppression(kind: .inSource, justification: "tracked in #12"), "\(c.path): \(markers)")
            #expect(byLine[6]?.suppression?.kind == .inSource, "\(c.path): same-line form")
        }
        let other = r.allViolations.filter { $0.file == "app/other.py" && $0.ruleId == "integrity/placeholder-marker" }
        #expect(other.count == 2 && other.allSatisfy { $0.suppression == nil }, "another rule's or a misspelt suppression covers nothing: \(other)")
        let integrity = try #require(r.result(.integrity))
        #expect(integrity.suppressed == Self.commented.count * 2)
        #expect(integrity.counts["high", default: 0] == Self.commented.count + 2)

        // the same repository without the suppressions scores lower: suppressed findings count toward nothing
        let plain = try FixtureRepo()
        for c in Self.commented { try plain.write(c.path, "\(c.todo)\n\n\n\(c.todo)\n\n\(c.todo)\n") }
        try plain.write("app/other.py", "\n# 仮実装 counted\n\n# 仮実装 typo, counted\n")
        try plain.commit("feat: markers")
        let unsuppressed = try Self.audit(plain)
        #expect(try #require(unsuppressed.result(.integrity)).penalty > integrity.penalty)

        // SARIF carries the suppressions; the text report counts them
        let sarif = try #require(try JSONSerialization.jsonObject(with: try ReportRenderer.sarif(r)) as? [String: Any])
        let results = try #require(((sarif["runs"] as? [[String: Any]])?.first?["results"]) as? [[String: Any]])
        let suppressed = results.filter { $0["suppressions"] != nil }
        #expect(suppressed.count == Self.commented.count * 2)
        let first = try #require((suppressed.first?["suppressions"] as? [[String: Any]])?.first)
        #expect(first["kind"] as? String == "inSource")
        #expect(ReportRenderer.text(r).contains("\(Self.commented.count * 2) findings suppressed"))
    }

    /// Dismissals (the agent's, by fingerprint) suppress as `external`; an inline suppression wins.
    @Test func dismissalsSuppressByFingerprint() throws {
        let repo = try FixtureRepo()
        try repo.write("app/a.py", "import os\n\n\ndef run(c):\n    \"\"\"Run.\"\"\"\n    os.system(c)\n    return eval(c)\n")
        try repo.commit("feat: a")
        let plain = try Self.audit(repo)
        let calls = plain.allViolations.filter { $0.ruleId == "strict/dangerous-call" }
        #expect(calls.count == 2)
        var o = AuditOptions(target: repo.path)
        o.cacheDirectory = nil
        o.dismissals = [calls[0].fingerprint: Suppression(kind: .external, justification: "false_positive: a constant")]
        let r = try Auditor.run(o)
        let after = r.allViolations.filter { $0.ruleId == "strict/dangerous-call" }
        #expect(after.first { $0.fingerprint == calls[0].fingerprint }?.suppression == Suppression(kind: .external, justification: "false_positive: a constant"))
        #expect(after.first { $0.fingerprint == calls[1].fingerprint }?.suppression == nil)
        #expect(r.result(.strict)?.suppressed == 1)
        let sarif = String(decoding: try ReportRenderer.sarif(r), as: UTF8.self)
        #expect(sarif.contains("\"kind\" : \"external\""))
    }
}

/// git's `url.<base>.insteadOf`, as Guardian applies it before every fetch.
@Suite struct InsteadOfTests {
    @Test func theLongestMatchingPrefixWins() {
        let rules = [InsteadOf(base: "/srv/mirrors/", prefix: "https://github.com/"),
                     InsteadOf(base: "/srv/nio.git", prefix: "https://github.com/apple/swift-nio.git"),
                     InsteadOf(base: "/ignored/", prefix: "")]
        #expect(InsteadOf.rewrite("https://github.com/apple/swift-nio.git", rules) == "/srv/nio.git")
        #expect(InsteadOf.rewrite("https://github.com/apple/swift-log.git", rules) == "/srv/mirrors/apple/swift-log.git")
        #expect(InsteadOf.rewrite("https://gitlab.com/a/b.git", rules) == "https://gitlab.com/a/b.git")
        // equally long prefixes: the first rule read
        let tie = [InsteadOf(base: "/a/", prefix: "https://h/"), InsteadOf(base: "/b/", prefix: "https://h/")]
        #expect(InsteadOf.rewrite("https://h/x.git", tie) == "/a/x.git")
    }
}
