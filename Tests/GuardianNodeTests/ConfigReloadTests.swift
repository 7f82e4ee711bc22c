import Foundation
import GuardianTestKit
import Testing

/// SIGHUP re-reads the configuration of a running agent (`Node.reload`): the queue's limits apply at
/// once, a file that does not resolve changes nothing, and both outcomes are on `/metrics`.
@Suite struct ConfigReloadTests {
    @Test func sighupAppliesTheQueueLimitsAndKeepsTheRunningConfigurationOnABadFile() async throws {
        let agent = try AgentProcess(binary: GuardianBinary.path)
        let file = agent.dataDir + "-config.json"
        defer { try? FileManager.default.removeItem(atPath: file) }
        try Data(#"{"max_concurrent_audits": 1, "queue_capacity": 10, "http_addr": "not-an-address"}"#.utf8).write(to: URL(fileURLWithPath: file))
        try await agent.start(extraArgs: ["--config", file])
        #expect(try await agent.requireMetric("guardian_config_last_reload_successful") == 1, "the load at start counts as a success")
        #expect(try await agent.requireMetric("guardian_audit_concurrency_limit") == 1)
        #expect(try await agent.requireMetric("guardian_config_reloads_total", labels: #"result="failure""#) == 0)

        // a file that is not JSON: refused, the running limits stay, the agent keeps serving
        try Data("{ not json".utf8).write(to: URL(fileURLWithPath: file))
        kill(agent.pid, SIGHUP)
        try await eventually("the failed reload is counted") {
            try await agent.requireMetric("guardian_config_reloads_total", labels: #"result="failure""#) == 1
        }
        #expect(try await agent.requireMetric("guardian_config_last_reload_successful") == 0)
        #expect(try await agent.requireMetric("guardian_audit_concurrency_limit") == 1)
        #expect(try await agent.request("GET", "/livez").status == 200)

        // a value out of range is refused the same way, naming nothing new
        try Data(#"{"max_concurrent_audits": 0}"#.utf8).write(to: URL(fileURLWithPath: file))
        kill(agent.pid, SIGHUP)
        try await eventually("the out-of-range reload is counted") {
            try await agent.requireMetric("guardian_config_reloads_total", labels: #"result="failure""#) == 2
        }
        #expect(try await agent.requireMetric("guardian_audit_concurrency_limit") == 1)

        // a good file: the new limits apply at once. Its http_addr is not an address, as in the first
        // file: the command line's --http-addr overrides it at start and must on reload too
        try Data(#"{"max_concurrent_audits": 3, "queue_capacity": 40, "http_addr": "not-an-address"}"#.utf8).write(to: URL(fileURLWithPath: file))
        kill(agent.pid, SIGHUP)
        try await eventually("the reload applies") {
            try await agent.requireMetric("guardian_config_last_reload_successful") == 1
        }
        #expect(try await agent.requireMetric("guardian_audit_concurrency_limit") == 3)
        #expect(try await agent.requireMetric("guardian_audit_queue_capacity") == 40)
        #expect(try await agent.requireMetric("guardian_config_reloads_total", labels: #"result="success""#) >= 1)
        #expect(await agent.stopGracefully(), "the agent still stops cleanly after reloads")
    }
}
