import Foundation
import GuardianCore
import Testing
@testable import GuardianNode
@testable import GuardianStore

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

    /// The key from a file (a container secret, a systemd credential), trimmed; a file that cannot
    /// be read, an empty one, or a key given twice stops the start.
    @Test func clusterKeyFromAFile() throws {
        let dir = FileManager.default.temporaryDirectory.appendingPathComponent("keyfile-\(UUID())").path
        try FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true)
        try Data("  abc123=\n".utf8).write(to: URL(fileURLWithPath: dir + "/key"))
        let c = try AgentConfig.resolve(flags: .init(), environment: ["GUARDIAN_CLUSTER_KEY_FILE": dir + "/key"], file: nil)
        #expect(c.clusterKey == "abc123=")
        #expect(throws: GuardianError.self) { try AgentConfig.resolve(flags: .init(), environment: ["GUARDIAN_CLUSTER_KEY_FILE": dir + "/none"], file: nil) }
        try Data("\n".utf8).write(to: URL(fileURLWithPath: dir + "/empty"))
        #expect(throws: GuardianError.self) { try AgentConfig.resolve(flags: .init(), environment: ["GUARDIAN_CLUSTER_KEY_FILE": dir + "/empty"], file: nil) }
        #expect(throws: GuardianError.self) {
            try AgentConfig.resolve(flags: .init(clusterKey: "k"), environment: ["GUARDIAN_CLUSTER_KEY_FILE": dir + "/key"], file: nil)
        }
    }

    @Test func logAndTLSSettingsAreChecked() throws {
        let c = try AgentConfig.resolve(flags: .init(logLevel: "debug"), environment: ["GUARDIAN_LOG_LEVEL": "error", "GUARDIAN_LOG_FORMAT": "json"], file: nil)
        #expect(c.logLevel == "debug" && c.logFormat == "json") // the flag beats the environment
        for env in [["GUARDIAN_LOG_LEVEL": "verbose"], ["GUARDIAN_LOG_FORMAT": "xml"], ["GUARDIAN_TLS_CERT": "/c.pem"],
                    ["GUARDIAN_TLS_KEY": "/k.pem"], ["GUARDIAN_TLS_CA": "/ca.pem"]] {
            #expect(throws: GuardianError.self, "\(env)") { try AgentConfig.resolve(flags: .init(), environment: env, file: nil) }
        }
        let tls = try AgentConfig.resolve(flags: .init(), environment: ["GUARDIAN_TLS_CERT": "/c.pem", "GUARDIAN_TLS_KEY": "/k.pem"], file: nil)
        #expect(tls.httpScheme == "https" && AgentConfig().httpScheme == "http")
    }

    /// Every setting of the file has its `GUARDIAN_*` variable, and the variable sets it.
    @Test func everySettingHasAnEnvironmentVariable() throws {
        let encoded = try JSONSerialization.jsonObject(with: JSONEncoder().encode(AgentConfig())) as? [String: Any] ?? [:]
        var keys = Set(encoded.keys)
        keys.formUnion(["cluster_key", "advertise_addr", "cluster_key_file", "tls_cert", "tls_key", "tls_ca"]) // nil by default, so not encoded
        let variables = Set(AgentConfig.variables)
        #expect(keys.count > 30)
        for key in keys { #expect(variables.contains("GUARDIAN_" + key.uppercased()), "no variable for \(key)") }
        let env = ["GUARDIAN_QUEUE_CAPACITY": "7", "GUARDIAN_PUBLIC_METRICS": "off", "GUARDIAN_MAX_BODY_BYTES": "4096",
                   "GUARDIAN_DEFAULT_SCHEDULE_SECONDS": "0", "GUARDIAN_TAGS": "team=red, site=lab", "GUARDIAN_JOIN": "10.0.0.1:7946, ",
                   "GUARDIAN_DISCOVERY_PORT": "9000", "GUARDIAN_CLUSTER_KEY": "k", "GUARDIAN_NAME": ""]
        let c = try AgentConfig.resolve(flags: .init(), environment: env, file: nil)
        #expect(c.queueCapacity == 7 && !c.publicMetrics && c.maxBodyBytes == 4096 && c.defaultScheduleSeconds == 0)
        #expect(c.tags == ["team": "red", "site": "lab"] && c.join == ["10.0.0.1:7946"] && c.discoveryPort == 9000)
        #expect(c.clusterKey == "k" && c.name == AgentConfig().name, "an empty variable counts as unset")
    }

    /// A refused value names its setting, from the environment and from the file alike.
    @Test func refusalsNameTheSetting() throws {
        for (variable, value) in [("GUARDIAN_DISCOVERY_PORT", "70000"), ("GUARDIAN_PUBLIC_METRICS", "maybe"), ("GUARDIAN_TAGS", "novalue"),
                                  ("GUARDIAN_MAX_BODY_BYTES", "0")] {
            do {
                _ = try AgentConfig.resolve(flags: .init(), environment: [variable: value], file: nil)
                Issue.record("\(variable)=\(value) was accepted")
            } catch let e as GuardianError {
                #expect(e.description.contains(variable), "\(e.description)")
            }
        }
        let file = FileManager.default.temporaryDirectory.appendingPathComponent("cfg-\(UUID()).yaml")
        try Data("replication_factor: 0\n".utf8).write(to: file)
        defer { try? FileManager.default.removeItem(at: file) }
        do {
            _ = try AgentConfig.resolve(flags: .init(), environment: [:], file: file.path)
            Issue.record("replication_factor 0 was accepted")
        } catch let e as GuardianError {
            #expect(e.description.contains("replication_factor"), "\(e.description)")
        }
    }
}
