import Foundation
import GuardianTestKit
import Testing
import Yams

/// What CI systems run (docs/ci.md): the pre-commit hook on a real clone, the GitHub Action's
/// definition, and GitLab's report format from the command line.
struct CIIntegrationTests {
    static var root: String { URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent().path }

    /// A clone of a repository whose default branch has one high finding, on a new branch.
    static func clone() throws -> FixtureRepo {
        let origin = try AgentIntegrationTests.fixture()
        let clone = try FixtureRepo(initGit: false)
        _ = try clone.git("clone", "-q", origin.path, ".")
        _ = try clone.git("checkout", "-q", "-b", "topic")
        return clone
    }

    func hook(_ dir: String, env: [String: String] = [:]) throws -> CommandResult {
        try CommandRunner.run(Self.root + "/scripts/pre-commit-guardian.sh", ["--format", "json", "--no-cache"], cwd: dir,
                              env: ["GUARDIAN": GuardianBinary.path, "PATH": "/usr/bin:/bin"].merging(env) { _, b in b })
    }

    @Test func thePrePushHookFailsOnlyOnNewFindingsOfThePushedCommits() throws {
        let clone = try Self.clone()
        let dir = clone.path
        try clone.write("docs/notes.md", "# Notes\n")
        _ = try clone.commit("docs: notes")
        let clean = try hook(dir)
        #expect(clean.status == 0, "the finding already on main is not the push's: \(clean.stderr)")
        try clone.write("app/run.py", "import os\n\n\ndef go(request):\n    \"\"\"Go.\"\"\"\n    os.system(request.path)\n")
        let sha = try clone.commit("feat: run")
        let dirty = try hook(dir)
        #expect(dirty.status == 1, "a new high finding fails the gate: \(dirty.stdout.prefix(400)) \(dirty.stderr)")
        let report = try #require(try JSONSerialization.jsonObject(with: Data(dirty.stdout.utf8)) as? [String: Any])
        let strict = (report["magicResults"] as? [String: Any])?["strict"] as? [String: Any]
        let files = ((strict?["violations"] as? [[String: Any]]) ?? []).compactMap { $0["file"] as? String }
        #expect(files == ["app/run.py"], "only the new finding is reported: \(files)")
        // pre-commit's pushed range: from the remote's commit to the new one
        let ranged = try hook(dir, env: ["PRE_COMMIT_FROM_REF": try clone.git("rev-parse", "HEAD~1").trimmingCharacters(in: .whitespacesAndNewlines),
                                         "PRE_COMMIT_TO_REF": sha])
        #expect(ranged.status == 1)
    }

    @Test func theActionAndTheHookDefinitionsAreWhatTheirRunnersRead() throws {
        let action = try #require(try Yams.load(yaml: String(contentsOfFile: Self.root + "/action.yml", encoding: .utf8)) as? [String: Any])
        let runs = try #require(action["runs"] as? [String: Any])
        #expect(runs["using"] as? String == "composite")
        let steps = try #require(runs["steps"] as? [[String: Any]])
        #expect(steps.allSatisfy { $0["uses"] != nil || $0["shell"] != nil }, "a composite run step names its shell")
        #expect(steps.contains { ($0["uses"] as? String)?.hasPrefix("github/codeql-action/upload-sarif@") == true })
        let audit = try #require(steps.first { ($0["run"] as? String)?.contains("audit . --baseline") == true })
        #expect(!(audit["run"] as? String ?? "").contains("${{"), "inputs reach the script through env, never spliced into it")
        let hooks = try #require(try Yams.load(yaml: String(contentsOfFile: Self.root + "/.pre-commit-hooks.yaml", encoding: .utf8)) as? [[String: Any]])
        #expect(hooks.first?["id"] as? String == "guardian-audit" && hooks.first?["entry"] as? String == "scripts/pre-commit-guardian.sh")
        #expect(FileManager.default.isExecutableFile(atPath: Self.root + "/scripts/pre-commit-guardian.sh"))
    }
}
