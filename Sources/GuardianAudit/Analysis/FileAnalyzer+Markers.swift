import GuardianCore

/// Production code that says it is not done: placeholder markers in comments, and test doubles
/// used outside tests.
extension FileAnalyzer {
    static let markers: [(bytes: [UInt8], severity: Severity, ascii: Bool)] = [
        // Markers are info (docs/precision.md); 仮実装 ("provisional implementation") says the code
        // is a stand-in, which is a defect claim.
        (Array("TODO".utf8), .info, true), (Array("FIXME".utf8), .info, true), (Array("HACK".utf8), .info, true),
        (Array("XXX".utf8), .info, true), (Array("仮実装".utf8), .high, false), (Array("後で".utf8), .info, false),
    ]

    mutating func markers(_ tokens: [Token]) {
        for t in tokens where t.kind == .comment { scanMarkers(Int(t.start)..<Int(t.end)) }
    }

    mutating func scanMarkers(_ range: Range<Int>) {
        var k = range.lowerBound
        let end = range.upperBound
        var seenLines = Set<Int32>()
        while k < end {
            let b = buf[k]
            if b == 84 || b == 70 || b == 72 || b == 88 || b >= 0xE0 { // T F H X or multibyte lead
                for m in FileAnalyzer.markers where m.bytes[0] == b && k + m.bytes.count <= end {
                    var ok = true
                    for j in 1..<m.bytes.count where buf[k + j] != m.bytes[j] { ok = false; break }
                    guard ok else { continue }
                    if m.ascii {
                        let before = k > 0 ? buf[k - 1] : 32
                        let after = k + m.bytes.count < buf.count ? buf[k + m.bytes.count] : 32
                        if B.isIdentChar(before) && before < 0x80 { continue }
                        if B.isIdentChar(after) && after < 0x80 { continue }
                    }
                    let line = lineOf(offset: k)
                    if seenLines.insert(line).inserted {
                        let word = String(decoding: m.bytes, as: UTF8.self)
                        add("integrity/placeholder-marker", m.severity, line: line,
                            column: Int32(k) - lineStarts[Int(line) - 1] + 1,
                            "placeholder marker \(word): \(lineText(line).trimmed.prefix(120))")
                    }
                    k += m.bytes.count - 1
                    break
                }
            }
            k += 1
        }
    }

    mutating func testDoubles(_ tokens: [Token]) {
        var lines = Set<Int32>()
        // a type named Mock… that production code declares and documents is an adapter by design
        // (requests' MockRequest for http.cookiejar): only doubles declared elsewhere are reported
        let declaring: WordSet = [v.class_, v.struct_, v.enum_, v.actor, v.interface, v.type, v.protocol_]
        var declared = Set<UInt64>() // names' hashes
        for k in 1..<max(1, tokens.count) where tokens[k].kind == .identifier && tokens[k - 1].kind == .identifier
            && declaring.contains(tokens[k - 1].hash) && isPlain(tokens[k]) { declared.insert(tokens[k].hash) }
        let prefixes: [[UInt8]] = [Array("Mock".utf8), Array("Fake".utf8), Array("Stub".utf8)]
        for t in tokens where t.kind == .identifier && t.end - t.start > 4 {
            let b0 = buf[Int(t.start)]
            guard b0 == 77 || b0 == 70 || b0 == 83 else { continue } // M F S
            for p in prefixes where startsWith(t, p, caseInsensitive: false) {
                let next = buf[Int(t.start) + 4]
                if next >= 65 && next <= 90, !declared.contains(t.hash), lines.insert(t.line).inserted {
                    add("integrity/test-double-in-production", .high, line: t.line,
                        column: t.start - lineStarts[Int(t.line) - 1] + 1,
                        "test double '\(text(t))' used in production code")
                }
            }
        }
    }
}
