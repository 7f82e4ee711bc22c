import Testing
@testable import GuardianMesh

@Suite struct WireTests {
    static let meta = NodeMeta(name: "n1", id: "ABCD-EFGH", publicKey: "00ff", address: "127.0.0.1:7946", httpAddress: "127.0.0.1:7780",
                               version: "0.1.0", tags: ["team": "a", "site": "edge-1", "capacity": "2"])

    static let samples: [Message] = [
        .ping(seq: 1, target: "n2", source: "n1", updates: [.alive(incarnation: 7, meta: meta)]),
        .pingReq(seq: 4_000_000_000, target: "n3", targetAddress: "127.0.0.1:9", source: "n1",
                 updates: [.suspect(name: "n3", incarnation: 2, from: "n1"), .dead(name: "n4", incarnation: .max, from: "n4")]),
        .ack(seq: 0, source: "n2", updates: []),
        .nack(seq: 5, source: "n5"),
        .gossip(source: "n6", updates: [.dead(name: "n6", incarnation: 3, from: "n6")]),
    ]

    @Test func roundTrips() throws {
        for m in Self.samples { #expect(try Wire.decode(Wire.encode(m)) == m) }
        let states = [MemberState(meta: Self.meta, status: .suspect, incarnation: 9), MemberState(meta: NodeMeta(name: "x", address: "y"), status: .left, incarnation: 0)]
        #expect(try Wire.decodeStates(Wire.encode(states: states)) == states)
    }

    @Test func truncatedGarbledAndTrailingBytesAreErrors() {
        for m in Self.samples {
            let bytes = Wire.encode(m)
            for cut in 0..<bytes.count { #expect(throws: MeshError.self) { try Wire.decode(Array(bytes[0..<cut])) } }
            #expect(throws: MeshError.self) { try Wire.decode(bytes + [0]) }
        }
        #expect(throws: MeshError.self) { try Wire.decode([9]) }
        // a count far larger than the message
        #expect(throws: MeshError.self) { try Wire.decode([5, 1, 0x6E, 0xFF, 0xFF, 0x03]) }
        // an integer longer than 64 bits
        #expect(throws: MeshError.self) { try Wire.decode([4] + Array(repeating: 0xFF, count: 11) + [0]) }
        // invalid UTF-8 in a name
        #expect(throws: MeshError.self) { try Wire.decode([4, 1, 2, 0xC3, 0x28]) }
    }

    /// Seeded random bytes and bit flips never crash the decoder.
    @Test(arguments: [UInt64(1), 2, 3])
    func fuzz(seed: UInt64) {
        var rng = SplitMix64(seed: seed)
        for _ in 0..<3_000 {
            var bytes = Wire.encode(Self.samples.randomElement(using: &rng)!)
            for _ in 0..<Int.random(in: 1...4, using: &rng) {
                let i = Int.random(in: 0..<bytes.count, using: &rng)
                bytes[i] = UInt8.random(in: 0...255, using: &rng)
            }
            _ = try? Wire.decode(bytes)
            _ = try? Wire.decodeStates(bytes)
            let random = (0..<Int.random(in: 0...64, using: &rng)).map { _ in UInt8.random(in: 0...255, using: &rng) }
            _ = try? Wire.decode(random)
        }
    }
}

@Suite struct RingTests {
    static func nodes(_ n: Int, from: Int = 0) -> [Ring.Node] { (from..<(from + n)).map { Ring.Node(name: "node-\($0)") } }

    @Test func sameMembersSameOwnersInAnyOrder() {
        let a = Ring(nodes: Self.nodes(10), vnodesPerCapacity: 64)
        let b = Ring(nodes: Self.nodes(10).reversed(), vnodesPerCapacity: 64)
        for k in 0..<500 {
            let owners = a.owners(of: "project-\(k)", count: 3)
            #expect(owners == b.owners(of: "project-\(k)", count: 3))
            #expect(Set(owners).count == 3)
        }
        #expect(Ring(nodes: Self.nodes(2)).owners(of: "p", count: 3).count == 2)
        #expect(Ring(nodes: []).owners(of: "p", count: 3).isEmpty)
    }

    /// The brief's bars: for 100 nodes, max/avg load ≤ 1.10; a join moves ≤ 1.05 × 1/n of the keys.
    @Test func balanceAndMovementBars() {
        let ring = Ring(nodes: Self.nodes(100))
        let shares = ring.shares()
        let maxShare = shares.values.max()!
        #expect(maxShare * 100 <= 1.10, "max/avg \(maxShare * 100)")
        let bigger = Ring(nodes: Self.nodes(101))
        let keys = 200_000
        var moved = 0
        for k in 0..<keys where ring.primary(of: "p\(k)") != bigger.primary(of: "p\(k)") { moved += 1 }
        let fraction = Double(moved) / Double(keys)
        #expect(fraction <= 1.05 / 101, "moved \(fraction) vs 1/n \(1.0 / 101)")
        // every moved key moved to the new node
        for k in 0..<2_000 where ring.primary(of: "p\(k)") != bigger.primary(of: "p\(k)") {
            #expect(bigger.primary(of: "p\(k)") == "node-100")
        }
    }

    @Test func capacityWeightsTheShare() {
        var nodes = Self.nodes(9)
        nodes.append(Ring.Node(name: "big", capacity: 3))
        let shares = Ring(nodes: nodes, vnodesPerCapacity: 256).shares()
        let ratio = shares["big"]! / (shares.filter { $0.key != "big" }.values.reduce(0, +) / 9)
        #expect(ratio > 2.6 && ratio < 3.4, "\(ratio)")
    }

    @Test func deadMembersOwnNothing() {
        let members = (0..<5).map { Member(meta: NodeMeta(name: "n\($0)", address: "a"), status: $0 == 2 ? .dead : .alive, incarnation: 1, since: 0) }
        let ring = Ring(members: members, including: nil, vnodesPerCapacity: 32)
        for k in 0..<200 { #expect(!ring.owners(of: "p\(k)", count: 3).contains("n2")) }
    }
}

import GuardianCrypto

@Suite struct SealBudgetTests {
    @Test func wireBudgetMatchesTheSeal() {
        #expect(Wire.sealOverhead == ClusterSeal.overhead)
        #expect(Wire.maxMessage + ClusterSeal.overhead == 1_200)
    }
}
