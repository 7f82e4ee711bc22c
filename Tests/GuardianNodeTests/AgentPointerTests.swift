import Foundation
import Testing
@testable import GuardianNode

/// The file a running agent leaves for the CLI: trusted only when it is the caller's, not writable
/// by others, and names a live process of the caller that started when the file says.
@Suite struct AgentPointerTests {
    static func dir() throws -> String {
        let d = FileManager.default.temporaryDirectory.appendingPathComponent("pointer-\(UUID())").path
        try FileManager.default.createDirectory(atPath: d, withIntermediateDirectories: true, attributes: [.posixPermissions: 0o700])
        return d
    }

    @Test func thisProcessIsFoundAndAStalePointerIsNot() throws {
        let d = try Self.dir()
        let env = ["HOME": d]
        let p = AgentPointer(dataDir: d, httpAddr: "https://0.0.0.0:7780", pid: getpid(), ca: "/ca.pem")
        #expect(p.started != nil)
        let written = p.write(environment: env)
        #expect(written.count == 2)
        let read = try #require(AgentPointer.read(d + "/agent.json"))
        #expect(read == p && read.localAddress == "https://127.0.0.1:7780")
        #expect(AgentPointer.read(try #require(AgentPointer.userFile(environment: env))) == p)

        // the same pid with another start time: a reused pid, not the agent
        var reused = p
        reused.started = (p.started ?? 0) + 1
        try JSONEncoder().encode(reused).write(to: URL(fileURLWithPath: d + "/agent.json"))
        #expect(AgentPointer.read(d + "/agent.json") == nil)
        // a pid that no longer runs
        var gone = p
        gone.pid = 2_000_000_000
        try JSONEncoder().encode(gone).write(to: URL(fileURLWithPath: d + "/agent.json"))
        #expect(AgentPointer.read(d + "/agent.json") == nil)
        // a file others may write
        try JSONEncoder().encode(p).write(to: URL(fileURLWithPath: d + "/agent.json"))
        chmod(d + "/agent.json", 0o666)
        #expect(AgentPointer.read(d + "/agent.json") == nil)
        chmod(d + "/agent.json", 0o600)
        #expect(AgentPointer.read(d + "/agent.json") != nil)

        // removal takes only files that still name this agent
        p.remove(environment: env)
        #expect(!FileManager.default.fileExists(atPath: d + "/agent.json"))
        #expect(!FileManager.default.fileExists(atPath: try #require(AgentPointer.userFile(environment: env))))
    }

    @Test func backupFileNamesStayInsideTheDataDirectory() {
        for ok in ["identity.key", "admin.token", "keys/ABC.pub"] { #expect(NodeBackup.safeName(ok), "\(ok)") }
        for bad in ["../identity.key", "keys/../../x.pub", "keys/.pub", "keys/a/b.pub", "/etc/passwd", "guardian.sqlite", "keys/x.key", "mirrors/x"] {
            #expect(!NodeBackup.safeName(bad), "\(bad)")
        }
    }
}
