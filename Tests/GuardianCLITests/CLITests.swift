import Foundation
import GuardianTestKit
import Testing

/// Runs the real `guardian` binary: exit codes, formats, stderr.
@Suite struct CLITests {
    static var binary: String { GuardianBinary.path }

    static func guardian(_ args: [String], cwd: String? = nil, binary: String = CLITests.binary) throws -> CommandResult {
        let cache = FileManager.default.temporaryDirectory.appendingPathComponent("guardian-cli-cache").path
        return try CommandRunner.run(binary, args, cwd: cwd, env: ["XDG_CACHE_HOME": cache])
    }

    /// A small repository that passes under a lenient profile.
    static func healthyRepo() throws -> FixtureRepo {
        let repo = try FixtureRepo()
        let readme = "# Demo\n\n## Usage\n\n" + String(repeating: "This project demonstrates a healthy repository layout. ", count: 30) + "\n"
        try repo.write("README.md", readme)
        try repo.write("LICENSE", "MIT License\n")
        try repo.write("CONTRIBUTING.md", "# Contributing\n")
        try repo.write("SECURITY.md", "# Security\n")
        try repo.write("CHANGELOG.md", "# Changelog\n")
        try repo.write("docs/index.md", "# Docs\n")
        try repo.write(".github/dependabot.yml", "version: 2\n")
        try repo.write(".github/workflows/ci.yml", "name: ci\non: [push]\npermissions:\n  contents: read\njobs:\n  t:\n    runs-on: ubuntu-latest\n    steps:\n      - run: make test\n")
        try repo.write("Sources/Demo/Demo.swift", "/// Adds.\npublic func add(_ a: Int, _ b: Int) -> Int {\n    a + b\n}\n")
        try repo.write("Tests/DemoTests/DemoTests.swift", "import XCTest\n\nfinal class DemoTests: XCTestCase {\n    func testAdd() {\n        XCTAssertEqual(add(1, 2), 3)\n    }\n}\n")
        try repo.commit("feat: demo")
        return repo
    }

    @Test func healthyRepositoryPassesTheGate() throws {
        let repo = try Self.healthyRepo()
        let r = try Self.guardian(["audit", repo.path, "--profile", "startup"])
        #expect(r.status == 0, "stdout: \(r.stdout)\nstderr: \(r.stderr)")
        #expect(r.stdout.contains("overall health score"))
        #expect(r.stdout.contains("gate: PASSED"))
    }

    @Test func failingGateExitsOne() throws {
        let repo = try FixtureRepo()
        try repo.write("a.py", "import os\n\ndef run(c):\n    os.system(c)\n    eval(c)\n    exec(c)\n")
        try repo.write("config.yml", "aws_access_key_id: AKIAIOSFODNN7ABCDEFG\n")
        try repo.commit("stuff")
        let r = try Self.guardian(["audit", repo.path, "--profile", "enterprise"])
        #expect(r.status == 1)
        #expect(r.stdout.contains("gate: FAILED"))
    }

    @Test func usageAndRuntimeErrorsExitTwo() throws {
        let repo = try Self.healthyRepo()
        let cases: [([String], String)] = [
            (["audit", repo.path, "--rev", "nope"], "unknown revision 'nope'"),
            (["audit", "/no/such/dir"], "no such file or directory"),
            (["audit", repo.path, "--checks", "strict,bogus"], "unknown check 'bogus'"),
            (["audit", repo.path, "--profile", "/no/profile.json"], "unknown profile"),
            (["audit", repo.path, "--format", "xml"], "format"),
            (["audit", repo.path, "--jobs", "0"], "--jobs"),
            (["frobnicate"], "Unexpected argument"),
        ]
        for (args, message) in cases {
            let r = try Self.guardian(args)
            #expect(r.status == 2, "\(args): status \(r.status), stderr \(r.stderr)")
            #expect(r.stderr.contains(message), "\(args): stderr \(r.stderr)")
            #expect(r.stdout.isEmpty, "\(args): nothing on stdout")
        }
        let empty = try FixtureRepo()
        let e = try Self.guardian(["audit", empty.path])
        #expect(e.status == 2 && e.stderr.contains("empty"))
    }

