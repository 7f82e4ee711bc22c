import Foundation
import GuardianCore
import GuardianTestKit
import Testing
@testable import GuardianAudit

/// Audits run against real git repositories built by the fixtures.
@Suite struct PlantedAuditTests {
    static func audit(_ repo: FixtureRepo, _ configure: (inout AuditOptions) -> Void = { _ in }) throws -> AuditReport {
        var o = AuditOptions(target: repo.path)
        o.cacheDirectory = nil
        configure(&o)
        return try Auditor.run(o)
    }

    func has(_ r: AuditReport, _ rule: String, _ file: String, line: Int) -> Bool {
        r.allViolations.contains { $0.ruleId == rule && $0.file == file && $0.line == line }
    }

    func expectFinding(_ r: AuditReport, _ rule: String, _ file: String, _ needle: String, _ text: String,
                       sourceLocation: SourceLocation = #_sourceLocation) {
        let line = Planted.line(needle, in: text)
        #expect(has(r, rule, file, line: line),
                "expected \(rule) at \(file):\(line); found \(r.allViolations.filter { $0.file == file }.map { "\($0.ruleId)@\($0.line ?? 0)" })",
                sourceLocation: sourceLocation)
    }

    @Test func plantedFindingsInEveryLanguage() throws {
        let repo = try Planted.make()
        let r = try Self.audit(repo)
        // Swift
        expectFinding(r, "integrity/placeholder-marker", "Sources/App/Planted.swift", "TODO: remove", Planted.swift)
        expectFinding(r, "strict/dangerous-call", "Sources/App/Planted.swift", "try! Data", Planted.swift)
        expectFinding(r, "integrity/stub-body", "Sources/App/Planted.swift", "fatalError(\"not implemented\")", Planted.swift)
        expectFinding(r, "integrity/constant-return", "Sources/App/Planted.swift", "return true", Planted.swift)
        // a TODO inside a string is not a marker
        #expect(!has(r, "integrity/placeholder-marker", "Sources/App/Planted.swift",
                     line: Planted.line("TODO inside a string", in: Planted.swift)))
        // Python
        expectFinding(r, "strict/dangerous-call", "app/planted.py", "os.system", Planted.python)
        expectFinding(r, "strict/dangerous-call", "app/planted.py", "shell=True", Planted.python)
        expectFinding(r, "integrity/placeholder-marker", "app/planted.py", "FIXME", Planted.python)
        expectFinding(r, "integrity/stub-body", "app/planted.py", "raise NotImplementedError", Planted.python)
        expectFinding(r, "sages/undocumented-public-api", "app/planted.py", "def compute_total", Planted.python)
        #expect(!has(r, "integrity/placeholder-marker", "app/planted.py", line: Planted.line("TODO in a string", in: Planted.python)))
        // JavaScript / TypeScript
        expectFinding(r, "integrity/placeholder-marker", "web/planted.js", "HACK", Planted.javascript)
        expectFinding(r, "strict/dangerous-call", "web/planted.js", "eval(code)", Planted.javascript)
        #expect(!r.allViolations.contains { $0.file == "web/planted.js" && $0.message.contains("FIXME") })
        expectFinding(r, "integrity/stub-body", "web/planted.ts", "not implemented", Planted.typescript)
        expectFinding(r, "sages/undocumented-public-api", "web/planted.ts", "export function classify", Planted.typescript)
        // Go
        expectFinding(r, "strict/dangerous-call", "pkg/planted/planted.go", "exec.Command", Planted.go)
        expectFinding(r, "integrity/placeholder-marker", "pkg/planted/planted.go", "XXX", Planted.go)
        expectFinding(r, "integrity/stub-body", "pkg/planted/planted.go", "panic(\"not implemented\")", Planted.go)
        expectFinding(r, "sages/undocumented-public-api", "pkg/planted/planted.go", "func Run", Planted.go)
        #expect(!has(r, "sages/undocumented-public-api", "pkg/planted/planted.go", line: Planted.line("func Classify", in: Planted.go)))
        // Rust
        expectFinding(r, "integrity/stub-body", "crates/core/src/planted.rs", "todo!()", Planted.rust)
        expectFinding(r, "integrity/placeholder-marker", "crates/core/src/planted.rs", "TODO: lifetimes", Planted.rust)
        expectFinding(r, "sages/undocumented-public-api", "crates/core/src/planted.rs", "pub fn parse", Planted.rust)
        // Java / Kotlin
        expectFinding(r, "integrity/stub-body", "src/main/java/app/Planted.java", "UnsupportedOperationException", Planted.java)
        expectFinding(r, "strict/dangerous-call", "src/main/java/app/Planted.java", "getRuntime", Planted.java)
        expectFinding(r, "integrity/stub-body", "src/main/kotlin/Planted.kt", "TODO(\"parse\")", Planted.kotlin)
        // C / C++
        expectFinding(r, "strict/dangerous-call", "native/planted.c", "strcpy", Planted.c)
        expectFinding(r, "integrity/placeholder-marker", "native/planted.c", "TODO bounds", Planted.c)
        // configuration and automation
        expectFinding(r, "servant/unpinned-action", ".github/workflows/ci.yml", "docker/login-action@v3", Planted.workflow)
        // GitHub's own actions are trusted like the runner (as Semgrep's rule draws the line)
        #expect(!has(r, "servant/unpinned-action", ".github/workflows/ci.yml", line: Planted.line("actions/checkout@v4", in: Planted.workflow)))
        #expect(!has(r, "servant/unpinned-action", ".github/workflows/ci.yml", line: Planted.line("setup-node", in: Planted.workflow)))
        expectFinding(r, "servant/curl-pipe-shell", ".github/workflows/ci.yml", "curl -sSL", Planted.workflow)
        #expect(has(r, "servant/broad-permissions", ".github/workflows/ci.yml", line: 1))
        expectFinding(r, "servant/unpinned-base-image", "Dockerfile", "node:latest", Planted.dockerfile)
        expectFinding(r, "servant/unpinned-base-image", "Dockerfile", "FROM python", Planted.dockerfile)
        #expect(!has(r, "servant/unpinned-base-image", "Dockerfile", line: 3))
        expectFinding(r, "strict/hardcoded-secret", "config/app.yml", "AKIAIOSFODNN7ABCDEFG", Planted.config)
        #expect(!has(r, "strict/hardcoded-secret", "config/app.yml", line: Planted.line("EXAMPLE", in: Planted.config)))
        #expect(r.allViolations.contains { $0.ruleId == "servant/missing-lockfile" && $0.file == "package.json" })
        // tests
        expectFinding(r, "tdd/test-without-assertion", "Tests/AppTests/PlantedTests.swift", "func testNothing", Planted.swiftTests)
        #expect(!has(r, "tdd/test-without-assertion", "Tests/AppTests/PlantedTests.swift",
                     line: Planted.line("func testClassify", in: Planted.swiftTests)))
        expectFinding(r, "tdd/skipped-test", "Tests/AppTests/PlantedTests.swift", "XCTSkip", Planted.swiftTests)
        #expect(!r.allViolations.contains { $0.ruleId == "integrity/placeholder-marker" && $0.file == "Tests/AppTests/PlantedTests.swift" })
        // history
        #expect(r.allViolations.contains { $0.ruleId == "git/wip-commit" && $0.message.contains("WIP") })
        #expect(r.allViolations.contains { $0.ruleId == "git/long-subject" })
        #expect(r.allViolations.contains { $0.ruleId == "git/non-conventional-commits" })
        // the clean file stays clean
        #expect(r.allViolations.filter { $0.file == "Sources/App/Clean.swift" }.isEmpty)
        // every check ran and scored
        for check in Check.allCases {
            let c = try #require(r.result(check))
            #expect((0...100).contains(c.score))
        }
        #expect(r.statistics.commits == 6)
        #expect(r.subject.isGitRepository)
    }

    @Test func complexityPerLanguage() throws {
        let repo = try Planted.make()
        var o = AuditOptions(target: repo.path)
        o.cacheDirectory = nil
        let fns = try Auditor.functions(o)
        func ccn(_ file: String, _ name: String) -> Int? { fns.first { $0.file == file && $0.name == name }?.ccn }
        #expect(ccn("Sources/App/Planted.swift", "classify") == 5)   // if && for ?:
        #expect(ccn("app/planted.py", "classify") == 5)              // if and elif for
        #expect(ccn("web/planted.js", "classify") == 4)              // if && ?:
        #expect(ccn("web/planted.ts", "classify") == 3)              // case case
        #expect(ccn("pkg/planted/planted.go", "Classify") == 4)      // if || for
        #expect(ccn("crates/core/src/planted.rs", "classify") == 4)  // if && while
        #expect(ccn("src/main/java/app/Planted.java", "classify") == 4) // if && catch
        #expect(ccn("src/main/kotlin/Planted.kt", "classify") == 4)  // if && when
        #expect(ccn("native/planted.c", "classify") == 5)            // if && while ?:
        #expect(ccn("native/planted.cpp", "classify") == 4)          // for if ||
        let py = try #require(fns.first { $0.file == "app/planted.py" && $0.name == "classify" })
        #expect(py.line == Planted.line("def classify", in: Planted.python))
        #expect(py.params == 1)
        let sw = try #require(fns.first { $0.file == "Sources/App/Planted.swift" && $0.name == "classify" })
        #expect(sw.line == Planted.line("func classify", in: Planted.swift))
        #expect(sw.end == Planted.line("return x > 0", in: Planted.swift) + 1)
    }

    @Test func reportsAreDeterministic() throws {
        let repo = try Planted.make()
        let a = try ReportRenderer.json(Self.audit(repo) { $0.reproducible = true; $0.jobs = 1 })
        let b = try ReportRenderer.json(Self.audit(repo) { $0.reproducible = true; $0.jobs = 4 })
        #expect(a == b)
        let s1 = try ReportRenderer.sarif(Self.audit(repo) { $0.reproducible = true })
        let s2 = try ReportRenderer.sarif(Self.audit(repo) { $0.reproducible = true })
        #expect(s1 == s2)
    }

    @Test func sarifStructure() throws {
        let repo = try Planted.make()
        let data = try ReportRenderer.sarif(Self.audit(repo))
        let root = try #require(try JSONSerialization.jsonObject(with: data) as? [String: Any])
        #expect(root["version"] as? String == "2.1.0")
        let run = try #require((root["runs"] as? [[String: Any]])?.first)
        let driver = try #require((run["tool"] as? [String: Any])?["driver"] as? [String: Any])
        let rules = try #require(driver["rules"] as? [[String: Any]])
        #expect(rules.count == RuleCatalog.all.count)
        #expect(rules.allSatisfy { ($0["help"] as? [String: Any])?["text"] != nil && ($0["shortDescription"] as? [String: Any]) != nil })
        let results = try #require(run["results"] as? [[String: Any]])
        #expect(!results.isEmpty)
        for res in results {
            #expect(["error", "warning", "note"].contains(res["level"] as? String ?? ""))
            let fp = try #require(res["partialFingerprints"] as? [String: String])
            #expect(fp["primaryLocationLineHash"]?.contains(":") == true)
            let ruleIndex = try #require(res["ruleIndex"] as? Int)
            #expect(rules[ruleIndex]["id"] as? String == res["ruleId"] as? String)
            #expect((res["locations"] as? [[String: Any]])?.isEmpty == false)
        }
        let secret = try #require(results.first { $0["ruleId"] as? String == "strict/hardcoded-secret" })
        #expect(secret["level"] as? String == "error")
    }

    @Test func profilesMoveThresholdsAndWeights() throws {
        let repo = try Planted.make()
        let startup = try Self.audit(repo) { $0.profile = .startup }
        let enterprise = try Self.audit(repo) { $0.profile = .enterprise }
        #expect(startup.strictness == 0.7 && enterprise.strictness == 0.95)
        // compliance mode fails a check with a critical finding (the planted secret)
        #expect(enterprise.result(.strict)?.status == .failed)
        // without compliance mode the same critical finding only caps the status: it follows the score
        let startupStrict = try #require(startup.result(.strict))
        #expect(startupStrict.status == Scoring.status(score: startupStrict.score, hasCritical: true,
                                                       thresholds: Thresholds.forStrictness(0.7), complianceMode: false))
        #expect(startupStrict.status != .passed)
        // enterprise gives no auto-corrections, only advice
        #expect(enterprise.allViolations.count >= startup.allViolations.count)
        #expect(enterprise.magicResults.values.allSatisfy { $0.suggestions.allSatisfy { $0.kind == .advice } })
    }

    @Test func checksSubset() throws {
        let repo = try Planted.make()
        let r = try Self.audit(repo) { $0.checks = [.strict, .tdd] }
        #expect(Set(r.magicResults.keys) == ["strict", "tdd"])
    }
}

