import Foundation
import GuardianCrypto
import GuardianTestKit
import Testing

/// Alerts on a three-agent mesh where every agent owns the project: the primary sends each message
/// once and its final record reaches the other owners; when the primary dies while its receiver
/// is failing, the next owner sends the same message, with the same delivery id, once.
@Suite(.serialized) struct AlertMeshTests {
    static func history(_ a: AgentProcess, channel: String) async throws -> [[String: Any]] {
        let r = try await a.request("GET", "/v1/notifications?channel=\(channel)")
        guard r.status == 200, let list = r.json["notifications"] as? [[String: Any]] else { throw FixtureError(message: "history: \(r.status) \(r.text)") }
        return list
    }

    @Test func theOwnersSendOnceAndTheNextOwnerTakesOverFromADeadPrimary() async throws {
        let receiver = try await AlertReceiver.start()
        defer { receiver.stop() }
        // a grace of 10 s: the last owner waits 20 s, so the standby's record of its send has 10 s to
        // reach it, however late the standby noticed the primary's death. Each owner counts from its
        // own failure detector; under the whole suite's load (2 cores, a dozen agents) they noticed
        // seconds apart, and with 2 s and then 5 s both sent (the documented at-least-once window)
        let env = AlertDeliveryIntegrationTests.env.merging(["GUARDIAN_REPLICATION_FACTOR": "3", "GUARDIAN_ALERT_GRACE_SECONDS": "10"]) { _, new in new }
        let agents = try await AttackKit.threeAgents(key: ClusterKeyring.generate(), env: env)
        defer { for a in agents.values { a.stop(signal: SIGKILL) } }
        let alpha = try #require(agents["alpha"])
        let repo = try AgentIntegrationTests.fixture()
        let made = try await alpha.json("POST", "/v1/projects", ["repositoryUrl": repo.path, "name": "meshed", "team": "t"])
        let id = try #require(made.json["id"] as? String, "\(made.text)")
        for a in agents.values { _ = try await a.waitForResult(project: id) }
        let owners = try #require(try await alpha.request("GET", "/v1/projects/\(id)/owners").json["owners"] as? [String])
        #expect(owners.count == 3)
        let primary = try #require(agents[owners[0]]), standby = try #require(agents[owners[1]]), last = try #require(agents[owners[2]])
        #expect(try await alpha.json("POST", "/v1/teams/t/channels", ["name": "mesh", "kind": "webhook", "url": receiver.url("mesh"),
                                                                       "frequency": "immediate", "events": ["finding.new"]]).status == 201)
        for a in agents.values {
            try await eventually("the channel reaches every node", timeout: 20) {
                (try await a.request("GET", "/v1/teams/t/channels").json["channels"] as? [[String: Any]])?.count == 1
            }
        }

        // fault-free: one message, recorded sent by the primary on every owner
        try AlertDeliveryIntegrationTests.newFinding(repo, "one")
        try await DismissalTests.audit(primary, id)
        try await eventually("the receiver gets the message", timeout: 20) { receiver.received("mesh").count == 1 }
        let first = try #require(receiver.received("mesh").first?.headers["x-guardian-delivery"])
        for a in [primary, standby, last] {
            try await eventually("every owner records the message sent by the primary", timeout: 20) {
                let h = try await Self.history(a, channel: "t.mesh")
                return h.count == 1 && h[0]["delivery"] as? String == first && h[0]["state"] as? String == "sent" && h[0]["finishedBy"] as? String == owners[0]
            }
        }
        try await holds("no owner sends it again", for: 3) { receiver.received("mesh").count == 1 }

        // the primary's receiver fails; the primary dies while retrying; the next owner sends the same message once
        receiver.always("mesh", .init(status: 503))
        try AlertDeliveryIntegrationTests.newFinding(repo, "two")
        try await DismissalTests.audit(primary, id)
        try await eventually("the primary tries and fails", timeout: 20) { receiver.received("mesh").count >= 2 }
        let second = try #require(receiver.received("mesh").last?.headers["x-guardian-delivery"])
        #expect(second != first)
        try await eventually("every owner holds the second message", timeout: 20) {
            for a in [standby, last] where try await Self.history(a, channel: "t.mesh").count != 2 { return false }
            return true
        }
        primary.stop(signal: SIGKILL)
        receiver.always("mesh", .init(status: 200))
        try await eventually("the next owner sends it after the grace", timeout: 60) {
            try await Self.history(standby, channel: "t.mesh").first { $0["delivery"] as? String == second }?["state"] as? String == "sent"
        }
        let sent = try #require(try await Self.history(standby, channel: "t.mesh").first { $0["delivery"] as? String == second })
        #expect(sent["finishedBy"] as? String == owners[1], "\(sent)")
        try await eventually("the last owner learns it was sent", timeout: 20) {
            try await Self.history(last, channel: "t.mesh").first { $0["delivery"] as? String == second }?["finishedBy"] as? String == owners[1]
        }
        // every request carried one of the two delivery ids. The second was accepted once by the
        // standby's send, and at most once more: a retry the primary wrote just before SIGKILL can
        // reach this in-process receiver after it was switched to 200 when the suite's load stalls
        // it (CI, once) — the at-least-once case the stable delivery id is for. No owner sends it
        // again afterwards: not the last owner, whose grace has passed by the end of the hold.
        let all = receiver.received("mesh").compactMap { $0.headers["x-guardian-delivery"] }
        #expect(Set(all) == [first, second])
        let accepted = { receiver.received("mesh").filter { $0.headers["x-guardian-delivery"] == second && $0.status == 200 }.count }
        let once = accepted()
        #expect(once == 1 || once == 2, "accepted \(once) times")
        // past the last owner's own grace (twice the grace after it saw the primary gone)
        try await holds("no owner sends it again", for: 14) { accepted() == once }
    }

    @Test func heldEventsReachTheChannelsOwnerWhenItIsAnotherNode() async throws {
        let receiver = try await AlertReceiver.start()
        defer { receiver.stop() }
        let agents = try await AttackKit.threeAgents(key: ClusterKeyring.generate(), env: AlertDeliveryIntegrationTests.env)
        defer { for a in agents.values { a.stop(signal: SIGKILL) } }
        let alpha = try #require(agents["alpha"])
        let repo = try AgentIntegrationTests.fixture()
        let made = try await alpha.json("POST", "/v1/projects", ["repositoryUrl": repo.path, "name": "digested", "team": "t"])
        let id = try #require(made.json["id"] as? String, "\(made.text)")
        let (owner, ownerName, _) = try await AttackKit.owner(of: id, in: agents)
        _ = try await owner.waitForResult(project: id)
        // a channel whose ring owner is not the project's (RF 1: one owner each)
        var name = "", channelOwner = ""
        for n in 1...30 {
            let o = try await alpha.request("GET", "/v1/ring/owners?key=channel:t.daily\(n)").json["primary"] as? String ?? ""
            if o != ownerName { name = "daily\(n)"; channelOwner = o; break }
        }
        let digestOwner = try #require(agents[channelOwner], "a channel owned by another node")
        #expect(try await alpha.json("POST", "/v1/teams/t/channels", ["name": name, "kind": "webhook", "url": receiver.url("d"), "frequency": "daily"]).status == 201)
        try await eventually("the channel reaches the project's owner", timeout: 20) {
            (try await owner.request("GET", "/v1/teams/t/channels").json["channels"] as? [[String: Any]])?.count == 1
        }
        try AlertDeliveryIntegrationTests.newFinding(repo, "three")
        try await DismissalTests.audit(owner, id)
        let held = try #require(try await Self.history(owner, channel: "t.\(name)").first)
        #expect(held["state"] as? String == "held", "\(held)")
        let dayEnd = (floor(Date().timeIntervalSince1970 / 86_400) + 1) * 86_400
        #expect(held["nextAttemptAt"] as? Double == dayEnd, "held until the end of the UTC day: \(held)")
        try await eventually("the channel's owner holds the event for its digest", timeout: 20) {
            try await Self.history(digestOwner, channel: "t.\(name)").first { $0["delivery"] as? String == held["delivery"] as? String }?["state"] as? String == "held"
        }
        try await holds("nothing is sent before the day ends", for: 2) { receiver.all.isEmpty }
    }

    @Test func aFailedMemberIsReportedOnceByOneNode() async throws {
        let receiver = try await AlertReceiver.start()
        defer { receiver.stop() }
        // replication factor 2: two nodes report on each member, and only one may send
        let agents = try await AttackKit.threeAgents(key: ClusterKeyring.generate(),
                                                     env: AlertDeliveryIntegrationTests.env.merging(["GUARDIAN_REPLICATION_FACTOR": "2"]) { _, new in new })
        defer { for a in agents.values { a.stop(signal: SIGKILL) } }
        let alpha = try #require(agents["alpha"]), charlie = try #require(agents["charlie"])
        let made = try await alpha.json("POST", "/v1/teams/ops/channels", ["name": "mesh", "kind": "webhook", "url": receiver.url("members"),
                                                                             "frequency": "immediate", "events": ["member.failed", "member.left"]])
        #expect(made.status == 201, "\(made.text)")
        #expect(try await alpha.json("POST", "/v1/teams/ops/channels", ["name": "audits", "kind": "webhook", "url": receiver.url("audits"),
                                                                          "frequency": "immediate"]).status == 201)
        for a in [agents["bravo"]!, charlie] {
            try await eventually("the channels reach every node", timeout: 20) {
                (try await a.request("GET", "/v1/teams/ops/channels").json["channels"] as? [[String: Any]])?.count == 2
            }
        }
        charlie.stop(signal: SIGKILL)
        try await eventually("the failure is reported", timeout: 60) { receiver.received("members").count == 1 }
        let report = try #require(receiver.received("members").first).json()
        let events = try #require(report["events"] as? [[String: Any]])
        #expect(events.count == 1 && events[0]["kind"] as? String == "member.failed" && events[0]["subject"] as? String == "charlie", "\(events)")
        #expect(report["project"] == nil)
        try await holds("by one node, once; a channel that did not ask for mesh events gets none", for: 5) {
            receiver.received("members").count == 1 && receiver.received("audits").isEmpty
        }
    }

    /// Results a standby audited while the primary was stopped reach the primary in one batch when it
    /// resumes: every message still goes out once (the first fault run lost them when owners planned
    /// messages from the results they received rather than sharing the rows).
    @Test func messagesOfResultsAStoppedPrimaryMissedGoOutOnce() async throws {
        let receiver = try await AlertReceiver.start()
        defer { receiver.stop() }
        let env = AlertDeliveryIntegrationTests.env.merging(["GUARDIAN_REPLICATION_FACTOR": "3", "GUARDIAN_ALERT_GRACE_SECONDS": "2",
                                                             "GUARDIAN_ANTI_ENTROPY_SECONDS": "2"]) { _, new in new }
        let agents = try await AttackKit.threeAgents(key: ClusterKeyring.generate(), env: env)
        defer { for a in agents.values { kill(a.pid, SIGCONT); a.stop(signal: SIGKILL) } }
        let alpha = try #require(agents["alpha"])
        let repo = try AgentIntegrationTests.fixture()
        let made = try await alpha.json("POST", "/v1/projects", ["repositoryUrl": repo.path, "name": "stopped", "team": "t"])
        let id = try #require(made.json["id"] as? String, "\(made.text)")
        for a in agents.values { _ = try await a.waitForResult(project: id) }
        let owners = try #require(try await alpha.request("GET", "/v1/projects/\(id)/owners").json["owners"] as? [String])
        let primary = try #require(agents[owners[0]]), standby = try #require(agents[owners[1]])
        #expect(try await alpha.json("POST", "/v1/teams/t/channels", ["name": "s", "kind": "webhook", "url": receiver.url("s"),
                                                                       "frequency": "immediate", "events": ["finding.new"]]).status == 201)
        for a in agents.values {
            try await eventually("the channel reaches every node", timeout: 20) {
                (try await a.request("GET", "/v1/teams/t/channels").json["channels"] as? [[String: Any]])?.count == 1
            }
        }
        kill(primary.pid, SIGSTOP)
        var results: [String] = []
        for i in 0..<3 {
            try AlertDeliveryIntegrationTests.newFinding(repo, "s\(i)")
            let t = try await standby.request("POST", "/v1/projects/\(id)/audits?local=1")
            let done = try await standby.waitForTask(try #require(t.json["taskId"] as? String))
            results.append(try #require(done["resultId"] as? String))
        }
        kill(primary.pid, SIGCONT)
        try await eventually("each result's message accepted", timeout: 60) {
            Set(receiver.received("s").compactMap { try? $0.json()["resultId"] as? String }) == Set(results)
        }
        try await holds("and each once", for: 8) { receiver.received("s").count == 3 }
    }
}
