import Foundation
import GuardianCore
import Testing
@testable import GuardianNode

@Suite struct AgentConfigTests {
    static let configs = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
        .deletingLastPathComponent().appendingPathComponent("configs")

    @Test func defaults() throws {
        let c = try AgentConfig.resolve(flags: .init(), environment: [:], file: nil)
        #expect(c.httpAddr == "127.0.0.1:7780")
        #expect(c.maxConcurrentAudits == 2)
    }

    @Test(arguments: ["agent.json", "agent.yaml"])
    func shippedExamplesParse(name: String) throws {
        let c = try AgentConfig.resolve(flags: .init(), environment: [:], file: Self.configs.appendingPathComponent(name).path)
        #expect(c.dataDir == "/var/lib/guardian")
        #expect(c.name == "team-server-1")
        #expect(c.gossipAddr == "0.0.0.0:7946")
        #expect(c.join == ["10.0.0.12:7946"] && c.advertiseAddr == "10.0.0.11:7946")
        #expect(c.tags == ["team": "platform", "site": "hq", "capacity": "2"])
        #expect(c.clusterKey == nil && c.probeIntervalMs == 1000 && c.pushPullSeconds == 30)
    }

    @Test func precedenceFlagsThenEnvironmentThenFile() throws {
        let file = Self.configs.appendingPathComponent("agent.yaml").path
        let env = ["GUARDIAN_HTTP_ADDR": "127.0.0.1:9000", "GUARDIAN_NAME": "from-env", "GUARDIAN_MAX_CONCURRENT_AUDITS": "4"]
        let c = try AgentConfig.resolve(flags: .init(name: "from-flag"), environment: env, file: file)
        #expect(c.name == "from-flag")               // flag beats environment
        #expect(c.httpAddr == "127.0.0.1:9000")      // environment beats file
        #expect(c.maxConcurrentAudits == 4)
        #expect(c.dataDir == "/var/lib/guardian")    // file beats default
    }

    @Test func badValuesAreClearErrors() throws {
        #expect(throws: GuardianError.self) { try AgentConfig.resolve(flags: .init(httpAddr: "nope"), environment: [:], file: nil) }
        #expect(throws: GuardianError.self) { try AgentConfig.resolve(flags: .init(), environment: ["GUARDIAN_MAX_CONCURRENT_AUDITS": "0"], file: nil) }
        #expect(throws: GuardianError.self) { try AgentConfig.resolve(flags: .init(), environment: [:], file: "/no/such.yaml") }
        let bad = FileManager.default.temporaryDirectory.appendingPathComponent("bad-\(UUID()).json")
        try Data("{\"http_addr\": 5}".utf8).write(to: bad)
        defer { try? FileManager.default.removeItem(at: bad) }
        #expect(throws: GuardianError.self) { try AgentConfig.resolve(flags: .init(), environment: [:], file: bad.path) }
    }
}
