/// A small, fixed set of word hashes (`Token.hash`), asked about once or more per token: an
/// open-addressed table at most a quarter full, indexed by a multiplicative hash of the word's
/// hash. `Set<UInt64>` runs SipHash over every probe, which was a fifth of the function
/// scanner's time.
struct WordSet: Sendable, ExpressibleByArrayLiteral {
    private let slots: [UInt64]
    private let shift: UInt64
    /// 0 marks an empty slot, so the word hash 0 is kept aside.
    private let hasZero: Bool

    init(_ words: some Sequence<UInt64>) {
        let unique = Set(words)
        var bits: UInt64 = 4
        while (1 << bits) < unique.count * 4 { bits += 1 }
        var table = [UInt64](repeating: 0, count: 1 << bits)
        let shift = 64 - bits
        for w in unique where w != 0 {
            var i = Self.slot(w, shift)
            while table[i] != 0 { i = (i + 1) & (table.count - 1) }
            table[i] = w
        }
        slots = table
        self.shift = shift
        hasZero = unique.contains(0)
    }

    init(arrayLiteral words: UInt64...) { self.init(words) }

    @inline(__always) private static func slot(_ w: UInt64, _ shift: UInt64) -> Int {
        Int(truncatingIfNeeded: (w &* 0x9E37_79B9_7F4A_7C15) >> shift)
    }

    @inline(__always) func contains(_ w: UInt64) -> Bool {
        if w == 0 { return hasZero }
        let mask = slots.count - 1
        var i = Self.slot(w, shift)
        while true {
            let s = slots[i]
            if s == w { return true }
            if s == 0 { return false }
            i = (i + 1) & mask
        }
    }
}
