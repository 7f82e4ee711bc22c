import Foundation
import GuardianCrypto
import GuardianTestKit
import Testing

/// Alerts on a real agent, to real HTTP receivers on loopback: channels over the API, one message
/// per result and channel with the documented shapes, retries that honour `Retry-After`, a
/// rejected message going dead, the history, and the channel test.
@Suite(.serialized) struct AlertDeliveryIntegrationTests {
    static let env = ["GUARDIAN_ALERT_ALLOW_PRIVATE_TARGETS": "on", "GUARDIAN_PUBLIC_URL": "https://guardian.example.test"]

    static func channel(_ a: AgentProcess, team: String, _ body: [String: Any], token: String? = nil) async throws -> [String: Any] {
        let r = try await a.json("POST", "/v1/teams/\(team)/channels", body, token: token)
        #expect(r.status == 201, "\(r.text)")
        return r.json
    }

    /// An agent with `env` and one registered project of `team`, audited once: the agent, the
    /// repository and the project's id. The caller stops the agent.
    static func agent(project name: String, team: String, env: [String: String] = Self.env) async throws -> (AgentProcess, FixtureRepo, String) {
        let repo = try AgentIntegrationTests.fixture()
        let agent = try AgentProcess(binary: GuardianBinary.path)
        try await agent.start(env: env)
        let made = try await agent.json("POST", "/v1/projects", ["repositoryUrl": repo.path, "name": name, "team": team])
        let id = try #require(made.json["id"] as? String, "\(made.text)")
        _ = try await agent.waitForResult(project: id)
        return (agent, repo, id)
    }

    /// A commit that adds one finding (a shell call in `app/NAME.py`); the commit's id.
    @discardableResult
    static func newFinding(_ repo: FixtureRepo, _ name: String) throws -> String {
        try repo.write("app/\(name).py", "import os\n\n\ndef \(name)(cmd):\n    \"\"\"Run.\"\"\"\n    os.system(cmd)\n")
        return try repo.commit("feat: \(name)")
    }

    static func notifications(_ a: AgentProcess, _ query: String, token: String? = nil) async throws -> [[String: Any]] {
        let r = try await a.request("GET", "/v1/notifications?\(query)", token: token)
        guard r.status == 200, let list = r.json["notifications"] as? [[String: Any]] else { throw FixtureError(message: "notifications: \(r.status) \(r.text)") }
        return list
    }

