import Foundation
import GuardianTestKit
import Testing

/// The CLI's client verbs against a real agent: they decode the API's own response types
/// (GuardianHTTP's Models.swift), and `audit --remote` takes its exit code from the result's gate.
@Suite struct CLIClientTests {
    static func cli(_ agent: AgentProcess, _ args: [String]) throws -> CommandResult {
        try CommandRunner.run(GuardianBinary.path, args + ["--http-addr", "127.0.0.1:\(agent.port)", "--data-dir", agent.dataDir])
    }

    @Test func statusResultsAndRemoteAuditReadTheAPIsTypes() async throws {
        let agent = try AgentProcess(binary: GuardianBinary.path)
        try await agent.start()
        defer { agent.stop() }
        let repo = try FixtureRepo()
        // a hard-coded secret fails the strict gate: the remote audit must exit 1
        try repo.write("config.py", "PASSWORD = \"hunter2-very-secret-value\"\n\n\ndef run(cmd):\n    \"\"\"Run.\"\"\"\n    return cmd\n")
        let head = try repo.commit("feat: config")
        let r = try await agent.json("POST", "/v1/projects", ["repositoryUrl": repo.path, "name": "cli-client"])
        let project = try #require(r.json["id"] as? String, "\(r.text)")
        let first = try await agent.waitForResult(project: project)
        let gatePassed = try #require((first["gate"] as? [String: Any])?["passed"] as? Bool, "the status has no gate: \(first)")
        #expect(!gatePassed, "the fixture's hard-coded secret fails the gate, so the exit code below is 1")

        let status = try Self.cli(agent, ["status", project])
        #expect(status.status == 0, "\(status.stderr)")
        #expect(status.stdout.contains("project:  cli-client (\(project))"), "\(status.stdout)")
        #expect(status.stdout.contains("at \(head.prefix(12))"), "\(status.stdout)")
        #expect(status.stdout.contains("gate:     \(gatePassed ? "passed" : "failed")"), "\(status.stdout)")
        #expect(status.stdout.components(separatedBy: " findings").count - 1 == 8, "one line per check: \(status.stdout)")

        let node = try Self.cli(agent, ["status"])
        #expect(node.status == 0 && node.stdout.hasPrefix("node ") && node.stdout.contains("results 1"), "\(node.stdout) \(node.stderr)")

        let results = try Self.cli(agent, ["results", project])
        let resultId = try #require(first["resultId"] as? String)
        #expect(results.status == 0 && results.stdout.contains("\(resultId)  signed by "), "\(results.stdout) \(results.stderr)")

        let remote = try Self.cli(agent, ["audit", "--remote", project])
        #expect(remote.status == (gatePassed ? 0 : 1), "exit \(remote.status): \(remote.stdout) \(remote.stderr)")
        #expect(remote.stdout.contains("gate:"), "\(remote.stdout)")

        // a project that does not exist: the API's message, exit non-zero
        let missing = try Self.cli(agent, ["status", "no-such-project"])
        #expect(missing.status != 0 && missing.stderr.contains("404"), "\(missing.stdout) \(missing.stderr)")
    }
}
