import GuardianCore

/// Duplicated blocks: windows of `window` consecutive significant code lines (normalised) that
/// occur earlier in path order are reported once per block, pointing at the first occurrence.
enum Duplicates {
    static func find(_ ctx: AuditContext, window: Int, _ out: inout CheckOutput) {
        let w = max(2, window)
        // manifests (`Package@swift-5.9.swift` beside `Package.swift`) are copies by SwiftPM's design
        let files = ctx.files.enumerated().filter { !$0.element.facts.isTest && $0.element.facts.dupHashes.count >= w && !PathRules.isManifest($0.element.path) && !PathRules.isOutsideAPI($0.element.path) }
        var first = FirstOccurrence(capacity: files.reduce(0) { $0 + $1.element.facts.dupHashes.count })
        var windows: [[UInt64]] = []
        for (_, f) in files {
            let h = f.facts.dupHashes
            var ws = [UInt64](repeating: 0, count: h.count - w + 1)
            for s in 0..<ws.count {
                var x: UInt64 = 0xcbf2_9ce4_8422_2325
                for j in s..<s + w { x = (x ^ h[j]) &* 0x0000_0100_0000_01b3; x = x &+ (x >> 29) }
                ws[s] = x
            }
            windows.append(ws)
        }
        for (i, (_, _)) in files.enumerated() {
            for (s, x) in windows[i].enumerated() { first.insertIfAbsent(x, file: i, pos: s) }
        }
        for (i, (_, f)) in files.enumerated() {
            var s = 0
            let ws = windows[i]
            while s < ws.count {
                guard let o = first[ws[s]], o.file != i || (o.pos + w <= s) else { s += 1; continue }
                if o.file == i && o.pos == s { s += 1; continue }
                // extend the block while the following windows continue the same original
                var e = s
                while e + 1 < ws.count, let n = first[ws[e + 1]], n.file == o.file, n.pos == o.pos + (e + 1 - s),
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

/// Open-addressing table from window hash to its first (file, position); much faster than a
/// Dictionary for a few hundred thousand UInt64 keys.
struct FirstOccurrence {
    private var keys: [UInt64]
    private var values: [(file: Int32, pos: Int32)]
    private var used: [Bool]
    private let mask: Int

    init(capacity: Int) {
        var size = 16
        while size < capacity * 2 { size <<= 1 }
        keys = [UInt64](repeating: 0, count: size)
        values = Array(repeating: (0, 0), count: size)
        used = [Bool](repeating: false, count: size)
        mask = size - 1
    }

    mutating func insertIfAbsent(_ key: UInt64, file: Int, pos: Int) {
        var i = Int(truncatingIfNeeded: (key ^ (key >> 32)) &* 0x9E37_79B9_7F4A_7C15) & mask
        while used[i] {
            if keys[i] == key { return }
            i = (i + 1) & mask
        }
        used[i] = true; keys[i] = key; values[i] = (Int32(file), Int32(pos))
    }

    subscript(key: UInt64) -> (file: Int, pos: Int)? {
        var i = Int(truncatingIfNeeded: (key ^ (key >> 32)) &* 0x9E37_79B9_7F4A_7C15) & mask
        while used[i] {
            if keys[i] == key { return (Int(values[i].file), Int(values[i].pos)) }
            i = (i + 1) & mask
        }
        return nil
    }
}