    @Test func channelsReceiveOneSignedMessagePerResultRetryAndGoDead() async throws {
        let receiver = try await AlertReceiver.start()
        defer { receiver.stop() }
        let (agent, repo, id) = try await Self.agent(project: "alerting", team: "t")
        defer { agent.stop() }

        let maintainer = try await AttackKit.token(agent, role: "maintainer", team: "t")
        let viewer = try await AttackKit.token(agent, role: "viewer", team: "t")
        let stranger = try await AttackKit.token(agent, role: "maintainer", team: "u")
        let hook = try await Self.channel(agent, team: "t", ["name": "hook", "kind": "webhook", "url": receiver.url("hook"), "secret": "s3cret",
                                                               "frequency": "immediate"], token: maintainer.secret)
        #expect(hook["url"] == nil && hook["secret"] == nil && hook["host"] as? String == "127.0.0.1" && hook["hasSecret"] as? Bool == true, "\(hook)")
        _ = try await Self.channel(agent, team: "t", ["name": "slack", "kind": "slack", "url": receiver.url("slack"), "frequency": "immediate"])
        _ = try await Self.channel(agent, team: "t", ["name": "discord", "kind": "discord", "url": receiver.url("discord"), "frequency": "immediate"])
        _ = try await Self.channel(agent, team: "t", ["name": "flaky", "kind": "webhook", "url": receiver.url("flaky"), "frequency": "immediate",
                                                        "events": ["finding.new"]])
        _ = try await Self.channel(agent, team: "t", ["name": "gone", "kind": "webhook", "url": receiver.url("gone"), "frequency": "immediate"])
        _ = try await Self.channel(agent, team: "t", ["name": "picky", "kind": "webhook", "url": receiver.url("picky"), "frequency": "immediate",
                                                        "events": ["gate.recovered"]])
        receiver.script("flaky", [.init(status: 429, retryAfter: "1"), .init(status: 503)])
        receiver.always("gone", .init(status: 404))

        // who may do what with channels
        #expect(try await agent.json("POST", "/v1/teams/t/channels", ["name": "x", "kind": "slack", "url": "https://hooks.example/x"], token: viewer.secret).status == 403)
        #expect(try await agent.request("GET", "/v1/teams/t/channels", token: stranger.secret).status == 403)
        #expect(try await agent.json("POST", "/v1/teams/t/channels", ["name": "hook", "kind": "slack", "url": "https://hooks.example/x"]).status == 409)
        #expect(try await agent.json("POST", "/v1/teams/t/channels", ["name": "a.b", "kind": "slack", "url": "https://hooks.example/x"]).status == 400)
        #expect(try await agent.json("POST", "/v1/teams/t/channels", ["name": "m", "kind": "email", "to": ["not an address"]]).status == 400)
        #expect(try await agent.json("POST", "/v1/teams/t/channels", ["name": "s", "kind": "slack", "url": "ftp://x/y"]).status == 400)
        #expect(try await agent.json("POST", "/v1/teams/t/channels", ["name": "e", "kind": "slack", "url": "https://h.example/x", "events": ["nope"]]).status == 400)
        let listed = try await agent.request("GET", "/v1/teams/t/channels", token: viewer.secret)
        #expect(listed.status == 200 && !listed.text.contains("/hooks/") && !listed.text.contains("s3cret"), "URLs and secrets are never shown: \(listed.text)")

        // a new finding: one message per subscribed channel
        let commit = try Self.newFinding(repo, "other")
        try await DismissalTests.audit(agent, id)
        try await eventually("the webhook, Slack and Discord receive the result's message", timeout: 20) {
            !receiver.received("hook").isEmpty && !receiver.received("slack").isEmpty && !receiver.received("discord").isEmpty
        }
        try await eventually("the flaky receiver gets the message on the third attempt", timeout: 30) { receiver.received("flaky").count == 3 }
        try await eventually("the rejected message goes dead", timeout: 20) {
            try await Self.notifications(agent, "channel=t.gone").first?["state"] as? String == "dead"
        }

        let h = try #require(receiver.received("hook").first)
        let body = try h.json()
        #expect(body["schemaVersion"] as? Int == 1 && body["commit"] as? String == commit && body["resultId"] as? String != nil, "\(body)")
        let project = try #require(body["project"] as? [String: Any])
        #expect(project["id"] as? String == id && project["team"] as? String == "t"
                && project["url"] as? String == "https://guardian.example.test/ui/projects/\(id)", "\(project)")
        let events = try #require(body["events"] as? [[String: Any]])
        let newFindings = events.filter { $0["kind"] as? String == "finding.new" }
        #expect(newFindings.count == 1 && (newFindings.first?["summary"] as? String)?.contains("app/other.py") == true, "\(events)")
        #expect(h.headers["x-guardian-delivery"] == body["delivery"] as? String && h.headers["x-guardian-delivery"]?.hasPrefix("evt-") == true)
        let expected = "sha256=" + Sodium.hex(Sodium.hmacSHA256(key: Array("s3cret".utf8), message: [UInt8](h.body)))
        #expect(h.headers["x-guardian-signature-256"] == expected, "the signature is HMAC-SHA256 of the exact body")
        #expect(h.headers["content-type"] == "application/json")

        let slack = try #require(receiver.received("slack").first).json()
        let blocks = try #require(slack["blocks"] as? [[String: Any]])
        #expect(slack["text"] as? String != nil && blocks.first?["type"] as? String == "header" && blocks.last?["type"] as? String == "context", "\(slack)")
        #expect(((blocks.last?["elements"] as? [[String: Any]])?.first?["text"] as? String)?.contains("<https://guardian.example.test/ui/projects/\(id)|open in Guardian>") == true)
        let discord = try #require(receiver.received("discord").first).json()
        let embed = try #require((discord["embeds"] as? [[String: Any]])?.first)
        #expect(embed["color"] as? Int != nil && embed["url"] as? String == "https://guardian.example.test/ui/projects/\(id)", "\(embed)")

        // retries kept the delivery id; Retry-After was honoured (the second attempt came ≥ 1 s after the first)
        let flaky = receiver.received("flaky")
        #expect(Set(flaky.compactMap { $0.headers["x-guardian-delivery"] }).count == 1, "a retry is the same delivery")
        try await eventually("the flaky channel's message is recorded sent", timeout: 10) {
            try await Self.notifications(agent, "channel=t.flaky").first?["state"] as? String == "sent"
        }
        let sentFlaky = try #require(try await Self.notifications(agent, "channel=t.flaky").first)
        #expect(sentFlaky["attempts"] as? Int == 3 && sentFlaky["lastAnswer"] as? String == "HTTP 200: ok", "\(sentFlaky)")
        let dead = try #require(try await Self.notifications(agent, "channel=t.gone").first)
        #expect(dead["attempts"] as? Int == 1 && (dead["lastAnswer"] as? String)?.hasPrefix("HTTP 404") == true, "\(dead)")

