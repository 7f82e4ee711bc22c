import Foundation
import GuardianCore
import GuardianTestKit
import Testing
@testable import GuardianAudit

/// Misfire classes of the code rules on real packages (issue 18): bundled C libraries, public API
/// documentation, tests that assert through helpers, and dangerous calls judged by their input.
@Suite struct PrecisionCodeTests {
    static func findings(_ path: String, _ text: String, rule: String) -> [Int32: RawFinding] {
        PrecisionTests.findings(path, text, rule: rule)
    }

    static func line(_ needle: String, in text: String) -> Int32 { PrecisionTests.line(needle, in: text) }

    /// A C library copied into `Sources/C…` is vendored; a small shim the project wrote is its own.
    @Test func bundledCLibrariesAreVendored() throws {
        let detected = Dictionary(uniqueKeysWithValues: BundledLibraries.detect([
            "Sources/CYaml/src/api.c", "Sources/CYaml/include/yaml.h", "Sources/CYaml/src/parser.c",
            "Sources/CZstd/LICENSE", "Sources/CZstd/lib.c",
            "Sources/CBig/update_big.sh", "Sources/CBig/a.c",
            "Sources/CShim/shim.c", "Sources/CShim/include/shim.h",
            "Sources/Core/x.c", "Sources/Clean/y.c",
        ] + (0..<20).map { "Sources/CMany/f\($0).c" }).map { ($0.prefix, $0.reason) })
        #expect(detected["Sources/CYaml/"] == "bundled C library: a well-known library file, yaml.h")
        #expect(detected["Sources/CZstd/"] == "bundled C library: its own LICENSE")
        #expect(detected["Sources/CBig/"] == "bundled C library: an update script, update_big.sh")
        #expect(detected["Sources/CMany/"] == "bundled C library: 20 C files")
        #expect(detected["Sources/CShim/"] == nil, "a two-file shim is the project's own")
        #expect(detected["Sources/Core/"] == nil && detected["Sources/Clean/"] == nil, "not C targets by SwiftPM's convention")

        let repo = try FixtureRepo()
        try repo.write("Sources/CYaml/include/yaml.h", "int yaml_parse(const char *s);\n")
        try repo.write("Sources/CYaml/src/parser.c", "int yaml_parse(const char *s) {\n    char buf[8];\n    strcpy(buf, s);\n    return 0;\n}\n")
        try repo.write("Sources/CShim/shim.c", "int shim(const char *s) {\n    char buf[8];\n    strcpy(buf, s);\n    return 0;\n}\n")
        try repo.write("Sources/App/App.swift", "/// App.\npublic struct App {}\n")
        try repo.commit("Add the package")
        let r = try RepositoryControlsTests.audit(repo)
        let skipped = Dictionary(uniqueKeysWithValues: r.skippedFiles.map { ($0.path, $0.reason) })
        #expect(skipped["Sources/CYaml/src/parser.c"] == "vendored (bundled C library: a well-known library file, yaml.h: Sources/CYaml/)")
        #expect(skipped["Sources/CShim/shim.c"] == nil)
        let strcpy = r.allViolations.filter { $0.ruleId == "strict/dangerous-call" }.compactMap(\.file)
        #expect(strcpy == ["Sources/CShim/shim.c"], "\(strcpy)")
    }