@Suite struct FingerprintAndBaselineTests {
    @Test func fingerprintsSurviveInsertedLines() throws {
        let repo = try FixtureRepo()
        let body = "func a() {\n    let x = try! load()\n    print(x)\n}\n"
        try repo.write("Sources/A/A.swift", body)
        try repo.commit("feat: a")
        let first = try PlantedAuditTests.audit(repo)
        try repo.write("Sources/A/A.swift", "// header\n// more header\n\nimport Foundation\n\n" + body)
        try repo.commit("docs: header")
        let second = try PlantedAuditTests.audit(repo)
        let v1 = try #require(first.allViolations.first { $0.ruleId == "strict/dangerous-call" })
        let v2 = try #require(second.allViolations.first { $0.ruleId == "strict/dangerous-call" })
        #expect(v1.line == 2 && v2.line == 7)
        #expect(v1.fingerprint == v2.fingerprint)
        #expect(v1.lineHash == v2.lineHash)
    }

    @Test func baselineReportsOnlyNewFindings() throws {
        let repo = try FixtureRepo()
        try repo.write("Sources/A/A.swift", "func a() {\n    let x = try! load()\n    print(x)\n}\n")
        let base = try repo.commit("feat: a")
        try repo.write("Sources/A/B.swift", "func b() {\n    let y = try! other()\n    print(y)\n}\n")
        try repo.commit("feat: b")
        let r = try PlantedAuditTests.audit(repo) { $0.baseline = base }
        let strict = r.allViolations.filter { $0.ruleId == "strict/dangerous-call" }
        #expect(strict.count == 1)
        #expect(strict.first?.file == "Sources/A/B.swift")
        #expect(r.baseline == base)
        // try! is medium, below the default gate severity (high): the gate passes on new findings
        #expect(r.gate.passed)
        // with an identical baseline nothing is new
        let same = try PlantedAuditTests.audit(repo) { $0.baseline = "HEAD" }
        #expect(same.allViolations.isEmpty)
    }

