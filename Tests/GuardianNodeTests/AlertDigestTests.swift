import Foundation
import GuardianCore
import GuardianMesh
import GuardianTestKit
import Logging
import Synchronization
import Testing
@testable import GuardianHTTP
@testable import GuardianNode
@testable import GuardianStore

/// Digests on a node in this process with its clock moved to a period's end: held events of two
/// projects become one message to a real receiver on loopback, grouped by project, once; an event
/// that arrives after its digest goes into the next; a weekly digest carries the score trends.
@Suite(.serialized) struct AlertDigestTests {
    final class Clock: Sendable {
        let ms = Mutex<Int64>(0)
        func set(_ t: Int64) { ms.withLock { $0 = t } }
        var now: Int64 { ms.withLock { $0 } }
    }

    static func node() throws -> Node {
        var c = AgentConfig()
        c.dataDir = FileManager.default.temporaryDirectory.appendingPathComponent("guardian-digest-\(UUID())").path
        c.name = "digester"
        c.alertAllowPrivateTargets = true
        c.publicURL = "https://guardian.example.test"
        return try Node(config: c, logger: Logger(label: "test"), audits: false)
    }

    /// A node with projects p1 (Alpha) and p2 (Beta) of team t, and its sender on a clock the test sets.
    static func setUp() throws -> (Node, Clock, AlertSender) {
        let node = try Self.node()
        let clock = Clock()
        let sender = try AlertSender(api: API(node: node), logger: Logger(label: "test"), clock: { clock.now })
        try Self.project(node, "p1", "Alpha")
        try Self.project(node, "p2", "Beta")
        return (node, clock, sender)
    }

    static func project(_ node: Node, _ id: String, _ name: String) throws {
        try node.registry.insert(project: ProjectRecord(id: id, name: name, repositoryUrl: "/x/\(id)", team: "t", branch: nil, scheduleSeconds: 0,
                                                        profile: "default", webhookSecret: nil, credentials: nil, createdAt: 1, updatedAt: 1,
                                                        lastAuditAt: nil, nextAuditAt: nil))
    }

    static func held(_ node: Node, _ channel: AlertChannel, project: String, name: String, result: String, at t: Int64, _ events: [AlertEvent]) throws -> [AlertOutboxRow] {
        let rows = AlertPlanner.rows(events: events, context: AlertContext(projectId: project, projectName: name, team: "t", resultId: result, commit: nil,
                                                                          health: 70, link: nil),
                                     channels: [channel], frequency: { AlertChannel.Frequency(rawValue: $0.frequency ?? "") ?? .immediate },
                                     key: result, createdAt: t, now: t)
        try node.store.insert(alerts: rows)
        return rows
    }

    /// Starts every due message and waits for them to finish.
    static func send(_ sender: AlertSender) async {
        await withDiscardingTaskGroup { group in
            for row in await sender.due() { group.addTask { await sender.attempt(row) } }
        }
    }

