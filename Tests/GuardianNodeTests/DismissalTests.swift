import Foundation
import GuardianCrypto
import GuardianTestKit
import Testing

/// Dismissals over the API on real agents: who may dismiss, what a bad one gets, and that the
/// next audit, on this node or on another owner of a three-agent mesh, reports the finding as
/// suppressed (external) and counts it toward nothing.
@Suite(.serialized) struct DismissalTests {
    /// The project's findings of `rule` in its latest result, from the signed report.
    static func findings(_ a: AgentProcess, _ project: String, rule: String) async throws -> [[String: Any]] {
        let status = try await a.request("GET", "/v1/projects/\(project)/audit-status?local=1")
        let magic = try #require(status.json["magicResults"] as? [String: Any])
        return magic.values.compactMap { $0 as? [String: Any] }.flatMap { ($0["violations"] as? [[String: Any]]) ?? [] }
            .filter { $0["ruleId"] as? String == rule }
    }

    static func audit(_ a: AgentProcess, _ project: String, token: String? = nil) async throws {
        let t = try await a.request("POST", "/v1/projects/\(project)/audits?local=1", token: token)
        #expect(t.status == 202, "\(t.text)")
        let done = try await a.waitForTask(try #require(t.json["taskId"] as? String))
        #expect(done["state"] as? String == "succeeded", "\(done)")
    }

    @Test func maintainersDismissAndTheNextAuditAppliesIt() async throws {
        let repo = try AgentIntegrationTests.fixture()
        let agent = try AgentProcess(binary: GuardianBinary.path)
        try await agent.start()
        defer { agent.stop() }
        let r = try await agent.json("POST", "/v1/projects", ["repositoryUrl": repo.path, "name": "dismissing", "team": "t"])
        let id = try #require(r.json["id"] as? String)
        _ = try await agent.waitForResult(project: id)
        let call = try #require(try await Self.findings(agent, id, rule: "strict/dangerous-call").first)
        let fingerprint = try #require(call["fingerprint"] as? String)
        let statusBefore = try await agent.request("GET", "/v1/projects/\(id)/audit-status").json
        let strictBefore = try #require((statusBefore["magicResults"] as? [String: Any])?["strict"] as? [String: Any])
        let scoreBefore = try #require(strictBefore["score"] as? Int)

        let viewer = try await AttackKit.token(agent, role: "viewer", team: "t")
        let maintainer = try await AttackKit.token(agent, role: "maintainer", team: "t")
        let other = try await AttackKit.token(agent, role: "maintainer", team: "u")
        let body: [String: Any] = ["fingerprint": fingerprint, "reason": "false_positive", "comment": "the command is a constant"]
        #expect(try await agent.json("POST", "/v1/projects/\(id)/dismissals", body, token: viewer.secret).status == 403)
        #expect(try await agent.json("POST", "/v1/projects/\(id)/dismissals", body, token: other.secret).status == 404)
        #expect(try await agent.json("POST", "/v1/projects/\(id)/dismissals", ["fingerprint": fingerprint, "reason": "meh"], token: maintainer.secret).status == 400)
        #expect(try await agent.json("POST", "/v1/projects/\(id)/dismissals", ["fingerprint": "../x", "reason": "wont_fix"], token: maintainer.secret).status == 400)
        #expect(try await agent.json("POST", "/v1/projects/\(id)/dismissals", ["fingerprint": fingerprint, "reason": "wont_fix", "ruleId": "integrity/stub-body"],
                                     token: maintainer.secret).status == 400, "the rule must be the finding's")
        let made = try await agent.json("POST", "/v1/projects/\(id)/dismissals", body, token: maintainer.secret)
        #expect(made.status == 201 && made.json["ruleId"] as? String == "strict/dangerous-call", "\(made.text)")
        let listed = try await agent.request("GET", "/v1/projects/\(id)/dismissals", token: viewer.secret)
        #expect((listed.json["items"] as? [[String: Any]])?.map { $0["fingerprint"] as? String } == [fingerprint])

        try await Self.audit(agent, id)
        let dismissed = try #require(try await Self.findings(agent, id, rule: "strict/dangerous-call").first { $0["fingerprint"] as? String == fingerprint })
        let suppression = try #require(dismissed["suppression"] as? [String: Any])
        #expect(suppression["kind"] as? String == "external" && suppression["justification"] as? String == "false_positive: the command is a constant")
        let strict = try #require((try await agent.request("GET", "/v1/projects/\(id)/audit-status").json["magicResults"] as? [String: Any])?["strict"] as? [String: Any])
        #expect(strict["suppressed"] as? Int == 1)
        #expect(try #require(strict["score"] as? Int) > scoreBefore, "a dismissed finding counts toward nothing")

