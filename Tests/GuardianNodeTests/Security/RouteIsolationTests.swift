import Foundation
import GuardianCrypto
import GuardianTestKit
import Testing

/// For every route in `docs/openapi.yaml`, a viewer and a maintainer of team B, given team A's ids,
/// get nothing of team A's: not its project's name, repository or findings, on one agent and
/// through a member of a three-agent mesh that forwards to A's owner; and nothing of A's changes.
@Suite(.serialized) struct RouteIsolationTests {
    /// Team A's project, with strings that appear nowhere but in A's data.
    struct TeamA {
        var project: String
        var result: String
        var task: String
        var secrets: [String]
    }

    static func seedTeamA(_ agent: AgentProcess) async throws -> TeamA {
        let repo = try FixtureRepo()
        try repo.write("alpha_secret_module.py", "import os\n\n\ndef alpha_secret_function(c):\n    \"\"\"Run.\"\"\"\n    os.system(c)  # TODO alpha secret todo\n")
        try repo.commit("feat: alpha")
        // the id is made from the name (a slug): the name's "·" never reaches it, so the name itself is a secret to look for
        let r = try await agent.json("POST", "/v1/projects", ["repositoryUrl": repo.path, "name": "Alpha·Secret·Name", "team": "team-a",
                                                             "webhookSecret": "alpha-hook-secret"])
        let project = try #require(r.json["id"] as? String, "\(r.text)")
        let status = try await agent.waitForResult(project: project)
        let t = try await agent.request("POST", "/v1/projects/\(project)/audits")
        let task = try #require(t.json["taskId"] as? String)
        _ = try await agent.waitForTask(task)
        return TeamA(project: project, result: try #require(status["resultId"] as? String), task: task,
                     secrets: ["Alpha·Secret·Name", "Alpha\\u00b7Secret", (repo.path as NSString).lastPathComponent, "alpha_secret_module", "alpha_secret_function",
                               "alpha secret todo"])
    }

    /// Every route with A's ids, as each of B's tokens; returns how many requests were sent. Each
    /// token must authenticate on `front` before and after: refusals of a token that works nowhere
    /// would prove nothing.
    static func sweep(_ front: AgentProcess, _ a: TeamA, tokens: [String], members: [String]) async throws -> Int {
        for token in tokens {
            let r = try await front.request("GET", "/v1/projects", token: token)
            #expect(r.status == 200 && (r.json["items"] as? [Any]) != nil, "team B's token does not work here: \(r.status) \(r.text)")
        }
        // B's own project, registered after A's: its event ends the replay B reads from /v1/events,
        // so the stream is read to its end (and is shown to work for B) rather than for a fixed time
        let repo = try FixtureRepo()
        try repo.write("b.py", "def b():\n    return 1\n")
        try repo.commit("feat: b")
        // (a local repository takes an admin token)
        let registered = try await front.json("POST", "/v1/projects", ["repositoryUrl": repo.path, "team": "team-b"])
        let marker = try #require(registered.json["id"] as? String, "team B could not register its own project: \(registered.status) \(registered.text)")
        let sent = try await sweepRoutes(front, a, tokens: tokens, members: members, marker: marker)
        for token in tokens {
            #expect(try await front.request("GET", "/v1/projects", token: token).status == 200, "team B's token stopped working during the sweep")
        }
        return sent
    }

