import GuardianCore

/// Duplicated blocks: windows of `window` consecutive significant code lines (normalised) that
/// occur earlier in path order are reported once per block, pointing at the first occurrence.
enum Duplicates {
    static func find(_ ctx: AuditContext, window: Int, _ out: inout CheckOutput) {
        let w = max(2, window)
        // manifests (`Package@swift-5.9.swift` beside `Package.swift`) are copies by SwiftPM's design
        let files = ctx.files.enumerated().filter { !$0.element.facts.isTest && $0.element.facts.dupHashes.count >= w && !PathRules.isManifest($0.element.path) && !PathRules.isOutsideAPI($0.element.path) }
        // A window's hash is a polynomial in its line hashes, rolled one line at a time: equal
        // windows hash equal, and the line hashes are themselves mixed 64-bit values, so unequal
        // ones collide with a chance of about 2^-64.
        let base: UInt64 = 0x0000_0100_0000_01b3
        var top: UInt64 = 1 // base^(w-1): what the line leaving the window contributed
        for _ in 1..<w { top = top &* base }
        var windows: [[UInt64]] = []
        for (_, f) in files {
            let h = f.facts.dupHashes
            let ws = [UInt64](unsafeUninitializedCapacity: h.count - w + 1) { buffer, initialized in
                var x: UInt64 = 0
                for j in 0..<w { x = x &* base &+ h[j] }
                buffer[0] = x
                for s in 1..<buffer.count {
                    x = (x &- h[s - 1] &* top) &* base &+ h[s + w - 1]
                    buffer[s] = x
                }
                initialized = buffer.count
            }
            windows.append(ws)
        }
        // Only a window whose hash occurs twice can be a copy. A bit per hash bucket in a table that
        // stays in the cache (at least 8 buckets per window) finds the few that may: the table of
        // first occurrences holds those alone, and a window outside them is its own first occurrence.
        let repeats = RepeatFilter(windows)
        var first = FirstOccurrence(capacity: windows.reduce(0) { n, ws in n + ws.reduce(0) { $0 + (repeats.mayRepeat($1) ? 1 : 0) } })
        for (i, ws) in windows.enumerated() {
            for (s, x) in ws.enumerated() where repeats.mayRepeat(x) { first.insertIfAbsent(x, file: i, pos: s) }
        }
        func firstOccurrence(_ x: UInt64) -> (file: Int, pos: Int)? { repeats.mayRepeat(x) ? first[x] : nil }
        for (i, (_, f)) in files.enumerated() {
            var s = 0
            let ws = windows[i]
            while s < ws.count {
                guard let o = firstOccurrence(ws[s]), o.file != i || (o.pos + w <= s) else { s += 1; continue }
                if o.file == i && o.pos == s { s += 1; continue }
                // extend the block while the following windows continue the same original
                var e = s
                while e + 1 < ws.count, let n = firstOccurrence(ws[e + 1]), n.file == o.file, n.pos == o.pos + (e + 1 - s),
                      n.file != i || n.pos + w <= e + 1 {
                    e += 1
                }
                let origin = files[o.file].element
                let startLine = Int(f.facts.dupLines[s])
                let endLine = Int(f.facts.dupLines[e + w - 1])
                let originLine = Int(origin.facts.dupLines[o.pos])
                var key = StableHash()
                for j in s..<e + w { key.add(word: f.facts.dupHashes[j]) }
                // Info by default; a team re-rates it in .guardian.yml. Why: docs/precision.md.
                out.findings.append(.init(ruleId: "strict/duplicated-block", severity: .info, file: f.path, line: startLine, column: nil,
                                          message: "\(e - s + w) code lines (\(startLine)–\(endLine)) duplicate \(origin.path):\(originLine)",
                                          contentHash: Fingerprint.contentHash(ruleId: "strict/duplicated-block", normalizedLine: key.value)))
                s = e + w
            }
        }
    }
}

/// Which window hashes may occur more than once: two bits per bucket (seen, seen again), with at
/// least 8 buckets per window, so that about one window in ten shares a bucket by chance.
struct RepeatFilter {
    private var seen: [UInt64]
    private var again: [UInt64]
    private let shift: UInt64

    init(_ windows: [[UInt64]]) {
        let total = windows.reduce(0) { $0 + $1.count }
        var log2 = 12
        while (1 << log2) < total * 8 { log2 += 1 }
        shift = UInt64(64 - log2)
        seen = [UInt64](repeating: 0, count: (1 << log2) / 64)
        again = seen
        for ws in windows {
            for x in ws {
                let b = bucket(x), word = b >> 6, bit: UInt64 = 1 << UInt64(b & 63)
                if seen[word] & bit != 0 { again[word] |= bit } else { seen[word] |= bit }
            }
        }
    }

    @inline(__always) private func bucket(_ x: UInt64) -> Int { Int(truncatingIfNeeded: (x &* 0x9E37_79B9_7F4A_7C15) >> shift) }

    @inline(__always) func mayRepeat(_ x: UInt64) -> Bool {
        let b = bucket(x)
        return again[b >> 6] & (1 << UInt64(b & 63)) != 0
    }
}

/// Open-addressing table from window hash to its first (file, position); much faster than a
/// Dictionary for a few hundred thousand UInt64 keys. One slot holds the key and its value (one
/// cache line per probe), key 0 marks an empty slot (a hash of 0 is stored as 1), and the table is
/// at most two-thirds full: it is written once per window at every audit, so its size is most of
/// the check's cost (the pages it touches).
struct FirstOccurrence {
    private struct Slot { var key: UInt64; var file: Int32; var pos: Int32 }
    private var slots: [Slot]
    private let mask: Int

    init(capacity: Int) {
        var size = 16
        while size * 2 < capacity * 3 { size <<= 1 }
        slots = Array(repeating: Slot(key: 0, file: 0, pos: 0), count: size)
        mask = size - 1
    }

    @inline(__always) private func start(_ key: UInt64) -> Int {
        Int(truncatingIfNeeded: (key ^ (key >> 32)) &* 0x9E37_79B9_7F4A_7C15) & mask
    }

    mutating func insertIfAbsent(_ key: UInt64, file: Int, pos: Int) {
        let k = key == 0 ? 1 : key
        var i = start(k)
        slots.withUnsafeMutableBufferPointer { t in
            while t[i].key != 0 {
                if t[i].key == k { return }
                i = (i + 1) & mask
            }
            t[i] = Slot(key: k, file: Int32(file), pos: Int32(pos))
        }
    }

    subscript(key: UInt64) -> (file: Int, pos: Int)? {
        let k = key == 0 ? 1 : key
        var i = start(k)
        return slots.withUnsafeBufferPointer { t in
            while t[i].key != 0 {
                if t[i].key == k { return (Int(t[i].file), Int(t[i].pos)) }
                i = (i + 1) & mask
            }
            return nil
        }
    }
}
