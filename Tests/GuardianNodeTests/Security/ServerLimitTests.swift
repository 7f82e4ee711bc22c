import Foundation
@testable import GuardianNode
@testable import GuardianStore
import GuardianTestKit
import Testing

/// What a client may hold or send: slow heads and bodies, event streams, oversized fields; and the
/// data directory's permissions.
@Suite(.serialized) struct ServerLimitTests {
    @Test func slowRequestsStreamsAndHugeFieldsAreBounded() async throws {
        let agent = try AgentProcess(binary: GuardianBinary.path)
        try await agent.start(env: ["GUARDIAN_HTTP_IDLE_TIMEOUT_SECONDS": "2", "GUARDIAN_HTTP_REQUEST_TIMEOUT_SECONDS": "3",
                                    "GUARDIAN_MAX_EVENT_STREAMS": "3", "GUARDIAN_MAX_EVENT_STREAMS_PER_TOKEN": "2"])
        defer { agent.stop() }

        // half a request head, then nothing: closed after the idle timeout
        let slowHead = try RawTCP(port: agent.port)
        #expect(slowHead.send(Array("GET /livez HTTP/1.1\r\nHost: 127.0.0.1\r\nX-Slow".utf8)))
        #expect(slowHead.closedByPeer(within: 8), "a half-sent head held its connection")
        // a head byte every second: still closed (the head never completes within the idle timeout)
        let trickle = try RawTCP(port: agent.port)
        var trickleClosed = false
        for byte in Array("GET /livez HTTP/1.1\r\nHost: 127.0.0.1\r\nX-Trickle: aaaaaaaaaaaaaaaaaaaa".utf8) {
            if !trickle.send([byte]) || trickle.closedByPeer(within: 1) { trickleClosed = true; break }
        }
        #expect(trickleClosed, "a head sent a byte a second held its connection")
        // a body that never arrives: closed after the request timeout
        let slowBody = try RawTCP(port: agent.port)
        #expect(slowBody.send(Array("POST /v1/verify HTTP/1.1\r\nHost: 127.0.0.1\r\nAuthorization: Bearer \(agent.adminToken)\r\nContent-Length: 1000\r\n\r\n{".utf8)))
        var bodyClosed = false
        for _ in 0..<10 where !bodyClosed {
            bodyClosed = !slowBody.send([0x20]) || slowBody.closedByPeer(within: 1)
        }
        #expect(bodyClosed, "a body sent a byte a second held its connection")

        // event streams: two per token, three in all, 429 past either
        let viewer = try await AttackKit.token(agent, role: "viewer", team: "t")
        let s1 = try AttackKit.openEvents(agent, token: viewer.secret)
        let s2 = try AttackKit.openEvents(agent, token: viewer.secret)
        let third = try AttackKit.events(agent, token: viewer.secret, seconds: 5) { $0.contains("}}") }
        #expect(third.status == 429 && third.text.contains("too_many_streams"), "\(third.text)")
        let s3 = try AttackKit.openEvents(agent, token: agent.adminToken)
        let fourth = try AttackKit.events(agent, token: agent.adminToken, seconds: 5) { $0.contains("}}") }
        #expect(fourth.status == 429, "\(fourth.text)")
        withExtendedLifetime((s2, s3)) {}
        // a client that goes frees its slot: the viewer opens a stream again once s1 is closed
        _ = consume s1
        try await AttackKit.eventually("the closed stream's slot is freed (within two keep-alives)", seconds: 60) {
            (try AttackKit.events(agent, token: viewer.secret, seconds: 2) { $0.contains(": guardian events") || $0.contains("}}") }).status == 200
        }

        // a 900 KB name, and ids that are not names, are refused with the field named
        let repo = try AgentIntegrationTests.fixture()
        let huge = try await agent.json("POST", "/v1/projects", ["repositoryUrl": repo.path, "name": String(repeating: "n", count: 900_000)])
        #expect(huge.status == 400 && (huge.json["error"] as? [String: Any])?["code"] as? String == "invalid_field", "\(huge.text.prefix(300))")
        #expect(try await agent.json("POST", "/v1/projects", ["repositoryUrl": repo.path, "team": "../x"]).status == 400)
        #expect(try await agent.json("POST", "/v1/tokens", ["role": "viewer", "team": "a/b"]).status == 400)
        #expect(try await agent.request("PUT", "/v1/teams/..%2Fx", body: Data("{}".utf8)).status == 400)
        #expect(try await agent.json("POST", "/v1/projects", ["repositoryUrl": repo.path, "webhookSecret": String(repeating: "s", count: 5000)]).status == 400)
        #expect((try await agent.request("GET", "/v1/projects").json["items"] as? [Any])?.isEmpty == true, "a refused registration left a project")
    }

    @Test func theDataDirectoryIsTheOwnersAlone() async throws {
        let agent = try AgentProcess(binary: GuardianBinary.path)
        try await agent.start()
        agent.stop()
        func mode(_ p: String) throws -> Int { try #require((try FileManager.default.attributesOfItem(atPath: p))[.posixPermissions] as? Int) }
        let files = ["guardian.sqlite", "identity.key", "identity.pub", "secret.key", "admin.token"]
        #expect(try mode(agent.dataDir) == 0o700)
        for f in files { #expect(try mode(agent.dataDir + "/" + f) == 0o600, "\(f)") }
        // loosened (an older version, a backup restored with another umask): tightened on the next start
        chmod(agent.dataDir, 0o755)
        for f in files { chmod(agent.dataDir + "/" + f, 0o644) }
        try await agent.start()
        defer { agent.stop() }
        #expect(try mode(agent.dataDir) == 0o700)
        for f in files { #expect(try mode(agent.dataDir + "/" + f) == 0o600, "\(f)") }
        #expect(agent.output.contains("tightened the permissions of \(agent.dataDir)/guardian.sqlite"))
        // what the running agent creates is private too
        let repo = try AgentIntegrationTests.fixture()
        let r = try await agent.json("POST", "/v1/projects", ["repositoryUrl": repo.path, "name": "perm"])
        let id = try #require(r.json["id"] as? String)
        _ = try await agent.waitForResult(project: id)
        #expect(try mode(agent.dataDir + "/mirrors/\(id).git") & 0o077 == 0)
        #expect(try mode(agent.dataDir + "/guardian.sqlite-wal") & 0o077 == 0)
    }
}