    /// Only a library's own public API needs documentation comments: not witnesses of protocol
    /// requirements, members of non-public or SPI types, overrides, deprecated or underscored
    /// names, tools, examples, manifests and executables (misfire class 6).
    @Test func publicAPIMeansTheLibrarysOwn() throws {
        let swift = """
            public protocol Codec {
                /// Encodes.
                func encode(_ v: Int) -> [UInt8]
            }

            public struct Plain {
                public init() {}
                public init(from decoder: Decoder) throws {}
                public func undocumented() {}
                public var description: String { "" }
                @_spi(Testing) public func spiOnly() {}
                @available(*, deprecated, renamed: "undocumented") public func old() {}
                public func _hidden() {}
                public static func == (a: Plain, b: Plain) -> Bool { true }
            }

            extension Plain: Codec {
                public func encode(_ v: Int) -> [UInt8] { [] }
            }

            struct Internal {
                public func notAPI() {}
            }

            open class Base {
                /// Runs.
                open func go() {}
            }

            public final class Derived: Base {
                public override func go() {}
            }
            """
        let found = Self.findings("Sources/Lib/Plain.swift", swift, rule: "sages/undocumented-public-api")
        #expect(found[Self.line("public func undocumented()", in: swift)] != nil, "the real finding stays: \(found.keys.sorted())")
        #expect(found[Self.line("public struct Plain", in: swift)] != nil)
        for quiet in ["public init() {}", "init(from decoder", "var description", "spiOnly", "func old()", "_hidden", "static func ==",
                      "func encode(_ v: Int) -> [UInt8] { [] }", "notAPI", "override func go"] {
            #expect(found[Self.line(quiet, in: swift)] == nil, "'\(quiet)' needs no documentation comment")
        }
        for path in ["Package.swift", "Examples/Demo/main.swift", "Benchmarks/Perf/Perf.swift", "Plugins/Gen/Gen.swift", "Sources/_Internal/X.swift"] {
            #expect(Self.findings(path, "public func undocumented() {}\n", rule: "sages/undocumented-public-api").isEmpty, "\(path)")
        }

        let python = """
            from typing import overload


            def public_function(x):
                return x


            def _private(x):
                return x


            class Client:
                def get(self, url):
                    return url

                @overload
                def put(self, x: int) -> int: ...

                @property
                def name(self):
                    return "n"

                @name.setter
                def name(self, value):
                    pass

                def helper(self):
                    def nested():
                        return 1
                    return nested()


            class _Hidden:
                def visible(self):
                    return 1
            """
        let py = Self.findings("src/pkg/client.py", python, rule: "sages/undocumented-public-api")
        for loud in ["def public_function", "def get(self", "def helper(self"] {
            #expect(py[Self.line(loud, in: python)] != nil, "'\(loud)' is public API: \(py.keys.sorted())")
        }
        for quiet in ["_private", "def put", "def name(self, value)", "def nested", "def visible"] {
            #expect(py[Self.line(quiet, in: python)] == nil, "'\(quiet)' needs no docstring")
        }
        #expect(Self.findings("setup.py", "def public_function(x):\n    return x\n", rule: "sages/undocumented-public-api").isEmpty)

        // a witness of a protocol declared in another file, and an executable target
        let repo = try FixtureRepo()
        try repo.write("Sources/Lib/Proto.swift", "/// Handles.\npublic protocol Handler {\n    /// Handles.\n    func handle()\n}\n")
        try repo.write("Sources/Lib/Impl.swift", "/// Impl.\npublic struct Impl: Handler {\n    public func handle() {}\n    public func extra() {}\n}\n")
        try repo.write("Sources/Tool/Tool.swift", "@main\npublic struct Tool {\n    public static func main() {}\n}\n")
        try repo.commit("Add the package")
        let r = try RepositoryControlsTests.audit(repo)
        let docs = r.allViolations.filter { $0.ruleId == "sages/undocumented-public-api" }.map { "\($0.file ?? ""):\($0.line ?? 0)" }
        #expect(docs == ["Sources/Lib/Impl.swift:4"], "\(docs)")
    }

