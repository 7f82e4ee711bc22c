import ArgumentParser
import Foundation
import GuardianFuzz

/// `guardian-bench fuzz`: the long run of the decoder fuzzers (`GuardianFuzz`): every decoder of
/// outside bytes gets `--inputs` seeded, mutated inputs. A trap ends the process; the table
/// says how many inputs each decoder accepted and how fast it went.
struct BenchFuzzCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "fuzz",
        abstract: "Fuzz every wire decoder with seeded, mutated input (100,000 inputs each by default).")

    @Option(help: "Inputs per decoder.") var inputs = 100_000
    @Option(help: "Seed (a run replays exactly from it).") var seed: UInt64 = 1
    @Option(help: "Only this decoder (repeatable); default all.") var target: [String] = []

    func run() async throws {
        let chosen = target.isEmpty ? Fuzz.targets : try target.map { name in
            guard let t = Fuzz.target(named: name) else {
                throw ValidationError("no decoder '\(name)'; known: \(Fuzz.targets.map(\.name).joined(separator: ", "))")
            }
            return t
        }
        print("decoder               inputs   accepted   seconds   inputs/s")
        var total = 0
        for t in chosen {
            let r = Fuzz.run(t, inputs: inputs, seed: seed)
            total += r.inputs
            print(t.name.padding(toLength: 20, withPad: " ", startingAt: 0)
                  + String(format: " %8d %10d %9.2f %10.0f", r.inputs, r.accepted, r.seconds, Double(r.inputs) / max(r.seconds, 1e-9)))
        }
        print("\(total) inputs through \(chosen.count) decoders, seed \(seed): no crash")
    }
}
