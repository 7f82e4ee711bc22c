import ArgumentParser
import Foundation
import GuardianMesh
import GuardianSimulation

/// The mesh's simulator and ring figures (scripts/bench-mesh.sh): seeded, deterministic runs with
/// 1,000 nodes that print histograms against the bars of issue 4.
struct BenchMeshCommand: ParsableCommand {
    static let configuration = CommandConfiguration(commandName: "mesh", abstract: "Simulator and ring figures.")

    @Option var nodes = 1000
    @Option var seed: UInt64 = 1
    @Option(help: "Protocol periods for the false-positive runs.") var periods = 10_000
    @Option var trials = 20
    @Option(help: "A flaky node stalls on average once in this many periods.") var stallEvery = 100
    @Option(help: "Which parts: ring, dissemination, detection, stalls, partition (comma-separated).") var parts = "ring,dissemination,detection,stalls,partition"
    enum Lifeguard: String, ExpressibleByArgument, CaseIterable { case on, off, both }
    @Option(help: "False-positive runs with the Lifeguard extensions on, off, or both (two processes can run one each).") var lifeguard = Lifeguard.both

    func run() throws {
        let want = Set(parts.split(separator: ",").map(String.init))
        if want.contains("ring") { ring() }
        if want.contains("dissemination") { dissemination() }
        if want.contains("detection") { detection() }
        if want.contains("stalls") {
            if lifeguard != .off { stalls(lifeguard: true) }
            if lifeguard != .on { stalls(lifeguard: false) }
        }
        if want.contains("partition") { partition() }
    }

    func config(lifeguard: Bool = true, seed: UInt64? = nil) -> Simulator.Config {
        var c = Simulator.Config()
        c.nodes = nodes
        c.seed = seed ?? self.seed
        c.swim.lifeguard = lifeguard
        return c
    }

    static func histogram(_ values: [Double], unit: String, width: Double) -> String {
        guard let lo = values.min(), let hi = values.max() else { return "  (no samples)" }
        var lines: [String] = []
        var b = (lo / width).rounded(.down) * width
        while b <= hi {
            let n = values.filter { $0 >= b && $0 < b + width }.count
            lines.append(String(format: "  %6.1f–%-6.1f %@ %4d %@", b, b + width, unit, n, String(repeating: "#", count: min(60, n))))
            b += width
        }
        return lines.joined(separator: "\n")
    }

    static func median(_ v: [Double]) -> Double {
        let s = v.sorted()
        return s.isEmpty ? .nan : (s.count % 2 == 1 ? s[s.count / 2] : (s[s.count / 2 - 1] + s[s.count / 2]) / 2)
    }

    func ring() {
        print("== Ring: 100 nodes, \(Ring.defaultVnodes) virtual nodes per unit of capacity")
        let names = (0..<100).map { Ring.Node(name: "node-\($0)") }
        let r = Ring(nodes: names)
        let shares = r.shares().values
        print(String(format: "max/avg load: %.3f (bar: <= 1.10); min/avg %.3f", shares.max()! * 100, shares.min()! * 100))
        // Exactly the keys on the arcs the joiner takes over move (checked on sample keys below), so
        // the moved fraction is the joiner's share of the new ring.
        var moved: [Double] = []
        let keys = 100_000
        var strays = 0
        for j in 0..<10 {
            let joiner = "joiner-\(j)"
            let bigger = Ring(nodes: names + [Ring.Node(name: joiner)])
            moved.append(bigger.shares()[joiner]! * 101)
            if j == 0 {
                for k in 0..<keys where r.primary(of: "project-\(k)") != bigger.primary(of: "project-\(k)") && bigger.primary(of: "project-\(k)") != joiner { strays += 1 }
            }
        }
        print(String(format: "keys moved on a join, × 1/n (10 joins, exact): mean %.3f, max %.3f (bar: <= 1.05); keys that moved elsewhere than to the joiner: %d of %d",
                     moved.reduce(0, +) / 10, moved.max()!, strays, keys))
        let smaller = Ring(nodes: Array(names.dropFirst()))
        var m = 0
        for k in 0..<keys where r.primary(of: "project-\(k)") != smaller.primary(of: "project-\(k)") { m += 1 }
        print(String(format: "keys moved on a leave, × 1/n: %.3f", Double(m) / Double(keys) * 100))
    }

    func dissemination() {
        let n = nodes
        let bound = Int((log2(Double(n)) + log(Double(n))).rounded(.up)) + 3
        print("\n== Dissemination: \(n) nodes, \(trials) updates from random nodes (bar: every live node within \(bound) periods)")
        var sim = Simulator(config: config())
        sim.run(until: 5_000)
        var rng = SplitMix64(seed: seed ^ 0xD1)
        var periods: [Double] = []
        for _ in 0..<trials {
            let who = Int.random(in: 0..<n, using: &rng)
            var meta = sim.instances[who].me
            meta.tags["site"] = "site-\(rng.next() % 1000)"
            sim.apply(who) { s in s.update(meta: meta); return [] }
            let inc = sim.instances[who].incarnation
            let start = sim.now
            let name = Simulator.name(who)
            let t = sim.run(until: start + 60_000, checkEvery: 100) { s in
                (0..<n).allSatisfy { i in i == who || (s.instances[i].members[name]?.incarnation ?? 0) >= inc }
            }
            periods.append(Double((t ?? start + 60_000) - start) / 1000)
            sim.run(until: sim.now + 5_000)
        }
        print(Self.histogram(periods, unit: "periods", width: 1))
        print(String(format: "median %.1f, max %.1f periods (bar: %d)", Self.median(periods), periods.max()!, bound))
    }