    /// Only a test that neither asserts nor runs anything is without assertion: one that calls code
    /// (a helper, `try`, a trailing closure) fails when that code throws or traps (misfire class 7).
    @Test func onlyTestsThatCannotFailAreWithoutAssertion() {
        let swift = """
            import XCTest
            final class ParserTests: XCTestCase {
                func testThroughHelper() {
                    check("a", parsesTo: 1)
                }
                func testThroughTry() throws {
                    _ = try Parser().parse("a")
                }
                func testThroughSelf() {
                    self.roundTrip("a")
                }
                func testThroughClosure() {
                    withParser { p in
                        XCTAssertNotNil(p)
                    }
                }
                func testNothing() {
                    // TODO: write this test
                    let value = 1
                    print(value)
                }
                func testSmoke() {
                    _ = Parser()
                }
                func testTrailing() {
                    withParser { _ in }
                }
                func testOptionalTry() {
                    _ = try? Parser().parse("a")
                }
                func check(_ s: String, parsesTo n: Int) {
                    XCTAssertEqual(try? Parser().parse(s), n)
                }
                func helper(value: Int) -> Int { value }
            }
            """
        let found = Self.findings("Tests/ParserTests/ParserTests.swift", swift, rule: "tdd/test-without-assertion")
        #expect(found[Self.line("testNothing", in: swift)] != nil, "it runs nothing, so it cannot fail: \(found.keys.sorted())")
        // a test that calls code fails when the code throws or traps: a smoke test, kept on purpose
        for quiet in ["testThroughHelper", "testThroughTry", "testThroughSelf", "testThroughClosure", "func check(", "func helper(",
                      "testSmoke", "testOptionalTry", "testTrailing"] {
            #expect(found[Self.line(quiet, in: swift)] == nil, "'\(quiet)' asserts or is no test")
        }
        let python = """
            def assert_roundtrip(x):
                assert decode(encode(x)) == x


            def test_roundtrip():
                assert_roundtrip(1)


            def test_nothing():
                pass


            def test_attribute_exists():
                codec.encode


            def test_callbacks():
                def test_inner():
                    return 1
                assert test_inner() == 1
            """
        let py = Self.findings("tests/test_codec.py", python, rule: "tdd/test-without-assertion")
        #expect(py[Self.line("def test_nothing", in: python)] != nil, "\(py.keys.sorted())")
        for quiet in ["def test_roundtrip", "def test_attribute_exists", "def test_inner"] {
            #expect(py[Self.line(quiet, in: python)] == nil, "'\(quiet)' asserts, can fail, or is a nested callback")
        }
    }

    /// Every token format is found where a token starts (the scan only tries formats whose first
    /// two bytes it sees there), and not inside a longer word.
    @Test func everySecretFormatIsFound() {
        for f in FileAnalyzer.formats {
            let body = f.name == "private key" ? "RSA PRIVATE KEY" : String(repeating: "Q7ZK9", count: f.minBody / 5 + 1)
            let token = String(decoding: f.prefix, as: UTF8.self) + body
            let swift = "let a = 1\nlet value = \"\(token)\"\nlet inWord = \"x\(token)\"\n"
            let found = Self.findings("Sources/App/Keys.swift", swift, rule: "strict/hardcoded-secret")
            #expect(found[2]?.message.contains(f.name) == true, "\(f.name): \(found)")
            if f.prefix[0] != UInt8(ascii: "-") {
                #expect(found[3] == nil, "\(f.name) inside a word: \(found)")
            }
            // at the first eighteen offsets of a file, each time ending with the file's last byte
            for pad in 0..<18 {
                let text = String(repeating: "\n", count: pad) + token
                #expect(Self.findings("config/keys.txt", text, rule: "strict/hardcoded-secret")[Int32(pad + 1)] != nil, "\(f.name) after \(pad)")
            }
        }
    }

    /// A key after a ruler of dashes (on its line or the line before), and a ruler straight after a
    /// key: the scan crosses each run of dashes in one step.
    @Test func secretsBesideRulersOfDashes() {
        let key = "-----BEGIN RSA PRIVATE KEY-----"
        let aws = "AKIA" + String(repeating: "Q7ZK9", count: 4)
        let text = "// ---------------\nlet a = \"------\(key)\"\nlet b = \"\(aws)---------------------\(aws)\"\n\(key)\n"
        let found = Self.findings("Sources/App/Keys.swift", text, rule: "strict/hardcoded-secret")
        #expect(found[2]?.message.contains("private key") == true, "\(found)")
        #expect(found[3]?.message.contains("AWS access key id") == true, "\(found)")
        #expect(found[4]?.message.contains("private key") == true, "\(found)")
        #expect(found[1] == nil)
    }