    @Test func baselineGateFailsOnNewSevereFinding() throws {
        let repo = try FixtureRepo()
        try repo.write("a.py", "def f(x):\n    \"\"\"Doc.\"\"\"\n    return x\n")
        let base = try repo.commit("feat: a")
        try repo.write("a.py", "def f(x):\n    \"\"\"Doc.\"\"\"\n    return eval(x)\n\n\ndef g(request):\n    \"\"\"Doc.\"\"\"\n    return eval(request.body)\n")
        try repo.commit("feat: eval")
        let r = try PlantedAuditTests.audit(repo) { $0.baseline = base }
        // eval of a parameter is medium (built at run time), of a request high: the gate fails on that one
        let evals = r.allViolations.filter { $0.ruleId == "strict/dangerous-call" }.map { "\($0.line ?? 0):\($0.severity)" }
        #expect(evals == ["3:medium", "8:high"], "\(evals)")
        #expect(!r.gate.passed)
        #expect(r.gate.reasons.contains { $0.contains("new finding") })
    }

    @Test func cacheReanalysesOnlyChangedBlobs() throws {
        let repo = try Planted.make()
        let cacheDir = FileManager.default.temporaryDirectory.appendingPathComponent("guardian-cache-\(UUID())").path
        defer { try? FileManager.default.removeItem(atPath: cacheDir) }
        let cold = try PlantedAuditTests.audit(repo) { $0.cacheDirectory = cacheDir }
        #expect(cold.timing.cacheHits == 0)
        #expect(cold.timing.cacheMisses > 10)
        let warm = try PlantedAuditTests.audit(repo) { $0.cacheDirectory = cacheDir }
        #expect(warm.timing.cacheMisses == 0)
        #expect(warm.withoutTiming() == cold.withoutTiming())
        try repo.write("app/planted.py", Planted.python + "\n\ndef extra(y):\n    \"\"\"Doc.\"\"\"\n    return eval(y)\n")
        try repo.commit("feat: extra")
        let incremental = try PlantedAuditTests.audit(repo) { $0.cacheDirectory = cacheDir }
        #expect(incremental.timing.cacheMisses == 1)
        #expect(incremental.allViolations.contains { $0.file == "app/planted.py" && $0.message.contains("eval") })
        // a different profile reuses the cache: thresholds are applied after it
        let other = try PlantedAuditTests.audit(repo) { $0.cacheDirectory = cacheDir; $0.profile = .enterprise }
        #expect(other.timing.cacheMisses == 0)
    }

