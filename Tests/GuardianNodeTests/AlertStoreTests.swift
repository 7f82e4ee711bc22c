import Foundation
import GRDB
import GuardianCore
import GuardianCrypto
import GuardianMesh
import Testing
@testable import GuardianNode
@testable import GuardianStore

/// Alert channels and the outbox on real SQLite: a channel's URL and secret sealed at rest on every
/// node and replicated in clear only inside the registry stream, never exported to a bundle; an
/// owner's final record finishing the others' copies whichever arrives first.
@Suite struct AlertStoreTests {
    typealias Replica = ReplicatedRegistryTests.Replica

    static func channel(_ name: String = "hook", url: String = "https://hooks.example.test/T000/secret-path") -> AlertChannel {
        AlertChannel(team: "t", name: name, kind: .webhook, url: url, to: nil, secret: "hmac-key-42", events: ["finding.new"],
                     minSeverity: .high, frequency: .immediate, createdAt: 1, updatedAt: 1)
    }

    @Test func channelsAreSealedAtRestReplicatedAndNeverExported() async throws {
        let a = try Replica("node-a"), b = try Replica("node-b")
        defer { a.cleanUp(); b.cleanUp() }
        try a.registry.save(channel: Self.channel())
        try await ReplicatedRegistryTests.copyAll(a, to: b)
        #expect(try b.registry.channel(id: "t.hook") == Self.channel())
        #expect(try b.registry.channels(team: "t").map(\.id) == ["t.hook"])
        for r in [a, b] {
            let raw = try Data(contentsOf: URL(fileURLWithPath: r.dir + "/guardian.sqlite")) + ((try? Data(contentsOf: URL(fileURLWithPath: r.dir + "/guardian.sqlite-wal"))) ?? Data())
            #expect(raw.range(of: Data("secret-path".utf8)) == nil && raw.range(of: Data("hmac-key-42".utf8)) == nil, "the URL and secret are sealed at rest")
        }
        #expect(try a.registry.exportable(project: nil, since: nil).allSatisfy { $0.kind != .channel }, "bundles never carry channels")
        // a channel that breaks the rules is refused from a peer as from the API
        var bad = Self.channel("bad")
        bad.events = ["test"]
        let record = RegistryRecord(kind: .channel, id: bad.id, stamp: HLC(wall: Int64(Date().timeIntervalSince1970 * 1000), logical: 0, node: "node-a"),
                                    value: [UInt8](try JSONEncoder().encode(bad)))
        #expect(try await b.registry.merge([record]).invalid == 1)
        #expect(throws: InvalidRecord.self) { try a.registry.save(channel: bad) }
        // deleted everywhere
        try a.registry.deleteChannel(id: "t.hook")
        try await ReplicatedRegistryTests.copyAll(a, to: b)
        #expect(try b.registry.channel(id: "t.hook") == nil)
    }

    @Test func aFinalRecordFinishesACopyWhetherItArrivesBeforeOrAfterIt() throws {
        let r = try Replica("node-a")
        defer { r.cleanUp() }
        let t = Int64(Date().timeIntervalSince1970 * 1000)
        let row = AlertOutboxRow(id: "evt-1", projectId: "p", channel: "t.hook", resultId: "r", payload: "{}", createdAt: t, updatedAt: t)
        var sent = row
        sent.state = "sent"; sent.attempts = 2; sent.lastAnswer = "HTTP 200"; sent.finishedBy = "node-b"; sent.updatedAt = t + 1_000
        // after: the queued copy becomes sent
        try r.store.insert(alerts: [row])
        #expect(try r.store.dueAlerts(now: t + 5_000, limit: 10).map(\.id) == ["evt-1"])
        #expect(try r.store.apply(finals: [AlertFinalRecord(sent)]) == 1)
        #expect(try r.store.dueAlerts(now: t + 5_000, limit: 10).isEmpty)
        #expect(try r.store.alert(id: "evt-1")?.finishedBy == "node-b" && r.store.alert(id: "evt-1")?.payload == "{}")
        // a final state is never undone: neither by a later attempt's record nor by another final record
        var retrying = row
        retrying.state = "retrying"
        try r.store.update(alert: retrying)
        var dead = sent
        dead.state = "dead"
        #expect(try r.store.apply(finals: [AlertFinalRecord(dead)]) == 0)
        #expect(try r.store.alert(id: "evt-1")?.state == "sent")
        // before: the record waits, and the copy written later with its result is not sent
        let early = AlertOutboxRow(id: "evt-2", projectId: "p", channel: "t.hook", resultId: "r2", payload: "{}", createdAt: t, updatedAt: t)
        var earlySent = early
        earlySent.state = "sent"; earlySent.finishedBy = "node-b"
        try r.store.apply(finals: [AlertFinalRecord(earlySent)])
        try r.store.insert(alerts: [early])
        #expect(try r.store.dueAlerts(now: t + 5_000, limit: 10).isEmpty)
        #expect(try r.store.alert(id: "evt-2")?.state == "sent")
        #expect(try r.store.alerts(limit: 10).map(\.id).sorted() == ["evt-1", "evt-2"], "the early record's row got its message for the history")
        #expect(try r.store.alert(id: "evt-2")?.resultId == "r2")
        // a record from a clock far off is not applied (its times become arithmetic)
        var skewed = AlertOutboxRow(id: "evt-3", projectId: "p", channel: "t.hook", resultId: nil, payload: nil, createdAt: t, updatedAt: Int64.max)
        skewed.state = "sent"
        #expect(try r.store.apply(finals: [AlertFinalRecord(skewed)]) == 0)
    }
}