    /// Modules are paired with tests by what the tests import (and what those modules re-export);
    /// tools, manifests and examples are no modules (misfire class 5).
    @Test func modulesArePairedByWhatTestsImport() throws {
        func body(_ name: String) -> String {
            "/// \(name).\npublic func \(name.lowercased())() -> Int {\n" + (0..<110).map { "    let v\($0) = \($0)\n" }.joined() + "    return v0\n}\n"
        }
        let repo = try FixtureRepo()
        try repo.write("Package.swift", "// swift-tools-version:5.9\n" + (0..<60).map { "let p\($0) = \($0)\n" }.joined())
        try repo.write("Sources/Core/Core.swift", body("Core"))
        try repo.write("Sources/Compat/Compat.swift", "@_exported import Extras\n" + body("Compat"))
        try repo.write("Sources/Extras/Extras.swift", body("Extras"))
        try repo.write("Sources/Lonely/Lonely.swift", body("Lonely"))
        try repo.write("Sources/Tool/main.swift", body("Tool"))
        try repo.write("Examples/Demo/Demo.swift", body("Demo"))
        try repo.write("Tests/AllTests/AllTests.swift", "@testable import Core\nimport Compat\nimport XCTest\n"
                       + "final class AllTests: XCTestCase {\n    func testCore() { XCTAssertEqual(core(), 0) }\n}\n")
        try repo.commit("Add the package")
        let r = try RepositoryControlsTests.audit(repo)
        let untested = r.allViolations.filter { $0.ruleId == "tdd/untested-module" }.map(\.message)
        #expect(untested.count == 1 && untested[0].hasPrefix("module 'Lonely'"), "\(untested)")
    }

    /// An unpacked PyPI sdist leaves out CI, tests, docs and policies by design: the rules about
    /// them are skipped with that reason, not failed.
    @Test func sourceDistributionsSkipWhatTheyLeaveOut() throws {
        let dir = try FixtureRepo(initGit: false)
        try dir.write("PKG-INFO", "Metadata-Version: 2.1\nName: demo\nVersion: 1.0\n")
        try dir.write("README.md", "# Demo\n\nA demo package.\n")
        try dir.write("src/demo/core.py", (0..<60).map { "def f\($0)(x):\n    \"\"\"F.\"\"\"\n    return x + \($0)\n\n\n" }.joined())
        var o = AuditOptions(target: dir.path)
        o.cacheDirectory = nil
        let r = try Auditor.run(o)
        for rule in ["servant/no-ci", "tdd/no-tests", "sages/missing-docs", "servant/no-dependency-updates"] {
            #expect(!r.allViolations.contains { $0.ruleId == rule }, "\(rule) is not reported in an sdist")
        }
        let skipped = r.magicResults.values.flatMap(\.skippedRules)
        #expect(skipped.contains { $0.ruleId == "servant/no-ci" && $0.reason.contains("source distribution") }, "\(skipped)")
        // the same tree without PKG-INFO is judged as a project
        try FileManager.default.removeItem(atPath: dir.path + "/PKG-INFO")
        let plain = try Auditor.run(o)
        #expect(plain.allViolations.contains { $0.ruleId == "servant/no-ci" } && plain.allViolations.contains { $0.ruleId == "tdd/no-tests" })
    }

    /// Actions of the repository's own owner, GitHub's own actions and reusable workflows are not
    /// unpinned third-party code; the owner comes from the `origin` remote.
    @Test func unpinnedActionsAreThirdPartyOnes() throws {
        #expect(GitRepository.owner(ofURL: "https://github.com/apple/swift-nio.git") == "apple")
        #expect(GitRepository.owner(ofURL: "git@gitlab.com:acme/app.git") == "acme")
        #expect(GitRepository.owner(ofURL: "ssh://git@host.example/acme/app") == "acme")
        #expect(GitRepository.owner(ofURL: "/srv/git/app") == nil && GitRepository.owner(ofURL: "file:///srv/git/app") == nil)
        let repo = try FixtureRepo()
        _ = try repo.git("remote", "add", "origin", "https://github.com/acme/app.git")
        try repo.write(".github/workflows/ci.yml", """
            on: push
            permissions: {}
            jobs:
              a:
                runs-on: ubuntu-latest
                steps:
                  - uses: actions/checkout@v4
                  - uses: acme/build-action@v1
                  - uses: docker/login-action@v3
              b:
                uses: acme/ci/.github/workflows/swift.yml@main

            """)
        try repo.commit("Add CI")
        let r = try RepositoryControlsTests.audit(repo)
        #expect(!r.allViolations.contains { $0.ruleId == "servant/broad-permissions" })
        let unpinned = r.allViolations.filter { $0.ruleId == "servant/unpinned-action" }.map(\.message)
        #expect(unpinned == ["action 'docker/login-action@v3' is pinned to 'v3', not to a commit SHA"], "\(unpinned)")
    }

