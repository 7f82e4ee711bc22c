import Testing
import Foundation
@testable import GuardianMesh
@testable import GuardianSimulation

/// Seeded simulator runs. Every assertion names its seed so a failure replays exactly.
@Suite struct SimulatorTests {
    static func config(nodes: Int, seed: UInt64) -> Simulator.Config {
        var c = Simulator.Config()
        c.nodes = nodes
        c.seed = seed
        return c
    }

    @Test(arguments: [UInt64(11), 12])
    func crashedNodeIsSuspectedThenDeadEverywhere(seed: UInt64) {
        var sim = Simulator(config: Self.config(nodes: 30, seed: seed))
        sim.run(until: 5_000)
        var firstSuspicion: Millis?
        sim.onEvent = { _, e in if e.member.name == "node-7", e.kind == .suspected, firstSuspicion == nil { firstSuspicion = e.at } }
        sim.crash(7)
        let crashedAt = sim.now
        let dead = sim.run(until: 200_000) { s in
            (0..<30).allSatisfy { i in i == 7 || s.instances[i].members["node-7"]?.status == .dead }
        }
        #expect(dead != nil, "seed \(seed): node-7 not dead everywhere")
        #expect(firstSuspicion != nil && firstSuspicion! - crashedAt <= 5_000, "seed \(seed)")
        // nobody else was harmed
        #expect(sim.converged { $0 == .alive }, "seed \(seed)")
    }

    /// An update reaches every node within ⌈log2 n + ln n⌉ + 3 protocol periods.
    @Test(arguments: [UInt64(21), 22, 23])
    func updateReachesEveryoneWithinTheBound(seed: UInt64) {
        let n = 64
        var sim = Simulator(config: Self.config(nodes: n, seed: seed))
        sim.run(until: 3_000)
        var meta = sim.instances[5].me
        meta.tags["site"] = "moved"
        sim.apply(5) { s in s.update(meta: meta); return [] }
        let target = sim.instances[5].incarnation
        let start = sim.now
        let done = sim.run(until: start + 60_000) { s in
            (0..<n).allSatisfy { i in i == 5 || (s.instances[i].members["node-5"]?.incarnation ?? 0) >= target }
        }
        let bound = Int((log2(Double(n)) + log(Double(n))).rounded(.up)) + 3
        let periods = done.map { Double($0 - start) / 1000 }
        #expect(periods != nil && periods! <= Double(bound), "seed \(seed): \(String(describing: periods)) periods, bound \(bound)")
        #expect((0..<n).allSatisfy { i in i == 5 || sim.instances[i].members["node-5"]?.meta.tags["site"] == "moved" })
    }

    /// Both sides of a partition declare the other dead; after the cut ends, push-pull (which also
    /// tries dead peers) and refutation bring back full membership within 2 push-pull intervals.
    @Test(arguments: [UInt64(31), 32])
    func partitionHealsWithinTwoPushPullIntervals(seed: UInt64) {
        let n = 20
        var c = Self.config(nodes: n, seed: seed)
        c.pushPullInterval = 15_000
        var sim = Simulator(config: c)
        sim.run(until: 2_000)
        sim.partition((0..<n).map { $0 < n / 2 ? 0 : 1 })
        sim.run(until: 120_000)
        #expect(sim.instances[0].members["node-\(n - 1)"]?.status == .dead, "seed \(seed): the cut was not noticed")
        sim.heal()
        let healedAt = sim.now
        let whole = sim.run(until: healedAt + 120_000) { $0.converged { $0 == .alive } }
        #expect(whole != nil && whole! - healedAt <= 2 * c.pushPullInterval, "seed \(seed): healed after \(String(describing: whole.map { $0 - healedAt })) ms")
        let digests = Set(sim.instances.map(\.digest))
        #expect(digests.count == 1, "seed \(seed): views differ")
    }

    /// 10 % of nodes stall for 2 s again and again; with Lifeguard nobody healthy is declared dead.
    @Test(arguments: [UInt64(41)])
    func stalledNodesCauseNoFalseDeaths(seed: UInt64) {
        let n = 40
        var sim = Simulator(config: Self.config(nodes: n, seed: seed))
        var deaths = 0, suspicions = 0, stalls = 0
        sim.onEvent = { _, e in
            if e.kind == .died { deaths += 1 }
            if e.kind == .suspected { suspicions += 1 }
        }
        var rng = SplitMix64(seed: seed)
        let flaky = Array((0..<n).shuffled(using: &rng).prefix(n / 10))
        var t: Millis = 0
        while t < 400_000 {
            t += 1_000
            sim.run(until: t)
            for i in flaky where Int.random(in: 0..<15, using: &rng) == 0 { sim.stall(i, for: 2_000); stalls += 1 }
        }
        // the stalls happened and were noticed (suspected), yet nobody was declared dead
        #expect(stalls > 0 && suspicions > 0, "seed \(seed): \(stalls) stalls, \(suspicions) suspicions")
        #expect(deaths == 0, "seed \(seed): \(deaths) false deaths")
    }

    @Test func sameSeedSameRun() {
        func trace(_ seed: UInt64) -> [String] {
            var c = Self.config(nodes: 25, seed: seed)
            c.countBytes = true
            var sim = Simulator(config: c)
            var log: [String] = []
            sim.onEvent = { i, e in log.append("\(i) \(e.kind) \(e.member.name) \(e.at)") }
            sim.run(until: 3_000)
            sim.crash(3)
            sim.stall(4, for: 3_000)
            sim.run(until: 60_000)
            log.append("\(sim.delivered) \(sim.dropped) \(sim.bytes)")
            return log
        }
        #expect(trace(5) == trace(5))
        #expect(trace(5) != trace(6))
    }

    /// Nodes that join one by one through node 0 (no bootstrap) converge by gossip and push-pull.
    @Test func nodesJoiningThroughOneSeedConverge() {
        var c = Self.config(nodes: 30, seed: 51)
        c.bootstrapped = false
        var sim = Simulator(config: c)
        let t = sim.run(until: 60_000) { $0.converged { $0 == .alive } }
        #expect(t != nil, "seed 51: no convergence")
    }
}
