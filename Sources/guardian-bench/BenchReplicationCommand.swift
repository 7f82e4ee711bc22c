import ArgumentParser
import Foundation
import GuardianMesh
import GuardianSimulation

/// Result replication in the simulator (issue 5's bars): seeded fault schedules that must lose no
/// acknowledged result, and the bytes anti-entropy moves against the bytes actually missing.
struct BenchReplicationCommand: ParsableCommand {
    static let configuration = CommandConfiguration(commandName: "replication", abstract: "Replication simulator figures.")

    @Option(help: "Fault schedules to run (seeds 1…N).") var schedules = 100
    @Option var nodes = 5
    @Option var steps = 300

    func run() throws {
        faultSchedules()
        bytes()
    }

    func faultSchedules() {
        print("fault schedules: \(schedules) seeded runs, \(nodes) nodes, replication factor 3, \(steps) simulated seconds each")
        print("  faults: partitions, crashes and restarts, clock skew, 5 % of messages lost, 5 % of session frames duplicated")
        var total = ReplicationSimulator.Report(), failed: [UInt64] = []
        let started = Date()
        for seed in 1...UInt64(schedules) {
            var c = ReplicationSimulator.Config()
            c.seed = seed
            c.nodes = nodes
            c.steps = steps
            var sim = ReplicationSimulator(c)
            let r = sim.run()
            if r.lost > 0 || r.divergent > 0 { failed.append(seed) }
            total.acknowledged += r.acknowledged; total.lost += r.lost; total.divergent += r.divergent
            total.partitions += r.partitions; total.crashes += r.crashes; total.skews += r.skews
            total.sessions += r.sessions; total.abortedSessions += r.abortedSessions
            total.hintsDelivered += r.hintsDelivered; total.hintsExpired += r.hintsExpired
            total.healingRounds = max(total.healingRounds, r.healingRounds)
        }
        print("  acknowledged results \(total.acknowledged), lost \(total.lost) (bar: 0), owners divergent after healing \(total.divergent)")
        print("  faults injected: \(total.partitions) partitions, \(total.crashes) crashes, \(total.skews) clock jumps")
        print("  anti-entropy sessions \(total.sessions) (\(total.abortedSessions) cut by a lost frame); hints delivered \(total.hintsDelivered), expired \(total.hintsExpired)")
        print("  most healing rounds needed: \(total.healingRounds)")
        print(String(format: "  %.1f s", Date().timeIntervalSince(started)))
        if !failed.isEmpty { print("  FAILED seeds: \(failed)") }
    }

    func bytes() {
        print("anti-entropy bytes (two owners, one project; frames include the 40-byte seal):")
        for (held, missing, size) in [(10_000, 1, 4_000), (10_000, 10, 4_000), (100_000, 100, 4_000), (10_000, 10_000, 4_000), (10_000, 10, 31_000)] {
            var c = ReplicationSimulator.Config()
            c.nodes = 2
            c.replicationFactor = 2
            var sim = ReplicationSimulator(c)
            let shared = sim.seed(node: 0, project: "p", count: held, bytes: size)
            sim.copy(shared, to: 1)
            let idle = sim.sync(0, 1, scope: ["p"])
            _ = sim.seed(node: 0, project: "p", count: missing, bytes: size)
            let s = sim.sync(0, 1, scope: ["p"])
            print(String(format: "  %7d held, %6d missing × %6d B: %11d bytes for %11d missing = %.3f× (bar ≤ 2); idle round %d bytes (bar ≤ 1024)",
                         held, missing, size, s.frames, s.records, Double(s.frames) / Double(max(1, s.records)), idle.frames))
        }
    }
}
