import GuardianCore
import GuardianMesh
import Testing
@testable import GuardianAudit

@Suite struct WordSetTests {
    /// Members are found and nothing else is, for sets of every size the analyzers build, with
    /// colliding words probing on (linear probing) and the word hash 0 kept aside.
    @Test func membersAndOnlyMembers() {
        var rng = SplitMix64(seed: 24) // seeded: a failure repeats
        for size in [0, 1, 2, 5, 16, 40, 200] {
            let words = (0..<size).map { _ in UInt64.random(in: 1...UInt64.max, using: &rng) }
            let set = WordSet(words)
            for w in words { #expect(set.contains(w)) }
            let others = (0..<2_000).map { _ in UInt64.random(in: 1...UInt64.max, using: &rng) }.filter { !words.contains($0) }
            #expect(others.allSatisfy { !set.contains($0) }, "size \(size)")
            #expect(!set.contains(0))
        }
        // consecutive words, which the multiply spreads over the table
        let small = WordSet(1...64 as ClosedRange<UInt64>)
        #expect((1...64).allSatisfy(small.contains) && !(65...10_000).contains(where: small.contains))
        #expect(WordSet([0, 7]).contains(0) && WordSet([0, 7]).contains(7) && !WordSet([0, 7]).contains(8))
        let v = Vocabulary.shared
        #expect(v.declarationModifiers.contains(StableHash.of("nonisolated")) && !v.declarationModifiers.contains(v.func_))
    }
}