    @Test func jsonAndSarifOutputs() throws {
        let repo = try Self.healthyRepo()
        let out = FileManager.default.temporaryDirectory.appendingPathComponent("guardian-\(UUID()).json").path
        defer { try? FileManager.default.removeItem(atPath: out) }
        let r = try Self.guardian(["audit", repo.path, "--format", "json", "--output", out, "--reproducible"])
        #expect(r.status == 0)
        #expect(r.stdout.isEmpty)
        let json = try #require(try JSONSerialization.jsonObject(with: Data(contentsOf: URL(fileURLWithPath: out))) as? [String: Any])
        let magic = try #require(json["magicResults"] as? [String: Any])
        #expect(Set(magic.keys) == ["integrity", "tdd", "flow", "sages", "git", "servant", "strict", "predictive"])
        for (_, v) in magic {
            let c = try #require(v as? [String: Any])
            for key in ["status", "score", "violations", "suggestions", "lastRun", "executionTime"] { #expect(c[key] != nil, "\(key)") }
        }
        #expect(json["overallHealthScore"] is Int)
        let again = try Self.guardian(["audit", repo.path, "--format", "json", "--reproducible"])
        #expect(again.stdout == (try String(contentsOfFile: out, encoding: .utf8)))
        let sarif = try Self.guardian(["audit", repo.path, "--format", "sarif"])
        let s = try #require(try JSONSerialization.jsonObject(with: Data(sarif.stdout.utf8)) as? [String: Any])
        #expect(s["version"] as? String == "2.1.0")
    }

    /// A repository on disk whose object does not hold what its id says (a `.git` crafted, or
    /// damaged): the blob is skipped as unreadable, never analysed, so nothing is cached under an
    /// id that another repository's blob has (facts are cached by blob id).
    @Test func objectWhoseContentIsNotItsIdIsNotAnalysed() throws {
        let repo = try FixtureRepo()
        try repo.write("config/app.yml", "name: demo\n")
        try repo.write("README.md", "# Demo\n")
        try repo.commit("feat: config")
        let id = try repo.git("rev-parse", "HEAD:config/app.yml").trimmingCharacters(in: .whitespacesAndNewlines)
        let forged = try repo.git(["hash-object", "-w", "--stdin"], input: "aws_access_key_id: AKIAIOSFODNN7QZXWVUT\n")
            .trimmingCharacters(in: .whitespacesAndNewlines)
        func object(_ hex: String) -> String { repo.path + "/.git/objects/" + hex.prefix(2) + "/" + hex.dropFirst(2) }
        try FileManager.default.removeItem(atPath: object(id))
        try FileManager.default.copyItem(atPath: object(forged), toPath: object(id))
        let r = try Self.guardian(["audit", repo.path, "--format", "json", "--no-cache"])
        let json = try #require(try JSONSerialization.jsonObject(with: Data(r.stdout.utf8)) as? [String: Any], "\(r.stderr)")
        let skipped = try #require(json["skippedFiles"] as? [[String: Any]])
        #expect(skipped.contains { $0["path"] as? String == "config/app.yml" && $0["reason"] as? String == "unreadable blob" }, "\(skipped)")
        #expect(!r.stdout.contains("hardcoded-secret"))
    }

    /// `--output` replaces the file whole (nothing left beside it), writes a device directly, and a
    /// folder that does not exist is a runtime error that names the file.
    @Test func outputFileIsReplacedWholeOrNotAtAll() throws {
        let repo = try Self.healthyRepo()
        let dir = FileManager.default.temporaryDirectory.appendingPathComponent("guardian-out-\(UUID())").path
        try FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let out = dir + "/report.json"
        try Data("old report, longer than nothing".utf8).write(to: URL(fileURLWithPath: out))
        let r = try Self.guardian(["audit", repo.path, "--format", "json", "--output", out, "--reproducible"])
        #expect(r.status == 0, "\(r.stderr)")
        let stdout = try Self.guardian(["audit", repo.path, "--format", "json", "--reproducible"])
        #expect(try String(contentsOfFile: out, encoding: .utf8) == stdout.stdout)
        #expect(try FileManager.default.contentsOfDirectory(atPath: dir) == ["report.json"])
        let device = try Self.guardian(["audit", repo.path, "--format", "json", "--output", "/dev/null"])
        #expect(device.status == 0, "\(device.stderr)")
        // the replaced file's mode is kept, and nothing is left beside it
        chmod(out, 0o600)
        let again = try Self.guardian(["audit", repo.path, "--format", "json", "--output", out, "--reproducible"])
        #expect(again.status == 0, "\(again.stderr)")
        let mode = try #require(try FileManager.default.attributesOfItem(atPath: out)[.posixPermissions] as? Int)
        #expect(mode == 0o600)
        #expect(try FileManager.default.contentsOfDirectory(atPath: dir) == ["report.json"])
        let missing = dir + "/no/such/folder/report.json"
        let bad = try Self.guardian(["audit", repo.path, "--output", missing])
        #expect(bad.status == 2)
        #expect(bad.stderr.contains("cannot write \(missing)"), "\(bad.stderr)")
    }

    @Test func auditsTheCurrentDirectoryByDefault() throws {
        let repo = try Self.healthyRepo()
        let r = try Self.guardian(["audit", "--checks", "strict"], cwd: repo.path)
        #expect(r.status == 0)
        #expect(r.stdout.contains("strict"))
    }

    @Test func versionAndHelp() throws {
        #expect(try Self.guardian(["--version"]).status == 0)
        let h = try Self.guardian(["audit", "--help"])
        #expect(h.status == 0 && h.stdout.contains("--baseline"))
    }
}

@Suite struct DocsTests {
    static let root = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()

