import GuardianFuzz
import Testing

/// Every decoder of bytes from outside gets seeded, mutated input (`Fuzz`): none may trap, and the
/// valid seeds must still decode (a fuzzer whose target refuses everything tests nothing). The
/// benchmark (`guardian-bench fuzz`) runs 100,000 inputs per decoder; this is the short run.
@Suite struct DecoderFuzzTests {
    @Test(arguments: Fuzz.targets.map(\.name))
    func decoderSurvivesMutatedInput(name: String) throws {
        let target = try #require(Fuzz.target(named: name))
        let seeds = Fuzz.seedsDecode(target)
        #expect(!seeds.isEmpty && seeds.allSatisfy { $0 }, "\(name): seeds that no longer decode: \(seeds)")
        let run = Fuzz.run(target, inputs: 3_000, seed: 20261202)
        #expect(run.inputs == 3_000)
        // the seeds (every 16th input) are accepted, and most mutations are not
        #expect(run.accepted >= 3_000 / 16 && run.accepted < run.inputs, "\(name): \(run.accepted) of \(run.inputs) inputs accepted")
    }

    @Test func theSameSeedGivesTheSameRun() throws {
        let target = try #require(Fuzz.target(named: "registry-sync"))
        #expect(Fuzz.run(target, inputs: 500, seed: 9).accepted == Fuzz.run(target, inputs: 500, seed: 9).accepted)
    }
}
