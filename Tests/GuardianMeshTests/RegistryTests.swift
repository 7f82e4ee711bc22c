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
}