    @Test func checksPageListsEveryRule() throws {
        let page = try String(contentsOf: Self.root.appendingPathComponent("docs/checks.md"), encoding: .utf8)
        let rules = try CLITests.guardian(["rules", "--format", "json"])
        let list = try #require(try JSONSerialization.jsonObject(with: Data(rules.stdout.utf8)) as? [[String: String]])
        #expect(list.count > 40)
        for rule in list {
            let id = try #require(rule["id"])
            #expect(page.contains("`\(id)`"), "docs/checks.md does not list \(id)")
        }
    }
}

@Suite struct SignedResultCLITests {
    @Test func attestAndVerify() throws {
        let repo = try CLITests.healthyRepo()
        let base = FileManager.default.temporaryDirectory.appendingPathComponent("guardian-attest-\(UUID())").path
        defer { try? FileManager.default.removeItem(atPath: base) }
        let dataDir = base + "/node", other = base + "/other", env = base + "/result.dsse.json"
        let a = try CLITests.guardian(["audit", repo.path, "--attest", env, "--data-dir", dataDir])
        #expect(a.status == 0, "\(a.stderr)")
        #expect(a.stderr.contains("signed result"))
        let ok = try CLITests.guardian(["verify", env, "--data-dir", dataDir])
        #expect(ok.status == 0, "\(ok.stderr)")
        #expect(ok.stdout.contains("verified: record"))
        // another node does not know the signer
        let unknown = try CLITests.guardian(["verify", env, "--data-dir", other])
        #expect(unknown.status == 1)
        #expect(unknown.stderr.contains("unknown signer"))
        // ... until it is given the signer's public key
        let pub = try String(contentsOfFile: dataDir + "/identity.pub", encoding: .utf8).trimmingCharacters(in: .whitespacesAndNewlines)
        #expect(try CLITests.guardian(["verify", env, "--data-dir", other, "--key", pub]).status == 0)
        // one flipped byte inside the payload
        var bytes = try [UInt8](Data(contentsOf: URL(fileURLWithPath: env)))
        let payloadStart = try #require(String(decoding: bytes, as: UTF8.self).range(of: "\"payload\":\"")).upperBound
        let offset = String(decoding: bytes, as: UTF8.self).utf8.distance(from: String(decoding: bytes, as: UTF8.self).startIndex, to: payloadStart) + 40
        bytes[offset] = bytes[offset] == UInt8(ascii: "A") ? UInt8(ascii: "B") : UInt8(ascii: "A")
        try Data(bytes).write(to: URL(fileURLWithPath: env))
        let bad = try CLITests.guardian(["verify", env, "--data-dir", dataDir])
        #expect(bad.status == 1)
        #expect(bad.stderr.contains("verification failed"))
        let missing = try CLITests.guardian(["verify", base + "/nope.json"])
        #expect(missing.status == 2)
        let id = try CLITests.guardian(["identity", "--data-dir", dataDir])
        #expect(id.stdout.contains("node id:") && id.stdout.contains(pub))
    }

    @Test func keygenPrintsAFreshClusterKey() throws {
        let a = try CLITests.guardian(["keygen"]), b = try CLITests.guardian(["keygen"])
        #expect(a.status == 0 && b.status == 0)
        let key = a.stdout.trimmingCharacters(in: .whitespacesAndNewlines)
        #expect(key.count == 44 && Data(base64Encoded: key)?.count == 32, "\(key)")
        #expect(key != b.stdout.trimmingCharacters(in: .whitespacesAndNewlines))
    }
}

/// A simulator run replays exactly from its seed, across processes too (dictionary order differs
/// between processes, so nothing in the core may depend on it).
@Suite struct SimulatorReplayTests {
    @Test func sameSeedSameFiguresInTwoProcesses() throws {
        let args = ["mesh", "--nodes", "30", "--parts", "detection,dissemination", "--trials", "3", "--seed", "7"]
        let bench = GuardianBinary.bench
        let first = try CLITests.guardian(args, binary: bench), second = try CLITests.guardian(args, binary: bench)
        #expect(first.status == 0, "\(first.stderr)")
        #expect(first.stdout == second.stdout && first.stdout.contains("median"), "\(first.stdout)\n---\n\(second.stdout)")
        let other = try CLITests.guardian(["mesh", "--nodes", "30", "--parts", "detection,dissemination", "--trials", "3", "--seed", "8"], binary: bench)
        #expect(other.stdout != first.stdout)
    }
}

/// The shipped binary carries neither the test kit nor the simulators; the benchmarks' binary does
/// (which is what makes the first half of this test able to fail).
@Suite struct ShippedBinaryTests {
    static func modules(in path: String) throws -> Set<String> {
        let bytes = try #require(FileManager.default.contents(atPath: path), "cannot read \(path)")
        return Set(["GuardianTestKit", "GuardianSimulation", "GuardianFuzz"].filter { bytes.range(of: Data($0.utf8)) != nil })
    }

    @Test func guardianLinksNoTestKitNorSimulators() throws {
        #expect(try Self.modules(in: GuardianBinary.path).isEmpty)
        #expect(try Self.modules(in: GuardianBinary.bench) == ["GuardianTestKit", "GuardianSimulation", "GuardianFuzz"])
        let help = try CLITests.guardian(["--help"])
        #expect(help.status == 0 && help.stdout.contains("audit") && !help.stdout.contains("bench"), "\(help.stdout)")
    }
}
