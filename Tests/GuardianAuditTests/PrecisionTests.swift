import Foundation
import GuardianCore
import GuardianTestKit
import Testing
@testable import GuardianAudit

/// The misfire classes found on real code (issue 18), each as a fixture that misfired before the
/// fix: what a senior engineer on the project would not accept as a finding is not reported, and
/// the real defect next to it still is.
@Suite struct PrecisionTests {
    /// The findings of `rule` in a file analysed alone, by line.
    static func findings(_ path: String, _ text: String, rule: String, isTest: Bool? = nil) -> [Int32: RawFinding] {
        let bytes = Array(text.utf8)
        let facts = bytes.withUnsafeBufferPointer {
            FileAnalyzer.analyze(path: path, buffer: $0, isTest: isTest ?? PathRules.isTest(path), limits: AnalysisLimits())
        }
        return Dictionary(facts.findings.filter { $0.ruleId == rule }.map { ($0.line, $0) }, uniquingKeysWith: { a, _ in a })
    }

    /// The 1-based line of the first line containing `needle`. A needle the fixture does not hold
    /// fails the test: line 0 would make every "no finding there" check pass.
    static func line(_ needle: String, in text: String, sourceLocation: SourceLocation = #_sourceLocation) -> Int32 {
        guard let i = text.components(separatedBy: "\n").firstIndex(where: { $0.contains(needle) }) else {
            Issue.record("'\(needle)' is not in the fixture", sourceLocation: sourceLocation)
            return -1
        }
        return Int32(i + 1)
    }

    /// Only unconditional skips are skipped tests (misfire class 1).
    @Test func onlyUnconditionalSkipsAreSkippedTests() {
        let cases: [(path: String, text: String, skipped: [String], notSkipped: [String])] = [
            ("Tests/AppTests/ATests.swift", """
                import Testing
                import XCTest
                @Test(.disabled("flaky on CI")) func alwaysOff() {}
                @Test(.disabled(if: isLinux)) func offOnLinux() {}
                @Test(.disabled("crashes on Windows") { isWindows }) func offOnWindows() {}
                @Test(arguments: [Mode.disabled, .ignore]) func modes(m: Mode) { configure(.disabled) }
                final class ATests: XCTestCase {
                    func testGone() throws {
                        throw XCTSkip("not yet")
                    }
                    func testOnNewSystems() throws {
                        guard #available(macOS 14, *) else { throw XCTSkip("needs macOS 14") }
                    }
                    func testLinuxOnly() throws {
                        #if os(macOS)
                        throw XCTSkip("Linux only")
                        #else
                        throw XCTSkip("not on Linux")
                        #endif
                    }
                    func testMaybe() throws {
                        try XCTSkipIf(ProcessInfo.processInfo.environment["CI"] != nil)
                        if slow { throw XCTSkip("slow") }
                    }
                    func testFlaky() async {
                        await withKnownIssue(isIntermittent: true) { try await fetch() }
                    }
                }
                """, ["\"flaky on CI\"", "XCTSkip(\"not yet\")"], ["disabled(if:", "crashes on Windows", "Mode.disabled", "needs macOS 14", "Linux only", "not on Linux", "XCTSkipIf", "\"slow\""]),
            ("tests/test_a.py", """
                import sys
                import pytest
                import unittest


                @pytest.mark.skip(reason="broken")
                def test_broken():
                    assert False


                @pytest.mark.skipif(sys.platform == "win32", reason="posix only")
                def test_posix():
                    assert True


                def test_needs_network():
                    if not online():
                        pytest.skip("offline")
                    assert fetch()


                def test_not_written():
                    pytest.skip("to do")


                class T(unittest.TestCase):
                    @unittest.skip("later")
                    def test_x(self):
                        pass

                    @unittest.skipIf(sys.version_info < (3, 10), "old python")
                    def test_y(self):
                        self.skipTest("never")
                """, ["reason=\"broken\"", "pytest.skip(\"to do\")", "unittest.skip(\"later\")", "self.skipTest(\"never\")"],
                ["skipif", "pytest.skip(\"offline\")", "skipIf"]),
            ("web/a.test.js", """
                describe.skip('old suite', () => {})
                xit('pending', () => {})
                it('runs', () => { if (process.env.CI) { this.skip() } })
                const skip = { skip: true }
                test.skipIf(isWindows)('posix', () => {})
                """, ["describe.skip", "xit("], ["this.skip", "skip: true", "skipIf"]),
            ("pkg/a/a_test.go", """
                package a

                import "testing"

                func TestGone(t *testing.T) {
                \tt.Skip("not yet")
                }

                func TestSlow(t *testing.T) {
                \tif testing.Short() {
                \t\tt.Skip("slow")
                \t}
                }
                """, ["t.Skip(\"not yet\")"], ["t.Skip(\"slow\")"]),
            ("tests/a.rs", """
                #[test]
                #[ignore]
                fn gone() {}

                #[test]
                #[cfg_attr(windows, ignore)]
                fn posix() {}
                """, ["#[ignore]"], ["cfg_attr"]),
            ("src/test/java/ATest.java", """
                class ATest {
                    @Disabled("later") @Test void gone() {}
                    @DisabledOnOs(OS.WINDOWS) @Test void posix() {}
                }
                """, ["@Disabled(\"later\")"], ["DisabledOnOs"]),
        ]
        for c in cases {
            let found = Self.findings(c.path, c.text, rule: "tdd/skipped-test")
            for needle in c.skipped {
                #expect(found[Self.line(needle, in: c.text)] != nil, "\(c.path): the skip at '\(needle)' is unconditional; found \(found.keys.sorted())")
            }
            for needle in c.notSkipped {
                let f = found[Self.line(needle, in: c.text)]
                #expect(f == nil || f?.severity == .info, "\(c.path): '\(needle)' is not an unconditional skip")
            }
        }
        // a known intermittent issue is info
        let swift = cases[0]
        #expect(Self.findings(swift.path, swift.text, rule: "tdd/skipped-test")[Self.line("isIntermittent", in: swift.text)]?.severity == .info)
    }

