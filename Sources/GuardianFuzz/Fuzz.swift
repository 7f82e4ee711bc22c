import GuardianMesh

/// Seeded, bounded fuzzing of every decoder that reads bytes from outside: each target starts
/// from valid encodings of its format and mutates them (bit flips, boundary bytes, large numbers
/// where lengths and counts sit, cuts, duplications, splices, random bytes). A target passes when
/// no input traps (a trap ends the process: the test or the benchmark fails) and every input's
/// outcome is an accepted value or a thrown error. A failure replays from its target, seed and index.
public enum Fuzz {
    /// What a run did: inputs tried, how many the decoder accepted, and the time it took.
    public struct Run: Sendable {
        public var target: String
        public var inputs: Int
        public var accepted: Int
        public var seconds: Double
    }

    /// Runs `inputs` mutated inputs through `target`, from `seed`.
    public static func run(_ target: FuzzTarget, inputs: Int, seed: UInt64) -> Run {
        var rng = SplitMix64(seed: seed ^ MeshHash.of(target.name))
        let seeds = target.seeds()
        precondition(!seeds.isEmpty, "a fuzz target needs at least one valid input")
        let start = ContinuousClock.now
        var accepted = 0
        for i in 0..<inputs {
            // every 16th input is a seed itself: the valid form must keep decoding
            let input = i % 16 == 0 ? seeds[(i / 16) % seeds.count] : mutate(seeds, &rng)
            if target.run(input) { accepted += 1 }
        }
        let d = (ContinuousClock.now - start).components
        return Run(target: target.name, inputs: inputs, accepted: accepted,
                   seconds: Double(d.seconds) + Double(d.attoseconds) / 1e18)
    }

    /// Whether each of the target's seeds decodes: a target whose seeds no longer decode fuzzes
    /// nothing but its error paths.
    public static func seedsDecode(_ target: FuzzTarget) -> [Bool] { target.seeds().map(target.run) }

    /// One mutated input: one to four mutations of a seed.
    static func mutate(_ seeds: [[UInt8]], _ rng: inout SplitMix64) -> [UInt8] {
        var b = seeds[Int.random(in: 0..<seeds.count, using: &rng)]
        if Int.random(in: 0..<40, using: &rng) == 0 {
            return (0..<Int.random(in: 0...256, using: &rng)).map { _ in UInt8.random(in: 0...255, using: &rng) }
        }
        for _ in 0..<Int.random(in: 1...4, using: &rng) {
            switch Int.random(in: 0..<9, using: &rng) {
            case 0 where !b.isEmpty: // flip bits
                let i = Int.random(in: 0..<b.count, using: &rng)
                b[i] ^= UInt8(1) << UInt8.random(in: 0...7, using: &rng)
            case 1 where !b.isEmpty: // boundary byte
                b[Int.random(in: 0..<b.count, using: &rng)] = [0x00, 0x01, 0x7F, 0x80, 0xFF, 0x22, 0x5C, 0x0A].randomElement(using: &rng)!
            case 2 where b.count >= 8: // a large number where a length or count may sit
                let i = Int.random(in: 0...(b.count - 8), using: &rng)
                let big: [UInt8] = [[0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0x7F], [0x7F, 0xFF, 0xFF, 0xFF, 0, 0, 0, 0],
                                    [0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF], [0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80]]
                    .randomElement(using: &rng)!
                for k in 0..<Int.random(in: 1...8, using: &rng) { b[i + k] = big[k] }
            case 3 where !b.isEmpty: // cut
                b.removeLast(Int.random(in: 1...b.count, using: &rng))
            case 4 where !b.isEmpty: // remove a range
                let i = Int.random(in: 0..<b.count, using: &rng)
                b.removeSubrange(i..<min(b.count, i + Int.random(in: 1...32, using: &rng)))
            case 5 where !b.isEmpty: // duplicate a range
                let i = Int.random(in: 0..<b.count, using: &rng)
                let piece = b[i..<min(b.count, i + Int.random(in: 1...64, using: &rng))]
                b.insert(contentsOf: piece, at: Int.random(in: 0...b.count, using: &rng))
            case 6: // splice another seed in
                let other = seeds[Int.random(in: 0..<seeds.count, using: &rng)]
                guard !other.isEmpty else { continue }
                let i = Int.random(in: 0..<other.count, using: &rng)
                b.insert(contentsOf: other[i..<min(other.count, i + Int.random(in: 1...256, using: &rng))], at: Int.random(in: 0...b.count, using: &rng))
            case 7: // insert random bytes
                let n = Int.random(in: 1...16, using: &rng)
                b.insert(contentsOf: (0..<n).map { _ in UInt8.random(in: 0...255, using: &rng) }, at: Int.random(in: 0...b.count, using: &rng))
            default: // append
                b.append(UInt8.random(in: 0...255, using: &rng))
            }
        }
        return b
    }

}

/// A decoder under fuzzing: valid inputs to start from, and a run that returns whether the
/// decoder accepted the input (a thrown error or a refusal is `false`; only a trap is a failure).
public struct FuzzTarget: Sendable {
    public let name: String
    public let seeds: @Sendable () -> [[UInt8]]
    public let run: @Sendable ([UInt8]) -> Bool
    public init(_ name: String, seeds: @escaping @Sendable () -> [[UInt8]], run: @escaping @Sendable ([UInt8]) -> Bool) {
        self.name = name; self.seeds = seeds; self.run = run
    }
}