    @Test func corruptCacheIsNotFatal() throws {
        let repo = try Planted.make()
        let cacheDir = FileManager.default.temporaryDirectory.appendingPathComponent("guardian-cache-\(UUID())").path
        defer { try? FileManager.default.removeItem(atPath: cacheDir) }
        try FileManager.default.createDirectory(atPath: cacheDir, withIntermediateDirectories: true)
        try Data("this is not sqlite".utf8).write(to: URL(fileURLWithPath: cacheDir + "/analysis.sqlite"))
        let r = try PlantedAuditTests.audit(repo) { $0.cacheDirectory = cacheDir }
        #expect(r.allViolations.contains { $0.ruleId == "strict/hardcoded-secret" })
    }
}

@Suite struct CanonicalJSONTests {
    /// The canonical writer produces what JSONEncoder (sorted keys) produces, byte for byte.
    @Test func matchesJSONEncoderAndRoundTrips() throws {
        let repo = try Planted.make()
        var reports = try [true, false].map { r in try PlantedAuditTests.audit(repo) { $0.reproducible = r } }
        // every optional field present somewhere
        var full = reports[0]
        full.baseline = "abc"
        full.aiInsights.append(Insight(kind: "trend", message: "m \"q\"", confidence: 0.25, file: "a/b.swift", check: .strict))
        full.skippedFiles.append(SkippedFile(path: "big.bin", reason: "binary"))
        full.statistics.languages = ["Swift": 3, "C": 1, "c": 2]
        let fix = Suggestion(ruleId: "r", kind: .replacement, message: "fix it", file: "f", line: 3, original: "a", replacement: "b", patch: "@@")
        full.magicResults["strict"]?.violations.append(Violation(ruleId: "r", severity: .high, file: "f", line: 3, column: 7, message: "v",
                                                                   fingerprint: "fp", lineHash: "lh", fix: fix))
        full.magicResults["strict"]?.suggestions.append(fix)
        full.magicResults["strict"]?.skippedRules.append(SkippedRule(ruleId: "x", reason: "off"))
        full.magicResults["strict"]?.counts["high"] = 1
        full.magicResults["strict"]?.executionTime = 0.125
        #expect(full.magicResults["strict"]?.violations.contains { $0.fix != nil } == true)
        reports.append(full)
        for report in reports {
            let mine = report.canonicalBytes
            let e = JSONEncoder()
            e.outputFormatting = [.sortedKeys, .withoutEscapingSlashes]
            let theirs = [UInt8](try e.encode(report))
            let decoded = try JSONDecoder().decode(AuditReport.self, from: Data(mine))
            #expect(decoded == report)
            #expect(mine == theirs, "first difference at byte \(zip(mine, theirs).enumerated().first { $0.element.0 != $0.element.1 }?.offset ?? min(mine.count, theirs.count))")
            // and the whole in-toto statement around it
            #expect(try Attestation.statementBytes(report) == [UInt8](try e.encode(AuditStatement(report: report))))
            // `--format json`: the canonical bytes indented, as the pretty-printing encoder writes them
            #expect(try ReportRenderer.render(report, as: .json) == ReportRenderer.json(report))
        }
    }
}
