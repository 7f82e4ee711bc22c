import Foundation
@testable import GuardianNode
@testable import GuardianStore
import GuardianTestKit
import Testing

/// A maintainer of team B against team A on the same node: the event stream, and registrations
/// that would read A's repository, the node's own files, or probe the node's network.
@Suite(.serialized) struct IsolationAttackTests {
    @Test func eventStreamsCarryOnlyWhatTheTokenMayRead() async throws {
        let repoA = try AgentIntegrationTests.fixture(), repoB = try AgentIntegrationTests.fixture()
        let agent = try AgentProcess(binary: GuardianBinary.path)
        try await agent.start()
        defer { agent.stop() }
        let maintainerB = try await AttackKit.token(agent, role: "maintainer", team: "team-b")
        let a = try await agent.json("POST", "/v1/projects", ["repositoryUrl": repoA.path, "name": "alpha-secret-name", "team": "team-a"])
        let idA = try #require(a.json["id"] as? String)
        _ = try await agent.waitForResult(project: idA)
        let b = try await agent.json("POST", "/v1/projects", ["repositoryUrl": repoB.path, "name": "bravo", "team": "team-b"])
        let idB = try #require(b.json["id"] as? String, "\(b.text)")
        _ = try await agent.waitForResult(project: idB)

        // B's replay from the start: B's events, none of A's (A's all came first)
        let replayB = try AttackKit.events(agent, token: maintainerB.secret, lastEventID: 0, seconds: 10) { $0.contains("audit.finished") && $0.contains(idB) }
        #expect(replayB.status == 200)
        #expect(replayB.text.contains(idB) && replayB.text.contains("audit.finished"), "\(replayB.text.prefix(2000))")
        #expect(!replayB.text.contains(idA), "team B's stream carried team A's project")
        // the admin's replay has both
        let replayAdmin = try AttackKit.events(agent, token: agent.adminToken, lastEventID: 0, seconds: 10) { $0.contains(idA) && $0.contains(idB) }
        #expect(replayAdmin.text.contains(idA) && replayAdmin.text.contains(idB))

        // live: B's stream is open (the agent wrote its preamble), then A and B are audited, A first;
        // B sees its own audit finish and nothing of A's
        let stream = try AttackKit.openEvents(agent, token: maintainerB.secret)
        let ta = try await agent.request("POST", "/v1/projects/\(idA)/audits")
        _ = try await agent.waitForTask(try #require(ta.json["taskId"] as? String))
        let tb = try await agent.request("POST", "/v1/projects/\(idB)/audits", token: maintainerB.secret)
        let taskB = try #require(tb.json["taskId"] as? String)
        _ = try await agent.waitForTask(taskB)
        let seen = await AttackKit.read(stream, seconds: 30) { $0.contains("audit.finished") && $0.contains(taskB) }
        #expect(seen.contains(taskB), "B's live stream did not see B's audit: \(seen.prefix(1000))")
        #expect(!seen.contains(idA), "B's live stream carried A's audit")
    }

    @Test func registrationsCannotReachLocalFilesOrProbeTheNetwork() async throws {
        let repoA = try AgentIntegrationTests.fixture()
        let agent = try AgentProcess(binary: GuardianBinary.path)
        try await agent.start()
        defer { agent.stop() }
        let a = try await agent.json("POST", "/v1/projects", ["repositoryUrl": repoA.path, "name": "alpha", "team": "team-a"])
        let idA = try #require(a.json["id"] as? String)
        _ = try await agent.waitForResult(project: idA)
        let maintainerB = try await AttackKit.token(agent, role: "maintainer", team: "team-b")

        func register(_ url: String, token: String) async throws -> AgentProcess.Reply {
            try await agent.json("POST", "/v1/projects", ["repositoryUrl": url, "name": "probe", "team": "team-b"], token: token)
        }
        // a maintainer: no local path, whether it exists or not, and not A's mirror
        var messages: Set<String> = []
        for url in [repoA.path, repoA.path + "-missing", "/etc", "file://\(repoA.path)", agent.dataDir + "/mirrors/\(idA).git",
                    "file://\(agent.dataDir)/mirrors/\(idA).git", "relative/path"] {
            let r = try await register(url, token: maintainerB.secret)
            #expect(r.status == 400 && (r.json["error"] as? [String: Any])?["code"] as? String == "repository_not_allowed", "\(url): \(r.text)")
            messages.insert(((r.json["error"] as? [String: Any])?["message"] as? String) ?? "")
        }
        #expect(messages.count == 1, "the refusals differ and so tell what exists: \(messages)")
        // an admin: not outside the allowed roots, not inside the data directory
        for url in ["/etc", "/tmp/../etc", agent.dataDir + "/mirrors/\(idA).git", agent.dataDir] {
            let r = try await register(url, token: agent.adminToken)
            #expect(r.status == 400 && (r.json["error"] as? [String: Any])?["message"] as? String == messages.first, "\(url): \(r.text)")
        }
        // schemes other than https, ssh and git are refused by default
        #expect(try await register("http://127.0.0.1:\(agent.port)/x.git", token: maintainerB.secret).status == 400)

        // a remote URL is read at registration (an ls-remote), and refused the same way whether the port is open or closed
        var errors: [String] = []
        for url in ["https://127.0.0.1:1/x.git", "https://127.0.0.1:\(agent.port)/y.git"] {
            let r = try await register(url, token: maintainerB.secret)
            #expect(r.status == 400 && (r.json["error"] as? [String: Any])?["code"] as? String == "repository_unreadable", "\(url): \(r.text)")
            errors.append((((r.json["error"] as? [String: Any])?["message"] as? String) ?? "").replacingOccurrences(of: url, with: "URL"))
        }
        // a server that accepts and never answers (libgit2 waits on it for ever): the same refusal, at the deadline
        let silent = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
        defer { close(silent) }
        var addr = sockaddr_in()
        addr.sin_family = sa_family_t(AF_INET)
        addr.sin_addr.s_addr = inet_addr("127.0.0.1")
        var size = socklen_t(MemoryLayout<sockaddr_in>.size)
        _ = withUnsafePointer(to: &addr) { $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { bind(silent, $0, size) } }
        #expect(listen(silent, 8) == 0)
        _ = withUnsafeMutablePointer(to: &addr) { $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { getsockname(silent, $0, &size) } }
        let silentURL = "https://127.0.0.1:\(UInt16(bigEndian: addr.sin_port))/z.git"
        // (the request itself gives up after 30 s: an answer at all is the deadline's)
        let hung = try await register(silentURL, token: maintainerB.secret)
        #expect(hung.status == 400, "\(hung.text)")
        errors.append((((hung.json["error"] as? [String: Any])?["message"] as? String) ?? "").replacingOccurrences(of: silentURL, with: "URL"))
        #expect(Set(errors).count == 1, "the refusals tell an open port, a closed one and a silent one apart: \(errors)")
        #expect(!errors[0].isEmpty)
    }
}