    /// Abstract hooks, unsupported-by-design members and no-op hooks are not stubs; a stub after
    /// an early return is (misfire class 2).
    @Test func stubsAreWorkLeftUndoneNotDesign() {
        let cases: [(path: String, text: String, stubs: [String], notStubs: [String])] = [
            ("app/base.py", """
                import abc


                class Handler:
                    def handle(self, event):
                        raise NotImplementedError

                    def on_close(self):
                        pass

                    @abc.abstractmethod
                    def name(self):
                        raise NotImplementedError


                def compute(x):
                    raise NotImplementedError  # module level
                """, ["# module level"], ["raise NotImplementedError\n\n    def on_close", "pass", "@abc"]),
            ("Sources/App/View.swift", """
                final class View: UIView {
                    required init?(coder: NSCoder) {
                        fatalError("init(coder:) has not been implemented")
                    }
                    @available(*, unavailable)
                    func legacy() {
                        fatalError()
                    }
                    func load() -> Data {
                        fatalError("not implemented")
                    }
                }
                """, ["fatalError(\"not implemented\")"], ["init(coder:) has not", "fatalError()"]),
            ("pkg/a/a.go", """
                package a

                func (t *T) Do() error {
                	if t == nil {
                		return nil
                	}
                	panic("TODO")
                }
                """, ["panic(\"TODO\")"], []),
            ("src/main/java/A.java", """
                class A extends AbstractList<String> {
                    public void add(int i, String s) { throw new UnsupportedOperationException("immutable"); }
                    public String get(int i) { throw new UnsupportedOperationException("not implemented yet"); }
                }
                """, ["not implemented yet"], ["immutable"]),
        ]
        for c in cases {
            let found = Self.findings(c.path, c.text, rule: "integrity/stub-body")
            for needle in c.stubs {
                #expect(found[Self.line(needle, in: c.text)] != nil, "\(c.path): '\(needle)' is a stub; found at \(found.keys.sorted())")
            }
            for needle in c.notStubs {
                let at = Self.line(needle.components(separatedBy: "\n").first!, in: c.text)
                #expect(found[at] == nil, "\(c.path): '\(needle)' is not a stub")
            }
        }
    }