    @Test func heldEventsBecomeOneDigestPerChannelAndPeriod() async throws {
        let receiver = try await AlertReceiver.start()
        defer { receiver.stop() }
        let (node, clock, sender) = try Self.setUp()
        let daily = AlertChannel(team: "t", name: "daily", kind: .webhook, url: receiver.url("daily"), to: nil, secret: nil,
                                 events: AlertChannel.defaultEvents, minSeverity: .info, frequency: .daily, createdAt: 1, updatedAt: 1)
        try node.registry.save(channel: daily)

        let day = DigestPeriod.daily.start(containing: 1_780_000_000_000)
        let end = day + DigestPeriod.daily.length
        let a = try Self.held(node, daily, project: "p1", name: "Alpha", result: "r1", at: day + 1_000,
                              [AlertEvent(kind: .gateFailed, project: "p1", summary: "the quality gate failed (health 40)", severity: .high)])
        _ = try Self.held(node, daily, project: "p2", name: "Beta", result: "r2", at: day + 3_600_000,
                          [AlertEvent(kind: .findingNew, project: "p2", subject: "f1", summary: "strict/dangerous-call at a.py:3: os.system", severity: .high),
                           AlertEvent(kind: .healthDropped, project: "p2", summary: "health dropped from 90 to 70", severity: .medium)])
        _ = try Self.held(node, daily, project: "p1", name: "Alpha", result: "r3", at: day + 7_200_000,
                          [AlertEvent(kind: .gateRecovered, project: "p1", summary: "the quality gate passes again (health 80)")])
        #expect(a.first?.state == "held" && a.first?.nextAttemptAt == end && a.first?.digest == "daily")

        let id = DigestPeriod.daily.deliveryID(channel: "t.daily", start: day)
        // not before the period has ended and settled
        clock.set(end + sender.settle - 1)
        await sender.buildDigests(now: clock.now)
        #expect(try node.store.hasAlert(id: id) == false)
        #expect(try node.store.alerts(state: "held", limit: 10).count == 3)

        clock.set(end + sender.settle + 1)
        await sender.buildDigests(now: clock.now)
        #expect(try node.store.alerts(state: "held", limit: 10).isEmpty)
        let digested = try node.store.alerts(state: "digested", limit: 10)
        #expect(digested.count == 3 && digested.allSatisfy { $0.lastAnswer == "in \(id)" })
        await Self.send(sender)
        let got = try #require(receiver.received("daily").first)
        #expect(receiver.received("daily").count == 1 && got.headers["x-guardian-delivery"] == id)
        let body = try got.json()
        let digest = try #require(body["digest"] as? [String: Any])
        #expect(digest["period"] as? String == "daily" && digest["team"] as? String == "t" && digest["start"] as? Double == Double(day) / 1000
                && digest["url"] as? String == "https://guardian.example.test/ui/teams/t", "\(digest)")
        #expect(body["project"] == nil)
        let events = try #require(body["events"] as? [[String: Any]])
        #expect(events.map { $0["project"] as? String } == ["p1", "p1", "p2", "p2"], "grouped by project: \(events)")
        #expect(events.map { $0["summary"] as? String ?? "" }.first == "Alpha: the quality gate failed (health 40)")
        #expect(try node.store.alert(id: id)?.state == "sent")

        // an event of that day that arrives after its digest goes into the next day's
        let late = try Self.held(node, daily, project: "p2", name: "Beta", result: "r4", at: day + 9_000_000,
                                 [AlertEvent(kind: .gateFailed, project: "p2", summary: "the quality gate failed (health 30)", severity: .high)])
        clock.set(clock.now + 3_000)
        await sender.buildDigests(now: clock.now)
        await Self.send(sender)
        #expect(receiver.received("daily").count == 1)
        #expect(try node.store.alert(id: try #require(late.first?.id))?.nextAttemptAt == end + DigestPeriod.daily.length)
    }

    @Test func aWeeklyDigestCarriesEachProjectsScoreTrend() async throws {
        let receiver = try await AlertReceiver.start()
        defer { receiver.stop() }
        let (node, clock, sender) = try Self.setUp()
        let now = Date().timeIntervalSince1970
        try node.registry.save(summary: ProjectSummary(id: "p1", resultId: "r9", createdAt: now - 10, commit: "abc", health: 80, gatePassed: true,
                                                       signer: "n", checks: [:], trend: [72, 75, 80]))
        let weekly = AlertChannel(team: "t", name: "weekly", kind: .slack, url: receiver.url("weekly"), to: nil, secret: nil,
                                  events: AlertChannel.defaultEvents, minSeverity: .info, frequency: .weekly, createdAt: 1, updatedAt: 1)
        try node.registry.save(channel: weekly)
        let week = DigestPeriod.weekly.start(containing: Int64(now * 1000))
        _ = try Self.held(node, weekly, project: "p2", name: "Beta", result: "r1", at: week + 5_000,
                          [AlertEvent(kind: .healthDropped, project: "p2", summary: "health dropped from 90 to 70", severity: .medium)])
        clock.set(week + DigestPeriod.weekly.length + sender.settle + 1)
        await sender.buildDigests(now: clock.now)
        await Self.send(sender)
        let slack = try #require(receiver.received("weekly").first).json()
        let text = ((slack["blocks"] as? [[String: Any]]) ?? []).compactMap { ($0["text"] as? [String: Any])?["text"] as? String }.joined(separator: "\n")
        #expect((slack["text"] as? String)?.hasPrefix("Guardian: weekly digest of team t — 1 event in 2 projects") == true, "\(slack)")
        #expect(text.contains("Beta: health dropped from 90 to 70"), "\(text)")
        #expect(text.contains("Alpha: health 80, gate passed (72 → 80 over the last 3 audits, +8)"), "\(text)")
        #expect(receiver.received("weekly").first?.headers["x-guardian-delivery"] == nil, "Slack gets no delivery header; the id is in the history")
        #expect(try node.store.alert(id: DigestPeriod.weekly.deliveryID(channel: "t.weekly", start: week))?.state == "sent")
    }
}
