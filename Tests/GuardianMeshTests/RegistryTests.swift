import Testing
@testable import GuardianMesh

@Suite struct RegistryTests {
    @Test func clockIsMonotonicAndFollowsPeers() {
        var c = HLCClock(node: "a")
        let t1 = c.now(wall: 1_000)
        let t2 = c.now(wall: 1_000)
        let t3 = c.now(wall: 999) // the wall clock stepped back: still increasing
        #expect(t1 < t2 && t2 < t3)
        let followed = c.observe(HLC(wall: 5_000, logical: 7, node: "b"), wall: 1_001)
        #expect(followed)
        let t4 = c.now(wall: 1_002)
        #expect(t4 > HLC(wall: 5_000, logical: 7, node: "b"))
        // a timestamp an hour ahead is refused and changes nothing
        let refused = c.observe(HLC(wall: 1_002 + 3_600_000, logical: 0, node: "b"), wall: 1_002)
        #expect(!refused)
        #expect(c.last == t4)
    }

    @Test func tieBreaksByNodeID() {
        #expect(HLC(wall: 1, logical: 0, node: "a") < HLC(wall: 1, logical: 0, node: "b"))
        #expect(!(HLC(wall: 1, logical: 0, node: "b") < HLC(wall: 1, logical: 0, node: "a")))
        #expect(!(HLC(wall: 1, logical: 0, node: "a") < HLC(wall: 1, logical: 0, node: "a")))
    }

    @Test func lastWriterWinsAndTombstonesWin() {
        var a = Registry(node: "a"), b = Registry(node: "b")
        let w1 = a.write(kind: .project, id: "p", value: Array("v1".utf8), wall: 100)
        let o1 = b.merge(w1, wall: 100)
        #expect(o1 == .applied)
        let del = b.write(kind: .project, id: "p", value: nil, wall: 200)
        let o2 = a.merge(del, wall: 150) // b's clock was ahead but within the drift
        #expect(o2 == .applied)
        #expect(a.value(.project, "p") == nil && b.value(.project, "p") == nil)
        let o3 = a.merge(w1, wall: 300)
        #expect(o3 == .stale, "an older write does not resurrect a deleted record")
        #expect(a.digest == b.digest)
        let future = RegistryRecord(kind: .team, id: "t", stamp: HLC(wall: 10_000_000, logical: 0, node: "evil"), value: Array("x".utf8))
        let o4 = a.merge(future, wall: 400)
        #expect(o4 == .refused)
        #expect(a.refusedFuture == 1 && a.value(.team, "t") == nil)
    }

    /// The same set of changes, in any order and with any duplication, gives the same state.
    @Test(arguments: [UInt64(1), 2, 3, 4, 5])
    func anyOrderAnyDuplicationSameState(seed: UInt64) {
        var rng = SplitMix64(seed: seed)
        var writers = (0..<4).map { Registry(node: "n\($0)") }
        var changes: [RegistryRecord] = []
        var wall: Int64 = 1_000
        for _ in 0..<300 {
            wall += Int64.random(in: 0...3, using: &rng) // many writes in the same millisecond
            let w = Int.random(in: 0..<4, using: &rng)
            let id = "p\(Int.random(in: 0..<20, using: &rng))"
            let value: [UInt8]? = Int.random(in: 0..<5, using: &rng) == 0 ? nil : Array("v\(rng.next() % 100)".utf8)
            changes.append(writers[w].write(kind: .project, id: id, value: value, wall: wall + Int64.random(in: -5...5, using: &rng)))
            // writers sometimes hear about each other's changes
            if let seen = changes.randomElement(using: &rng) { writers[Int.random(in: 0..<4, using: &rng)].merge(seen, wall: wall) }
        }
        var digests: Set<UInt64> = []
        for _ in 0..<6 {
            var replica = Registry(node: "r")
            var stream = changes + changes.prefix(Int.random(in: 0..<changes.count, using: &rng))
            stream.shuffle(using: &rng)
            for r in stream { replica.merge(r, wall: wall) }
            digests.insert(replica.digest)
        }
        #expect(digests.count == 1, "seed \(seed): replicas differ")
    }

    /// Anti-entropy by stamps: after one diff-and-exchange in each direction, two replicas that
    /// diverged (each with writes the other never saw) hold exactly the same records.
    @Test(arguments: [UInt64(7), 8, 9])
    func diffExchangeConverges(seed: UInt64) {
        var rng = SplitMix64(seed: seed)
        var a = Registry(node: "a"), b = Registry(node: "b")
        for i in 0..<200 {
            let id = "p\(Int.random(in: 0..<50, using: &rng))"
            let value: [UInt8]? = i % 7 == 0 ? nil : Array("v\(i)".utf8)
            if Bool.random(using: &rng) { _ = a.write(kind: .project, id: id, value: value, wall: Int64(1_000 + i)) } else {
                _ = b.write(kind: .token, id: id, value: value, wall: Int64(1_000 + i))
            }
            if i % 50 == 0, let shared = a.records.values.first { b.merge(shared, wall: 5_000) }
        }
        #expect(a.digest != b.digest)
        let (send, want) = RegistrySync.diff(mine: a.stamps, theirs: b.stamps)
        for k in send { b.merge(a.records[k]!, wall: 5_000) }
        for k in want { a.merge(b.records[k]!, wall: 5_000) }
        #expect(a.digest == b.digest)
        #expect(a.records == b.records)
        let again = RegistrySync.diff(mine: a.stamps, theirs: b.stamps)
        #expect(again.send.isEmpty && again.want.isEmpty, "nothing moves between equal replicas")
    }

    @Test func syncMessagesRoundTrip() throws {
        let r1 = RegistryRecord(kind: .project, id: "p1", stamp: HLC(wall: 1_700_000_000_000, logical: 3, node: "n"), value: Array("{\"x\":1}".utf8))
        let r2 = RegistryRecord(kind: .token, id: "t", stamp: HLC(wall: 5, logical: 0, node: "m"), value: nil)
        let messages: [RegistrySync] = [.records([r1, r2]), .ack(applied: 2, refused: 1), .digest(UInt64.max), .inSync,
                                        .stamps(["project/p1": r1.stamp, "token/t": r2.stamp]), .exchange(records: [r2], want: ["team/x"])]
        for m in messages { #expect(try RegistrySync.decode(m.encode()) == m) }
    }

    /// Truncated, padded, oversized and garbage messages are errors, never crashes.
    @Test func malformedSyncMessagesAreRejected() {
        let good = RegistrySync.records([RegistryRecord(kind: .team, id: "t", stamp: HLC(wall: 1, logical: 0, node: "n"), value: [1, 2, 3])]).encode()
        for cut in 0..<good.count { #expect(throws: MeshError.self) { try RegistrySync.decode(Array(good.prefix(cut))) } }
        #expect(throws: MeshError.self) { try RegistrySync.decode(good + [0]) }
        #expect(throws: MeshError.self) { try RegistrySync.decode([9]) }
        // a count far larger than the message, and a record with an empty id
        #expect(throws: MeshError.self) { try RegistrySync.decode([1, 0xFF, 0xFF, 0xFF, 0x7F]) }
        #expect(throws: MeshError.self) { try RegistrySync.decode([1, 1, 1, 0, 1, 0, 1, 0x6E, 0]) }
        var rng = SplitMix64(seed: 42)
        for _ in 0..<5_000 {
            var bytes = good
            bytes[Int.random(in: 0..<bytes.count, using: &rng)] = UInt8.random(in: 0...255, using: &rng)
            _ = try? RegistrySync.decode(bytes)
        }
    }
}