    static func sweepRoutes(_ front: AgentProcess, _ a: TeamA, tokens: [String], members: [String], marker: String) async throws -> Int {
        let routes = try OpenAPIRoutes().operations
        var sent = 0
        for op in routes {
            var values: [String: String] = [:]
            for p in op.pathParameters {
                switch p {
                case "task": values[p] = a.task
                case "project": values[p] = a.project
                case "name": values[p] = members.first ?? "x"
                default: values[p] = op.path.hasPrefix("/v1/results") ? a.result : op.path.hasPrefix("/v1/teams") ? "team-a" : a.project
                }
            }
            var path = OpenAPIRoutes.fill(op.path, values)
            if op.query.contains(where: { $0.name == "key" }) { path += "?key=\(a.project)" }
            if op.query.contains(where: { $0.name == "project" }) { path += "?project=\(a.project)" }
            let bodies: [String: [String: Any]] = [
                "PATCH /v1/projects/{id}": ["name": "taken-over", "team": "team-b"],
                "POST /v1/projects": ["repositoryUrl": "file:///", "team": "team-a"],
                "POST /v1/tokens": ["role": "maintainer", "team": "team-a"],
                "PUT /v1/teams/{id}": ["strictness": 0.1],
            ]
            for token in tokens {
                let body = bodies["\(op.method) \(op.path)"].flatMap { try? JSONSerialization.data(withJSONObject: $0) }
                let reply: AgentProcess.Reply
                if op.path == "/v1/events" {
                    let e = try AttackKit.events(front, token: token, lastEventID: 0, seconds: 20) { $0.contains(marker) }
                    #expect(e.text.contains(marker), "team B's own event never arrived, so the replay was not read to its end: \(e.text.prefix(300))")
                    reply = AgentProcess.Reply(status: try #require(e.status, "no answer from /v1/events"), body: Data(e.text.utf8), headers: [:])
                } else {
                    reply = try await front.request(op.method, path, body: body ?? (op.method == "GET" || op.method == "DELETE" ? nil : Data("{}".utf8)),
                                                    token: token)
                }
                sent += 1
                for s in a.secrets {
                    #expect(!reply.text.contains(s), "\(op.method) \(path) gave team B '\(s)': \(reply.status) \(reply.text.prefix(300))")
                }
                // A's ids too, unless B put them in the request (an error may name what was asked for)
                for id in [a.project, a.result, a.task] where !path.contains(id) {
                    #expect(!reply.text.contains(id), "\(op.method) \(path) gave team B A's id \(id): \(reply.status) \(reply.text.prefix(300))")
                }
                // A's own routes answer B as if A's project did not exist (or refuse it)
                if values.values.contains(a.project) || values.values.contains(a.result) || values.values.contains(a.task) || values["id"] == "team-a" {
                    #expect([401, 403, 404].contains(reply.status) || op.path.hasPrefix("/v1/hooks"),
                            "\(op.method) \(path) answered team B \(reply.status): \(reply.text.prefix(200))")
                }
                #expect(reply.status < 500, "\(op.method) \(path): \(reply.status)")
            }
        }
        return sent
    }

    static func unchanged(_ agent: AgentProcess, _ a: TeamA) async throws {
        let p = try await agent.request("GET", "/v1/projects/\(a.project)")
        #expect(p.status == 200 && p.json["name"] as? String == "Alpha·Secret·Name" && p.json["team"] as? String == "team-a", "\(p.text)")
        #expect(try await agent.request("GET", "/v1/results/\(a.result)").status == 200)
        #expect(try await agent.request("GET", "/v1/teams/team-a").json["profile"] != nil)
    }

    @Test func teamBGetsNothingOfTeamAOnOneAgent() async throws {
        let agent = try AgentProcess(binary: GuardianBinary.path)
        try await agent.start()
        defer { agent.stop() }
        let a = try await Self.seedTeamA(agent)
        let viewer = try await AttackKit.token(agent, role: "viewer", team: "team-b")
        let maintainer = try await AttackKit.token(agent, role: "maintainer", team: "team-b")
        let sent = try await Self.sweep(agent, a, tokens: [viewer.secret, maintainer.secret], members: ["x"])
        #expect(sent > 60)
        try await Self.unchanged(agent, a)
    }

    @Test func teamBGetsNothingOfTeamAThroughAForwardingMember() async throws {
        let agents = try await AttackKit.threeAgents(key: ClusterKeyring.generate())
        defer { for a in agents.values { a.stop() } }
        let x = try #require(agents["alpha"])
        let a = try await Self.seedTeamA(x)
        let (ownerAgent, owner, others) = try await AttackKit.owner(of: a.project, in: agents)
        let front = others[0]
        let viewer = try await AttackKit.token(x, role: "viewer", team: "team-b")
        let maintainer = try await AttackKit.token(x, role: "maintainer", team: "team-b")
        try await AttackKit.eventually("the registry reached the front member") {
            let tokenThere = try await front.request("GET", "/v1/projects", token: maintainer.secret).status == 200
            let projectThere = try await front.request("GET", "/v1/projects/\(a.project)").status == 200
            return tokenThere && projectThere
        }
        // the front node forwards A's data routes to the owner: B's tokens still get nothing
        let forwarded = try await front.request("GET", "/v1/projects/\(a.project)/audit-status")
        #expect(forwarded.headers["x-guardian-served-by"] == owner, "the sweep would not go through forwarding: \(forwarded.headers)")
        let sent = try await Self.sweep(front, a, tokens: [viewer.secret, maintainer.secret], members: ["alpha", "bravo", "charlie"])
        #expect(sent > 60)
        try await Self.unchanged(ownerAgent, a)
    }
}