    /// Keys and sample credentials in tests, fixtures and examples are samples; a password in a
    /// committed URL is a credential (misfire class 3).
    @Test func secretsAreLeaksNotSamples() {
        let key = "-----BEGIN RSA PRIVATE KEY-----\nMIIEpAIBAAKCAQEAvP0y0n4d3Tz9\n-----END RSA PRIVATE KEY-----\n"
        for path in ["Tests/AppTests/Fixtures/server.key", "tests/certs/key.pem", "Sources/AppDevelopment/Keys.swift",
                     "Examples/Server/key.pem", "docs/setup.md"] {
            #expect(Self.findings(path, key, rule: "strict/hardcoded-secret").isEmpty, "\(path): a sample key")
        }
        #expect(!Self.findings("config/server.key", key, rule: "strict/hardcoded-secret").isEmpty, "a key in the project's config")
        let env = "DATABASE_URL=postgres://app:password@db.internal:5432/app\nCACHE_URL=redis://:${REDIS_PASS}@cache:6379\nDOC=https://user:<password>@host/x\n"
        let found = Self.findings(".env", env, rule: "strict/hardcoded-secret")
        #expect(found[1] != nil && found[1]?.severity == .high, "\(found)")
        #expect(found[2] == nil && found[3] == nil, "placeholders are not credentials")
        #expect(Self.findings("tests/test_db.py", "URL = 'postgres://app:password@localhost/test'\n", rule: "strict/hardcoded-secret").isEmpty)
        // templates and URLs assigned to a secret-named variable are computed or judged by the URL
        // rule; a literal token beside them is still a leak
        let code = "base, secret = f\"http://127.0.0.1:{port}\", \"bench-secret\"\n"
            + "API_SECRET_URL = \"https://api.example.com/v1/{tenant}/keys\"\n"
            + "token_path = \"${HOME}/.config/app/credentials\"\n"
            + "client_secret = \"q8Zr4LmV2xT9pW3sK7nB1dF6\"\n"
            + "SLACK_WEBHOOK_SECRET = \"https://hooks.slack.com/services/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\"\n"
            + "api_token = \"https://api.acme.io/v2/export?token=Zq8r4LmV2xT9pW3sK7nB1dF6\"\n"
            + "secret_docs = \"https://docs.acme.io/security/secretsmanagementguide\"\n"
            + "db_password = \"k{8#Kq2}vL9zR4mW7pX3\"\n"
        let inCode = Self.findings("scripts/deploy.py", code, rule: "strict/hardcoded-secret")
        #expect(inCode.keys.sorted() == [4, 5, 6, 8], "literal tokens (also in a URL's path or query, also with braces) are secrets; templates and slugs are not: \(inCode)")
        let swift = "let secretURL = \"https://\\(host)/oauth/token?grant=client\"\nlet apiSecret = \"Zq8r4LmV2xT9pW3sK7nB1dF6\"\n"
        #expect(Self.findings("Sources/App/Client.swift", swift, rule: "strict/hardcoded-secret").keys.sorted() == [2])
    }

    /// History conventions count where the project adopted them, squash suffixes are not part of
    /// a subject, old history does not decide today's score, and one policy choice repeated is one
    /// finding (misfire classes 9 and 10).
    @Test func historyAndPolicyRulesJudgeTheProjectAsItWorks() throws {
        let repo = try FixtureRepo()
        try repo.write("README.md", "# Demo\n\n## Security\n\nReport vulnerabilities to security@example.org.\n")
        try repo.write(".github/workflows/ci.yml", "on: push\npermissions: {}\njobs:\n  a:\n    runs-on: ubuntu-latest\n    steps:\n"
                       + "      - uses: actions/checkout@v4\n      - uses: docker/setup-buildx-action@v3\n      - uses: docker/login-action@v3\n      - uses: codecov/codecov-action@v4\n")
        try repo.commit("Add the demo")
        // years ago: long subjects and WIP commits, which no longer decide anything
        for i in 0..<5 { try repo.write("old\(i).txt", "x"); try repo.commit("WIP this is an old and very long subject line that goes on well past seventy-two characters \(i)") }
        repo.clock += 3 * 365 * 86_400
        // now: plain (not Conventional) subjects of 60-70 characters, squash-merged with " (#123)"
        for i in 0..<8 {
            try repo.write("src/f\(i).py", "def f\(i)():\n    \"\"\"F.\"\"\"\n    return \(i)\n")
            try repo.commit("Teach the parser to accept trailing commas in argument list \(i) (#\(1000 + i))")
        }
        let r = try RepositoryControlsTests.audit(repo)
        let git = try #require(r.result(.git))
        #expect(!git.violations.contains { $0.ruleId == "git/long-subject" }, "squash suffixes are not the subject: \(git.violations)")
        #expect(!git.violations.contains { $0.ruleId == "git/wip-commit" }, "three-year-old WIP commits do not decide today's score")
        let conv = try #require(git.violations.first { $0.ruleId == "git/non-conventional-commits" })
        #expect(conv.severity == .info && conv.message.contains("not adopted"), "\(conv)")
        #expect(!r.allViolations.contains { $0.ruleId == "sages/missing-security" }, "the README says how to report a vulnerability")
        let unpinned = r.allViolations.filter { $0.ruleId == "servant/unpinned-action" }
        #expect(unpinned.count == 1 && unpinned[0].message.hasPrefix("3 actions"), "\(unpinned)")
    }