    func detection() {
        let n = nodes
        print("\n== Detection: \(n) nodes, \(trials) crashes at random times (bar: median time to first detection <= 1.6 probe intervals)")
        var sim = Simulator(config: config())
        sim.run(until: 5_000)
        var rng = SplitMix64(seed: seed ^ 0xDE)
        var first: [Double] = []
        var everywhere: [Double] = []
        var crashed: Set<Int> = []
        for _ in 0..<trials {
            var victim = Int.random(in: 0..<n, using: &rng)
            while crashed.contains(victim) { victim = Int.random(in: 0..<n, using: &rng) }
            crashed.insert(victim)
            sim.run(until: sim.now + Millis.random(in: 0..<1000, using: &rng))
            let name = Simulator.name(victim)
            nonisolated(unsafe) var seen: Millis?
            sim.onEvent = { _, e in if seen == nil, e.member.name == name, e.kind == .suspected { seen = e.at } }
            sim.crash(victim)
            let start = sim.now
            let dead = sim.run(until: start + 300_000, checkEvery: 250) { s in
                (0..<n).allSatisfy { i in s.crashed[i] || s.instances[i].members[name]?.status != .alive && s.instances[i].members[name]?.status != .suspect }
            }
            sim.onEvent = nil
            if let seen { first.append(Double(seen - start) / 1000) }
            if let dead { everywhere.append(Double(dead - start) / 1000) }
        }
        print("time to first detection (suspicion), probe intervals:")
        print(Self.histogram(first, unit: "", width: 0.25))
        print(String(format: "median %.2f probe intervals (bar: <= 1.6); declared dead everywhere: median %.1f s, max %.1f s",
                     Self.median(first), Self.median(everywhere), everywhere.max() ?? .nan))
    }

    func stalls(lifeguard: Bool) {
        let n = nodes
        var sim = Simulator(config: config(lifeguard: lifeguard))
        var rng = SplitMix64(seed: seed ^ 0x57)
        let flaky = Array((0..<n).shuffled(using: &rng).prefix(n / 10))
        nonisolated(unsafe) var deaths: Set<String> = []
        nonisolated(unsafe) var suspicions = 0
        sim.onEvent = { _, e in
            if e.kind == .died { deaths.insert("\(e.member.name)#\(e.member.incarnation)") }
            if e.kind == .suspected { suspicions += 1 }
        }
        let start = Date()
        var t: Millis = 0
        var stalls = 0
        for _ in 0..<periods {
            t += 1000
            sim.run(until: t)
            // each flaky node stalls for 2 s at random, on average once every `stallEvery` periods
            for i in flaky where Int.random(in: 0..<stallEvery, using: &rng) == 0 { sim.stall(i, for: 2_000); stalls += 1 }
        }
        print(String(format: "\n== False positives, Lifeguard %@: %d nodes, %d periods, 10%% of nodes stalling for 2 s at random, each about once in %d periods (%d stalls)",
                     lifeguard ? "on" : "off", n, periods, stallEvery, stalls))
        print(String(format: "healthy or stalled nodes declared dead: %d (bar: 0); suspicion events seen: %d; %.0f s to simulate",
                     deaths.count, suspicions, Date().timeIntervalSince(start)))
    }

    func partition() {
        let n = nodes
        print("\n== Partition heal: \(n) nodes cut in two for 120 s (bar: full membership within 2 push-pull intervals of the cut ending)")
        var healed: [Double] = []
        for trial in 0..<max(1, min(trials, 3)) {
            var c = config(seed: seed &+ UInt64(trial))
            c.countBytes = trial == 0
            var sim = Simulator(config: c)
            sim.run(until: 5_000)
            let bytesBefore = sim.bytes
            sim.run(until: 65_000)
            if trial == 0 {
                print(String(format: "gossip bytes per node per second (steady state, sealed datagrams): %.0f",
                             Double(sim.bytes - bytesBefore) / Double(n) / 60))
            }
            sim.partition((0..<n).map { $0 % 2 })
            sim.run(until: sim.now + 120_000)
            sim.heal()
            let start = sim.now
            let whole = sim.run(until: start + 10 * c.pushPullInterval, checkEvery: 1000) { $0.converged { $0 == .alive } }
            let intervals = Double((whole ?? start + 10 * c.pushPullInterval) - start) / Double(c.pushPullInterval)
            healed.append(intervals)
            print(String(format: "trial %d: full membership %.2f push-pull intervals (%.0f s) after the cut ended%@", trial, intervals,
                         intervals * Double(c.pushPullInterval) / 1000, whole == nil ? " (NOT healed)" : ""))
        }
    }
}
