import Foundation
import GuardianCrypto
import GuardianFuzz
import GuardianMesh
import GuardianTestKit
import Testing

/// A seeded, schema-aware fuzz pass over every route of `docs/openapi.yaml`, on one agent and
/// through a mesh member that forwards: parameters and bodies built from the schemas, then bent
/// (wrong types, missing and extra fields, hostile strings, huge values, bytes that are not JSON),
/// sent with every kind of caller. No answer may be a 5xx and the agents must keep serving. Every
/// repository URL a registration can reach is on loopback (`repository_hosts_allow`), and a join
/// names only loopback addresses: the pass sends nothing off this machine.
@Suite(.serialized) struct HTTPFuzzTests {
    static let seed: UInt64 = TestSeeds.or([20261202])[0]
    static let requests = ProcessInfo.processInfo.environment["HTTP_FUZZ_REQUESTS"].flatMap(Int.init) ?? 400

    static let env = ["GUARDIAN_REPOSITORY_HOSTS_ALLOW": "127.0.0.1,localhost", "GUARDIAN_DISCOVERY": "off",
                      "GUARDIAN_REPOSITORY_SCHEMES": "https,ssh,git,http"]

    /// Valid values the generator mixes in, so that requests also reach past the "not found" answers.
    struct Known {
        var projects: [String] = []
        var tasks: [String] = []
        var results: [String] = []
        var tokens: [String: String] = [:] // kind -> secret
        var tokenIDs: [String] = []
        var teams = ["t", "default"]
        var members: [String] = []
    }

    static func setUp(_ agent: AgentProcess) async throws -> Known {
        var k = Known()
        let repo = try AgentIntegrationTests.fixture()
        let p = try await agent.json("POST", "/v1/projects", ["repositoryUrl": repo.path, "name": "fuzzed", "team": "t", "webhookSecret": "s"])
        let id = try #require(p.json["id"] as? String, "\(p.text)")
        k.projects = [id]
        let status = try await agent.waitForResult(project: id)
        k.results = [try #require(status["resultId"] as? String)]
        let t = try await agent.request("POST", "/v1/projects/\(id)/audits")
        k.tasks = [try #require(t.json["taskId"] as? String)]
        for (kind, role) in [("maintainer", "maintainer"), ("viewer", "viewer")] {
            let tok = try await AttackKit.token(agent, role: role, team: "t")
            k.tokens[kind] = tok.secret
            k.tokenIDs.append(tok.id)
        }
        k.tokens["admin"] = agent.adminToken
        k.members = [(try await agent.request("GET", "/v1/node").json["name"] as? String) ?? "x"]
        return k
    }

    /// Runs the pass against `agent`; `skip` names operations ("METHOD /path") not to send.
    static func pass(_ agent: AgentProcess, known: Known, count: Int, seed: UInt64, skip: Set<String> = []) async throws -> [String: Int] {
        let routes = try OpenAPIRoutes().operations.filter { !skip.contains("\($0.method) \($0.path)") }
        #expect(routes.count > 30)
        var rng = SplitMix64(seed: seed)
        var statuses: [String: Int] = [:]
        for i in 0..<count {
            // every route once in order first, then at random
            let op = i < routes.count ? routes[i] : routes.randomElement(using: &rng)!
            var gen = RequestGenerator(rng: rng, known: known)
            let request = gen.request(for: op)
            rng = gen.rng
            let reply: AgentProcess.Reply
            do {
                if op.path == "/v1/events" {
                    // a stream never ends: its status line is the answer
                    let head = try AttackKit.events(agent, token: request.token, seconds: 5) { $0.contains("\r\n\r\n") }
                    guard let status = head.status else {
                        Issue.record("GET /v1/events: no status line; seed \(seed), request \(i)")
                        continue
                    }
                    reply = AgentProcess.Reply(status: status, body: Data(head.text.utf8), headers: [:])
                } else {
                    reply = try await agent.request(op.method, request.path, body: request.body, token: request.token, headers: request.headers)
                }
            } catch {
                Issue.record("\(op.method) \(request.path): no answer (\(error)); seed \(seed), request \(i)")
                continue
            }
            statuses["\(reply.status / 100)xx", default: 0] += 1
            #expect(reply.status < 500, "\(op.method) \(request.path) → \(reply.status) \(reply.text.prefix(300)); seed \(seed), request \(i)")
        }
        #expect(try await agent.request("GET", "/livez").status == 200)
        #expect(agent.isRunning)
        return statuses
    }

    @Test func noRouteAnswers5xxOnOneAgent() async throws {
        let agent = try AgentProcess(binary: GuardianBinary.path)
        try await agent.start(env: Self.env)
        defer { agent.stop() }
        let known = try await Self.setUp(agent)
        let statuses = try await Self.pass(agent, known: known, count: Self.requests, seed: Self.seed)
        print("HTTP fuzz, one agent: \(Self.requests) requests, seed \(Self.seed): \(statuses.sorted { $0.key < $1.key })")
    }

    @Test func noRouteAnswers5xxThroughAForwardingMember() async throws {
        let agents = try await AttackKit.threeAgents(key: ClusterKeyring.generate(), env: Self.env)
        defer { for a in agents.values { a.stop() } }
        // the project lives on its owner; the pass goes to another member, which forwards
        var known = try await Self.setUp(try #require(agents["alpha"]))
        let front = try await AttackKit.owner(of: known.projects[0], in: agents).others[0]
        known.tokens["admin"] = front.adminToken
        known.members = ["alpha", "bravo", "charlie"]
        try await AttackKit.eventually("the registry reached the front member") {
            try await front.request("GET", "/v1/projects/\(known.projects[0])", token: known.tokens["viewer"]).status == 200
        }
        // leaving, rotating keys or forcing members out would end the mesh the pass runs through;
        // the single-agent pass sends those
        let skip: Set<String> = ["POST /v1/leave", "POST /v1/keys", "POST /v1/members/{name}/force-leave", "POST /v1/members/join"]
        let statuses = try await Self.pass(front, known: known, count: Self.requests / 2, seed: Self.seed &+ 1, skip: skip)
        print("HTTP fuzz, through a forwarding member: \(Self.requests / 2) requests, seed \(Self.seed &+ 1): \(statuses.sorted { $0.key < $1.key })")
        for agent in agents.values { #expect(try await agent.request("GET", "/livez").status == 200 && agent.isRunning) }
    }
}