        // the history: every message, state and answer; a reader of another team sees none of them
        try await eventually("four messages recorded sent", timeout: 10) {
            try await Self.notifications(agent, "project=\(id)&status=sent").count == 4
        }
        let history = try await Self.notifications(agent, "project=\(id)", token: viewer.secret)
        #expect(Set(history.compactMap { $0["channel"] as? String }) == ["t.hook", "t.slack", "t.discord", "t.flaky", "t.gone"], "\(history)")
        #expect(history.filter { $0["state"] as? String == "sent" }.count == 4)
        #expect(try await Self.notifications(agent, "", token: stranger.secret).isEmpty)
        #expect(try await agent.request("GET", "/v1/notifications?channel=t.hook", token: stranger.secret).status == 403)
        #expect(try await agent.request("GET", "/v1/notifications?status=lost").status == 400)

        // nothing more arrives: one message per result and channel ("picky" subscribes to nothing that happened)
        try await holds("no repeat and nothing for a channel without its events", for: 2) {
            receiver.received("hook").count == 1 && receiver.received("slack").count == 1 && receiver.received("discord").count == 1
                && receiver.received("picky").isEmpty && receiver.received("gone").count == 1
        }

        // the channel test: sent now, the receiver's answer reported
        let test = try await agent.request("POST", "/v1/teams/t/channels/hook/test", token: maintainer.secret)
        #expect(test.status == 200 && test.json["delivered"] as? Bool == true && test.json["answer"] as? String == "HTTP 200: ok", "\(test.text)")
        #expect(receiver.received("hook").last?.headers["x-guardian-event"] == "test")
        let goneTest = try await agent.request("POST", "/v1/teams/t/channels/gone/test")
        #expect(goneTest.json["delivered"] as? Bool == false && goneTest.json["outcome"] as? String == "rejected", "\(goneTest.text)")

        // the CLI
        let cli = { (args: [String]) async throws -> CommandResult in try await MeshIntegrationTests.cli(agent, args) }
        // `channels test` waits on this process's receiver, which the whole suite's load has left unanswered
        // for 15 s (CI, twice): a read timeout is asked again once; any other answer stands
        let channelTest = { (name: String) async throws -> CommandResult in
            let first = try await cli(["channels", "test", "t", name])
            return first.stdout.contains("readTimeout") ? try await cli(["channels", "test", "t", name]) : first
        }
        let list = try await cli(["channels", "list", "t"])
        #expect(list.status == 0 && list.stdout.contains("flaky") && list.stdout.contains("127.0.0.1 (signed)") && !list.stdout.contains("/hooks/"), "\(list.stdout)")
        let tested = try await channelTest("slack")
        #expect(tested.status == 0 && tested.stdout.contains("delivered: HTTP 200"), "\(tested.stdout) \(tested.stderr)")
        let failed = try await channelTest("gone")
        #expect(failed.status == 1 && failed.stdout.contains("not delivered (rejected): HTTP 404"), "\(failed.stdout)")
        let historyCLI = try await cli(["notifications", "--channel", "t.flaky"])
        #expect(historyCLI.status == 0 && historyCLI.stdout.contains("sent") && historyCLI.stdout.contains("3 attempts · HTTP 200: ok"), "\(historyCLI.stdout)")
        let added = try await cli(["channels", "add", "t", "ops", "--kind", "email", "--to", "ops@example.test", "--frequency", "daily"])
        #expect(added.status == 0 && added.stdout.contains("added email channel t.ops (ops@example.test, daily)"), "\(added.stdout) \(added.stderr)")
        let removed = try await cli(["channels", "remove", "t", "ops"])
        #expect(removed.status == 0, "\(removed.stderr)")