    /// Least-privilege permissions declared on every job are as good as a top-level block.
    @Test func jobLevelPermissionsCount() {
        func found(_ yaml: String) -> Bool { !PrecisionTests.findings(".github/workflows/ci.yml", yaml, rule: "servant/broad-permissions").isEmpty }
        let everyJob = "on: push\njobs:\n  test:\n    permissions:\n      contents: read\n    runs-on: x\n  lint:\n    runs-on: x\n    permissions:\n      contents: read\n"
        #expect(!found(everyJob))
        let oneJob = "on: push\njobs:\n  test:\n    permissions:\n      contents: read\n    runs-on: x\n  lint:\n    runs-on: x\n    steps:\n      - run: make\n"
        #expect(found(oneJob), "lint runs with the default token permissions")
        #expect(found("on: push\njobs:\n  test:\n    runs-on: x\n"))
    }

    /// A call is dangerous by what reaches it: constant input is not reported, outside input is
    /// high, anything else built at run time is medium; a `try!` with its reason written down, or
    /// in a tool, is the author's choice (misfire class 8).
    @Test func dangerousCallsAreJudgedByTheirInput() throws {
        let python = """
            import os
            import subprocess


            def constant():
                subprocess.run("ls -l", shell=True)
                os.system("make clean")


            def outside(request):
                os.system("convert " + request.args["file"])


            def built(name):
                subprocess.run("tar czf " + name, shell=True)
            """
        let py = Self.findings("src/app/jobs.py", python, rule: "strict/dangerous-call")
        #expect(py[Self.line("\"ls -l\"", in: python)] == nil && py[Self.line("make clean", in: python)] == nil, "\(py)")
        let outside = try #require(py[Self.line("request.args", in: python)])
        #expect(outside.severity == .high && outside.message.hasSuffix("it is called with outside input ('request')"), "\(outside)")
        let built = try #require(py[Self.line("tar czf", in: python)])
        #expect(built.severity == .medium && built.message.contains("built at run time"), "\(built)")

        let swift = """
            import Foundation
            public enum Patterns {
                static let word = try! NSRegularExpression(pattern: "[a-z]+")
                static let settings = try! loadSettings()
                // the bundled schema is checked by the tests
                static let schema = try! Schema.load(bundled())
                static func load(_ path: String) -> Data {
                    return try! Data(contentsOf: URL(fileURLWithPath: path))
                }
            }
            """
        let sw = Self.findings("Sources/Lib/Patterns.swift", swift, rule: "strict/dangerous-call")
        #expect(sw[Self.line("NSRegularExpression", in: swift)] == nil, "constant arguments cannot fail at run time")
        #expect(sw[Self.line("Schema.load", in: swift)] == nil, "the reason is written above")
        #expect(sw[Self.line("contentsOf", in: swift)] != nil, "a file read that can fail: \(sw.keys.sorted())")
        #expect(sw[Self.line("loadSettings", in: swift)] != nil, "no literal argument: it reads state that can fail")
        #expect(Self.findings("Scripts/gen.swift", swift, rule: "strict/dangerous-call").isEmpty, "a script's crash stops no service")

        let repo = try FixtureRepo()
        try repo.write("Sources/Tool/main.swift", "import Foundation\nlet data = try! Data(contentsOf: URL(fileURLWithPath: CommandLine.arguments[1]))\n")
        try repo.write("Sources/Lib/Lib.swift", "import Foundation\n/// Reads.\npublic func read(_ p: String) -> Data {\n    try! Data(contentsOf: URL(fileURLWithPath: p))\n}\n")
        try repo.commit("Add the package")
        let r = try RepositoryControlsTests.audit(repo)
        let crashes = r.allViolations.filter { $0.ruleId == "strict/dangerous-call" }.compactMap(\.file)
        #expect(crashes == ["Sources/Lib/Lib.swift"], "\(crashes)")
    }
}
