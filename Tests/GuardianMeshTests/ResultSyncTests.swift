import Testing
@testable import GuardianMesh
@testable import GuardianSimulation

@Suite struct ResultSyncTests {
    static func randomID(_ rng: inout SplitMix64) -> String {
        (0..<4).map { _ in String(rng.next(), radix: 16).leftPadded(16) }.joined()
    }

    @Test func treeOverPrefixes() {
        var rng = SplitMix64(seed: 3)
        let ids = (0..<1000).map { _ in Self.randomID(&rng) }
        let set = IDSet(ids + ids.prefix(10)) // duplicates collapse
        #expect(set.ids.count == 1000)
        var whole = SetDigest()
        for id in ids { whole.add(id) }
        #expect(set.digest == whole)
        let children = set.children(of: "")
        #expect(children.count == 16)
        #expect(children.reduce(SetDigest()) { $0 ^ $1.digest } == whole, "the children partition the set")
        let p = String(ids[0].prefix(3))
        #expect(set.ids(under: p) == ids.filter { $0.hasPrefix(p) }.sorted())
        #expect(set.contains(ids[5]) && !set.contains(String(repeating: "0", count: 64)))
    }

    /// Two sides that each hold results the other lacks end with the union, and the bytes beyond
    /// the missing envelopes stay small.
    @Test(arguments: [UInt64(1), 2, 3])
    func sessionMovesExactlyWhatIsMissing(seed: UInt64) {
        var config = ReplicationSimulator.Config()
        config.nodes = 2
        config.replicationFactor = 2
        config.seed = seed
        var sim = ReplicationSimulator(config)
        let scope = ["p"]
        let shared = sim.seed(node: 0, project: "p", count: 5000, bytes: 4000)
        sim.copy(shared, to: 1)
        // idle: two small frames
        let idle = sim.sync(0, 1, scope: scope)
        #expect(idle.records == 0 && idle.frames <= 1024, "idle exchange \(idle.frames) bytes")
        // each side misses a few of the other's
        let onlyA = sim.seed(node: 0, project: "p", count: 7, bytes: 4000)
        let onlyB = sim.seed(node: 1, project: "p", count: 3, bytes: 4000)
        let s = sim.sync(0, 1, scope: scope)
        #expect(s.moved == onlyA.count + onlyB.count)
        #expect(s.records == (onlyA.count + onlyB.count) * 4000)
        #expect(s.frames <= 2 * s.records, "anti-entropy \(s.frames) bytes for \(s.records) missing")
        #expect(sim.digest(node: 0, scope: scope) == sim.digest(node: 1, scope: scope))
        // a large backlog: 10,000 missing on one side, sent in 8 MB frames
        _ = sim.seed(node: 0, project: "p", count: 10_000, bytes: 4000)
        let backlog = sim.sync(0, 1, scope: scope)
        #expect(backlog.moved == 10_000 && backlog.frames <= 2 * backlog.records)
        #expect(sim.digest(node: 0, scope: scope) == sim.digest(node: 1, scope: scope))
        #expect(sim.sync(1, 0, scope: scope).moved == 0)
    }

    /// The property: under any interleaving, loss and duplication of replication messages, with
    /// partitions, crashes, restarts and clock skew, no acknowledged result is lost once faults heal.
    @Test(arguments: Array(UInt64(1)...20))
    func faultSchedulesLoseNoAcknowledgedResult(seed: UInt64) {
        var config = ReplicationSimulator.Config()
        config.seed = seed
        config.steps = 150
        config.loss = 0.1
        config.duplication = 0.1
        config.partitionChance = 0.05
        config.crashChance = 0.05
        config.skewChance = 0.05
        config.envelopeBytes = 500...5000
        var sim = ReplicationSimulator(config)
        let r = sim.run()
        #expect(r.acknowledged > 100)
        #expect(r.lost == 0 && r.divergent == 0, "seed \(seed): \(r)")
        #expect(r.partitions + r.crashes > 0, "the schedule had faults")
    }

    @Test func messagesRoundTrip() throws {
        let id = String(repeating: "ab", count: 32)
        let messages: [ResultSync] = [
            .open(from: "alpha", scope: 42, digest: SetDigest(count: 3, xor: 99)), .needScope, .scope(["p1", "p2"]), .inSync,
            .descend(expand: ["", "a"], leaves: [.init(prefix: "ab", ids: [id])], records: [.init(project: "p", createdAt: 1.5, envelope: [1, 2, 3])]),
            .reply(nodes: [.init(prefix: "0", digest: SetDigest(count: 1, xor: 2))], records: [], want: [id]),
            .push([.init(project: "p", createdAt: 2, envelope: [9])]), .pushed(stored: 1, refused: 0),
        ]
        for m in messages { #expect(try ResultSync.decode(m.encode()) == m) }
    }

    @Test func malformedMessagesAreRejected() {
        let id = String(repeating: "ab", count: 32)
        var bad: [[UInt8]] = [
            [], // an empty response
            [99], // unknown kind
            ResultSync.open(from: "a", scope: 1, digest: SetDigest()).encode().dropLast(1).map { $0 }, // truncated
            ResultSync.inSync.encode() + [0], // trailing bytes
            // a prefix as long as an id, a non-hex prefix, an inverted (uppercase) id, an id outside its leaf
            ResultSync.descend(expand: [id], leaves: [], records: []).encode(),
            ResultSync.descend(expand: ["xyz"], leaves: [], records: []).encode(),
            ResultSync.reply(nodes: [], records: [], want: [id.uppercased()]).encode(),
            ResultSync.descend(expand: [], leaves: [.init(prefix: "c", ids: [id])], records: []).encode(),
            // an empty child prefix, an empty envelope, a non-finite time
            ResultSync.reply(nodes: [.init(prefix: "", digest: SetDigest())], records: [], want: []).encode(),
            ResultSync.push([.init(project: "p", createdAt: 1, envelope: [])]).encode(),
            ResultSync.push([.init(project: "p", createdAt: .nan, envelope: [1])]).encode(),
        ]
        // an oversized count
        var w = Wire.Writer()
        w.byte(7); w.uint(UInt64(ResultSync.maxCount) + 1)
        bad.append(w.bytes)
        var rng = SplitMix64(seed: 11)
        for _ in 0..<500 { bad.append((0..<Int.random(in: 1...64, using: &rng)).map { _ in UInt8.random(in: 0...255, using: &rng) }) }
        var rejected = 0
        for b in bad { if (try? ResultSync.decode(b)) == nil { rejected += 1 } }
        #expect(rejected >= 12, "every hand-made malformed message is an error")
        for b in bad.prefix(12) { #expect(throws: (any Error).self) { try ResultSync.decode(b) } }
    }
}