        // changed and removed
        let patched = try await agent.json("PATCH", "/v1/teams/t/channels/hook", ["secret": NSNull(), "minSeverity": "high"], token: maintainer.secret)
        #expect(patched.status == 200 && patched.json["hasSecret"] as? Bool == false && patched.json["minSeverity"] as? String == "high", "\(patched.text)")
        #expect(try await agent.request("DELETE", "/v1/teams/t/channels/hook", token: stranger.secret).status == 403)
        #expect(try await agent.request("DELETE", "/v1/teams/t/channels/hook", token: maintainer.secret).status == 204)
        #expect(try await agent.request("GET", "/v1/teams/t/channels/hook").status == 404)
    }

    @Test func aSlowReceiverHoldsAFewSlotsAndTheOthersGetTheirsAtOnce() async throws {
        let slow = try await AlertReceiver.start(), fast = try await AlertReceiver.start()
        defer { slow.stop(); fast.stop() }
        let (agent, repo, id) = try await Self.agent(project: "busy", team: "t")
        defer { agent.stop() }
        for i in 0..<12 {
            slow.always("s\(i)", .init(status: 200, delay: .seconds(4)))
            _ = try await Self.channel(agent, team: "t", ["name": "slow\(i)", "kind": "webhook", "url": slow.url("s\(i)"), "frequency": "immediate"])
        }
        _ = try await Self.channel(agent, team: "t", ["name": "fast", "kind": "webhook", "url": fast.url("f"), "frequency": "immediate"])
        try Self.newFinding(repo, "other")
        try await DismissalTests.audit(agent, id)
        try await eventually("the healthy receiver gets its message while the slow one works", timeout: 10) { !fast.received("f").isEmpty }
        #expect(slow.all.count <= 4, "at most 4 sends to one receiver at once: \(slow.all.count)")
        try await eventually("the slow receiver gets all twelve, four at a time", timeout: 60) { slow.all.count == 12 }
    }

    /// A channel an admin sets to receive every team's events: other teams' projects reach it, only
    /// an admin may make or change one, and its team's readers do not see its messages.
    @Test func anAdminsChannelReceivesEveryTeamsEvents() async throws {
        let receiver = try await AlertReceiver.start()
        defer { receiver.stop() }
        let (agent, repo, id) = try await Self.agent(project: "elsewhere", team: "apps")
        defer { agent.stop() }
        let platform = try await AttackKit.token(agent, role: "maintainer", team: "platform")
        let reader = try await AttackKit.token(agent, role: "viewer", team: "platform")
        let body: [String: Any] = ["name": "all", "kind": "webhook", "url": receiver.url("all"), "frequency": "immediate", "allTeams": true]
        #expect(try await agent.json("POST", "/v1/teams/platform/channels", body, token: platform.secret).status == 403)
        let all = try await Self.channel(agent, team: "platform", body)
        #expect(all["allTeams"] as? Bool == true)
        _ = try await Self.channel(agent, team: "platform", ["name": "own", "kind": "webhook", "url": receiver.url("own"), "frequency": "immediate"])
        #expect(try await agent.json("PATCH", "/v1/teams/platform/channels/all", ["minSeverity": "high"], token: platform.secret).status == 403)
        #expect(try await agent.request("DELETE", "/v1/teams/platform/channels/all", token: platform.secret).status == 403)
        #expect(try await agent.json("PATCH", "/v1/teams/platform/channels/own", ["allTeams": true], token: platform.secret).status == 403)

        try Self.newFinding(repo, "other")
        try await DismissalTests.audit(agent, id)
        try await eventually("the mesh-wide channel gets team apps' message", timeout: 20) { receiver.received("all").count == 1 }
        #expect(try receiver.received("all")[0].json()["project"].flatMap { ($0 as? [String: Any])?["team"] as? String } == "apps")
        try await holds("the platform team's own channel gets nothing of team apps", for: 2) { receiver.received("own").isEmpty }
        try await eventually("the admin sees the message", timeout: 10) {
            try await Self.notifications(agent, "channel=platform.all").first?["state"] as? String == "sent"
        }
        #expect(try await Self.notifications(agent, "", token: reader.secret).isEmpty, "a reader of the channel's team sees no other team's messages")
        #expect(try await agent.request("GET", "/v1/notifications?channel=platform.all", token: reader.secret).status == 403)
    }

    @Test func privateTargetsAndPlainHTTPAreRefusedUnlessAllowed() async throws {
        let agent = try AgentProcess(binary: GuardianBinary.path)
        try await agent.start()
        defer { agent.stop() }
        for url in ["http://hooks.example.test/x", "https://127.0.0.1/x", "https://10.1.2.3/x", "https://169.254.169.254/latest", "https://[::1]/x",
                    "https://[::ffff:127.0.0.1]/x", "https://2130706433/x", "https://0x7f.1/x", "https://[64:ff9b::a9fe:a9fe]/x",
                    "https://[2002:a9fe:a9fe::1]/x", "https://[fd00::1]/x", "https://[fe80::1]/x"] {
            let r = try await agent.json("POST", "/v1/teams/t/channels", ["name": "n", "kind": "webhook", "url": url])
            #expect(r.status == 400 && (r.json["error"] as? [String: Any])?["code"] as? String == "refused_target", "\(url): \(r.text)")
        }
        // a name that resolves to loopback is refused when the message is sent
        let made = try await agent.json("POST", "/v1/teams/t/channels", ["name": "local", "kind": "webhook", "url": "https://localhost:9/x"])
        #expect(made.status == 201, "\(made.text)")
        let test = try await agent.request("POST", "/v1/teams/t/channels/local/test")
        #expect(test.json["outcome"] as? String == "rejected" && (test.json["answer"] as? String)?.contains("private") == true, "\(test.text)")
    }
}