        // restored: counted again
        #expect(try await agent.request("DELETE", "/v1/projects/\(id)/dismissals/\(fingerprint)", token: maintainer.secret).status == 204)
        try await Self.audit(agent, id)
        let back = try #require(try await Self.findings(agent, id, rule: "strict/dangerous-call").first { $0["fingerprint"] as? String == fingerprint })
        #expect(back["suppression"] == nil)
        #expect(try await agent.request("DELETE", "/v1/projects/\(id)/dismissals/\(fingerprint)", token: maintainer.secret).status == 404)

        // the CLI
        let cli = try CommandRunner.run(GuardianBinary.path, ["dismiss", id, fingerprint, "--reason", "accepted_risk", "--comment", "sandboxed",
                                                              "--http-addr", "127.0.0.1:\(agent.port)", "--token", maintainer.secret])
        #expect(cli.status == 0 && cli.stdout.contains("dismissed strict/dangerous-call"), "\(cli.stdout) \(cli.stderr)")
        let list = try CommandRunner.run(GuardianBinary.path, ["dismissals", id, "--http-addr", "127.0.0.1:\(agent.port)", "--token", viewer.secret])
        #expect(list.status == 0 && list.stdout.contains("accepted_risk") && list.stdout.contains("sandboxed"), "\(list.stdout)")
    }

    @Test func aDismissalMadeOnOneNodeAppliesOnAnotherOwner() async throws {
        let key = ClusterKeyring.generate()
        let agents = try await AttackKit.threeAgents(key: key, env: ["GUARDIAN_REPLICATION_FACTOR": "3"])
        defer { for a in agents.values { a.stop() } }
        let (a, b, c) = (try #require(agents["alpha"]), try #require(agents["bravo"]), try #require(agents["charlie"]))
        let repo = try AgentIntegrationTests.fixture()
        let r = try await a.json("POST", "/v1/projects", ["repositoryUrl": repo.path, "name": "meshed"])
        let id = try #require(r.json["id"] as? String)
        // every owner holds the registration's result (the primary audited, the result replicated)
        for n in [a, b, c] {
            try await AttackKit.eventually("the first result on every owner") {
                try await n.request("GET", "/v1/projects/\(id)/audit-status?local=1").json["resultId"] is String
            }
        }
        let call = try #require(try await Self.findings(b, id, rule: "strict/dangerous-call").first)
        let fingerprint = try #require(call["fingerprint"] as? String)
        // dismissed on bravo (with the admin token bravo holds: tokens are mesh-wide)
        let made = try await b.json("POST", "/v1/projects/\(id)/dismissals", ["fingerprint": fingerprint, "reason": "false_positive"])
        #expect(made.status == 201, "\(made.text)")
        // charlie has it by registry replication, then audits: the finding is dismissed there
        try await AttackKit.eventually("the dismissal reached charlie") {
            ((try await c.request("GET", "/v1/projects/\(id)/dismissals").json["items"] as? [Any])?.count ?? 0) == 1
        }
        try await Self.audit(c, id)
        let there = try #require(try await Self.findings(c, id, rule: "strict/dangerous-call").first { $0["fingerprint"] as? String == fingerprint })
        #expect((there["suppression"] as? [String: Any])?["kind"] as? String == "external", "\(there)")
    }

    /// Team learning: a team that dismisses most of a rule's findings as false positives weighs the
    /// rule down in its later audits, and the report says so.
    @Test func aTeamsFalsePositivesWeighItsRuleDown() async throws {
        let repo = try FixtureRepo()
        var code = "import os\n\n"
        for i in 0..<6 { code += "\ndef run\(i)(c):\n    \"\"\"Run.\"\"\"\n    os.system(c + \"\(i)\")\n" }
        try repo.write("app/calls.py", code)
        try repo.write("README.md", "# Learning\n")
        try repo.commit("feat: calls")
        let agent = try AgentProcess(binary: GuardianBinary.path)
        try await agent.start()
        defer { agent.stop() }
        let r = try await agent.json("POST", "/v1/projects", ["repositoryUrl": repo.path, "name": "learning", "team": "payments"])
        let id = try #require(r.json["id"] as? String)
        let first = try await agent.waitForResult(project: id)
        let calls = try await Self.findings(agent, id, rule: "strict/dangerous-call")
        #expect(calls.count == 6)
        let strictBefore = try #require((first["magicResults"] as? [String: Any])?["strict"] as? [String: Any])
        #expect(try #require(first["teamConfiguration"] as? [String: Any])["learning"] == nil)
        // two dismissals teach nothing yet (too little evidence); four of six weigh the rule at 0.33
        for (k, call) in calls.prefix(4).enumerated() {
            let made = try await agent.json("POST", "/v1/projects/\(id)/dismissals", ["fingerprint": try #require(call["fingerprint"] as? String),
                                                                                   "reason": k == 3 ? "wont_fix" : "false_positive"])
            #expect(made.status == 201)
        }
        try await Self.audit(agent, id)
        let status = try await agent.request("GET", "/v1/projects/\(id)/audit-status").json
        let learning = try #require((status["teamConfiguration"] as? [String: Any])?["learning"] as? [[String: Any]], "\(status["teamConfiguration"] ?? "")")
        let entry = try #require(learning.first { $0["ruleId"] as? String == "strict/dangerous-call" })
        #expect(entry["weight"] as? Double == 0.5)
        #expect(entry["explanation"] as? String == "strict/dangerous-call weighs 0.5 for team payments: 3 of 6 dismissed as false positive")
        // the two findings left count at half weight: the check scores higher than the same two at full weight would
        let strictAfter = try #require((status["magicResults"] as? [String: Any])?["strict"] as? [String: Any])
        #expect(strictAfter["suppressed"] as? Int == 4)
        #expect(try #require(strictAfter["penalty"] as? Double) < (try #require(strictBefore["penalty"] as? Double)) * 2 / 6,
                "\(strictAfter["penalty"] ?? "") vs \(strictBefore["penalty"] ?? "")")
    }

    /// Community feedback: a team that shares its feedback gives its false-positive rates to teams
    /// with no evidence of their own, explained as a community prior; a team that does not share
    /// gives nothing.
    @Test func sharedFeedbackIsAPriorForOtherTeams() async throws {
        func repo(_ name: String, calls: Int) throws -> FixtureRepo {
            let r = try FixtureRepo()
            var code = "import os\n\n"
            for i in 0..<calls { code += "\ndef run\(i)(c):\n    \"\"\"Run.\"\"\"\n    os.system(c + \"\(i)\")\n" }
            try r.write("app/calls.py", code)
            try r.write("README.md", "# \(name)\n")
            try r.commit("feat: calls")
            return r
        }
        let agent = try AgentProcess(binary: GuardianBinary.path)
        try await agent.start()
        defer { agent.stop() }
        let shared = #"{"name": "payments", "strictness": 0.8, "community_feedback": true}"#
        #expect(try await agent.request("PUT", "/v1/teams/payments", body: Data(shared.utf8)).status == 200)
        // search has too few findings of the rule (3) to learn from its own
        let payRepo = try repo("pay", calls: 6), searchRepo = try repo("search", calls: 3)
        let pay = try #require(try await agent.json("POST", "/v1/projects", ["repositoryUrl": payRepo.path, "name": "pay", "team": "payments"]).json["id"] as? String)
        _ = try await agent.waitForResult(project: pay)
        for call in try await Self.findings(agent, pay, rule: "strict/dangerous-call").prefix(4) {
            let made = try await agent.json("POST", "/v1/projects/\(pay)/dismissals", ["fingerprint": try #require(call["fingerprint"] as? String),
                                                                                     "reason": "false_positive"])
            #expect(made.status == 201)
        }
        try await Self.audit(agent, pay)
        let search = try #require(try await agent.json("POST", "/v1/projects", ["repositoryUrl": searchRepo.path, "name": "search", "team": "search"]).json["id"] as? String)
        _ = try await agent.waitForResult(project: search)
        let status = try await agent.request("GET", "/v1/projects/\(search)/audit-status").json
        let learning = try #require((status["teamConfiguration"] as? [String: Any])?["learning"] as? [[String: Any]], "\(status["teamConfiguration"] ?? "")")
        let entry = try #require(learning.first { $0["ruleId"] as? String == "strict/dangerous-call" })
        #expect(entry["weight"] as? Double == 0.33)
        #expect(entry["explanation"] as? String == "strict/dangerous-call weighs 0.33 for team search: 4 of 6 dismissed as false positive "
                + "by 1 team that share their feedback (community prior)")

        // the same team not sharing: no prior
        let private_ = #"{"name": "payments", "strictness": 0.8}"#
        #expect(try await agent.request("PUT", "/v1/teams/payments", body: Data(private_.utf8)).status == 200)
        try await Self.audit(agent, search)
        let after = try await agent.request("GET", "/v1/projects/\(search)/audit-status").json
        let config = try #require(after["teamConfiguration"] as? [String: Any], "\(after)")
        let learned = config["learning"] as? [[String: Any]] // absent when nothing was learned
        #expect(learned?.contains { $0["ruleId"] as? String == "strict/dangerous-call" } != true, "\(config)")
    }
}