    /// History is judged in the units reviewers saw: a merged pull request, not each commit on its
    /// branch; a sweep of a few lines per file and a bot's bump are not oversized (misfire class 9).
    @Test func historyIsJudgedByReviewUnits() throws {
        let repo = try FixtureRepo()
        try repo.write("README.md", "# Demo\n")
        try repo.commit("Start")
        // a branch that adds 70 generated files and takes them out again before it is merged
        _ = try repo.git("checkout", "-q", "-b", "feature")
        for i in 0..<70 { try repo.write("gen/f\(i).txt", (0..<10).map { "line \($0)\n" }.joined()) }
        try repo.commit("Try generated fixtures")
        try repo.remove("gen")
        try repo.write("src/app.py", "def f():\n    \"\"\"F.\"\"\"\n    return 1\n")
        try repo.commit("Keep only the function")
        _ = try repo.git("checkout", "-q", "main")
        _ = try repo.git("merge", "-q", "--no-ff", "-m", "Merge pull request #1 from feature", "feature")
        // a licence-header sweep over 80 files, and a bot's dependency bump over 80 files
        for i in 0..<80 { try repo.write("src/m\(i).py", "# SPDX-License-Identifier: MIT\n") }
        try repo.commit("Add SPDX headers")
        for i in 0..<80 { try repo.write("vendor/dep\(i).txt", (0..<20).map { "v2 \($0)\n" }.joined()) }
        try repo.commit("Bump dependencies", author: "dependabot[bot]")
        let r = try RepositoryControlsTests.audit(repo)
        let oversized = r.allViolations.filter { $0.ruleId == "flow/oversized-commit" }.map(\.message)
        #expect(oversized.isEmpty, "\(oversized)")
        // the same 70 files in one reviewed commit on the default branch are oversized
        for i in 0..<70 { try repo.write("gen/f\(i).txt", (0..<10).map { "line \($0)\n" }.joined()) }
        try repo.commit("Add generated fixtures")
        let again = try RepositoryControlsTests.audit(repo)
        #expect(again.allViolations.contains { $0.ruleId == "flow/oversized-commit" && $0.message.contains("Add generated fixtures") })

        // a revert made on a branch (GitHub's Revert button) and merged is still a revert; a
        // `git pull` merge of others' work is no review unit
        _ = try repo.git("checkout", "-q", "-b", "revert-1")
        try repo.write("src/app.py", "def f():\n    \"\"\"F.\"\"\"\n    return 2\n")
        try repo.commit("Revert \"Keep only the function\"")
        _ = try repo.git("checkout", "-q", "main")
        _ = try repo.git("merge", "-q", "--no-ff", "-m", "Merge pull request #2 from revert-1", "revert-1")
        _ = try repo.git("checkout", "-q", "-b", "upstream", "HEAD~1")
        for i in 0..<70 { try repo.write("theirs/f\(i).txt", (0..<10).map { "theirs \($0)\n" }.joined()) }
        try repo.commit("Their large change")
        _ = try repo.git("checkout", "-q", "main")
        _ = try repo.git("merge", "-q", "--no-ff", "-m", "Merge branch 'main' of github.com:acme/app", "upstream")
        let third = try RepositoryControlsTests.audit(repo)
        #expect(third.allViolations.contains { $0.ruleId == "flow/revert" }, "the revert on its branch is found")
        let merges = third.allViolations.filter { $0.ruleId == "flow/oversized-commit" && $0.message.contains("Merge branch") }
        #expect(merges.isEmpty, "\(merges)")
    }

    /// One person under two addresses is one author (`.mailmap`), and a commit that moves files is
    /// judged by its edits, not by the size of the files it moved (misfire class 9).
    @Test func mailmapAndRenamesAreHonoured() throws {
        let repo = try FixtureRepo()
        try repo.write("README.md", "# Demo\n")
        for i in 0..<70 { try repo.write("old/f\(i).txt", (0..<30).map { "line \($0) of \(i)\n" }.joined()) }
        try repo.commit("Start", author: "Ann Old")
        for i in 0..<24 {
            try repo.write("src/f.py", "def f():\n    \"\"\"F.\"\"\"\n    return \(i)\n")
            try repo.commit("Change \(i)", author: i % 2 == 0 ? "Ann Old" : "Ann New")
        }
        let before = try RepositoryControlsTests.audit(repo)
        #expect(!before.allViolations.contains { $0.ruleId == "predictive/bus-factor" }, "two addresses look like two authors")
        try repo.write(".mailmap", "Ann <ann.new@example.com> <ann.old@example.com>\n")
        _ = try repo.git("mv", "old", "moved")
        try repo.commit("Move the fixtures", author: "Bob") // 12 + 12 commits by Ann's two addresses, 1 by Bob
        let after = try RepositoryControlsTests.audit(repo)
        let bus = after.allViolations.filter { $0.ruleId == "predictive/bus-factor" }
        #expect(bus.count == 1, "one person: \(bus)")
        #expect(!after.allViolations.contains { $0.ruleId == "flow/oversized-commit" }, "a move of 70 files is not a large change")
    }
}
