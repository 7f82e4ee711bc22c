import Foundation

/// The suite's one seed switch. Seeded tests (the partition harness, the HTTP fuzzer) run fixed
/// seeds, print the seed with every failure, and replay another with `GUARDIAN_TEST_SEEDS=7` (or
/// `3,9` for several). The generator is the mesh's `SplitMix64` everywhere.
public enum TestSeeds {
    /// The seeds `GUARDIAN_TEST_SEEDS` names, or `fixed`. A value that is not a list of numbers
    /// stops the run rather than silently falling back.
    public static func or(_ fixed: [UInt64]) -> [UInt64] {
        guard let text = ProcessInfo.processInfo.environment["GUARDIAN_TEST_SEEDS"] else { return fixed }
        let seeds = text.split(separator: ",").map { UInt64($0.trimmingCharacters(in: .whitespaces)) }
        guard !seeds.isEmpty, seeds.allSatisfy({ $0 != nil }) else {
            fatalError("GUARDIAN_TEST_SEEDS must be numbers separated by commas, not '\(text)'")
        }
        return seeds.compactMap { $0 }
    }
}
