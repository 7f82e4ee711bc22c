import GuardianCore

/// A compact binary encoding for cached facts: little-endian varints, length-prefixed strings.
/// The analyzer version is part of every cache key, so the layout may change between versions.
struct BinaryWriter {
    var bytes: [UInt8] = []

    mutating func u(_ v: UInt64) {
        var x = v
        while x >= 0x80 { bytes.append(UInt8(x & 0x7f) | 0x80); x >>= 7 }
        bytes.append(UInt8(x))
    }
    mutating func i(_ v: Int64) { u(UInt64(bitPattern: (v << 1) ^ (v >> 63))) }
    mutating func i32(_ v: Int32) { i(Int64(v)) }
    mutating func fixed(_ v: UInt64) { var x = v; for _ in 0..<8 { bytes.append(UInt8(x & 0xff)); x >>= 8 } }
    mutating func bool(_ b: Bool) { bytes.append(b ? 1 : 0) }
    mutating func str(_ s: String) { let a = Array(s.utf8); u(UInt64(a.count)); bytes.append(contentsOf: a) }
    mutating func optStr(_ s: String?) { bool(s != nil); if let s { str(s) } }
}

struct CodecError: Error {}

struct BinaryReader {
    let bytes: [UInt8]
    var pos = 0
    init(_ b: [UInt8]) { bytes = b }

    mutating func u() throws -> UInt64 {
        var result: UInt64 = 0, shift: UInt64 = 0
        while true {
            guard pos < bytes.count, shift < 64 else { throw CodecError() }
            let b = bytes[pos]; pos += 1
            result |= UInt64(b & 0x7f) << shift
            if b < 0x80 { return result }
            shift += 7
        }
    }
    mutating func i() throws -> Int64 { let z = try u(); return Int64(bitPattern: (z >> 1) ^ (0 &- (z & 1))) }
    mutating func i32() throws -> Int32 { Int32(truncatingIfNeeded: try i()) }
    /// A varint that must fit an `Int` (bytes from a peer can say 2⁶⁴ − 1).
    mutating func int() throws -> Int {
        guard let v = Int(exactly: try u()) else { throw CodecError() }
        return v
    }
    mutating func fixed() throws -> UInt64 {
        guard pos + 8 <= bytes.count else { throw CodecError() }
        var v: UInt64 = 0
        for k in 0..<8 { v |= UInt64(bytes[pos + k]) << (8 * UInt64(k)) }
        pos += 8
        return v
    }
    /// A block of `count` fixed-size values in host byte order (x86-64 and arm64 are both little-endian).
    mutating func raw<T: FixedWidthInteger>(_: T.Type, count: Int) throws -> [T] {
        // compared by division: a hostile count times the size would overflow
        guard count >= 0, count <= (bytes.count - pos) / MemoryLayout<T>.size else { throw CodecError() }
        let size = count * MemoryLayout<T>.size
        let out = [T](unsafeUninitializedCapacity: count) { buf, n in
            bytes.withUnsafeBytes { src in
                UnsafeMutableRawBufferPointer(buf).copyMemory(from: UnsafeRawBufferPointer(rebasing: src[pos..<pos + size]))
            }
            n = count
        }
        pos += size
        return out
    }
    mutating func bool() throws -> Bool { guard pos < bytes.count else { throw CodecError() }; pos += 1; return bytes[pos - 1] != 0 }
    mutating func str() throws -> String {
        let n = try int()
        guard n >= 0, n <= bytes.count - pos else { throw CodecError() }
        defer { pos += n }
        return String(decoding: bytes[pos..<pos + n], as: UTF8.self)
    }
    mutating func optStr() throws -> String? { try bool() ? try str() : nil }
}

extension FileFacts {
    func encoded() -> [UInt8] {
        var w = BinaryWriter()
        w.bytes.reserveCapacity(64 + functions.count * 24 + findings.count * 48 + dupHashes.count * 10)
        w.str(language.rawValue); w.bool(isTest); w.optStr(skipReason); w.i(bytes)
        w.i32(lines); w.i32(codeLines); w.i32(commentLines)
        w.u(UInt64(functions.count))
        for f in functions {
            w.str(f.name); w.i32(f.startLine); w.i32(f.endLine); w.i32(f.ccn); w.i32(f.params); w.i32(f.maxNesting)
            w.fixed(f.signatureHash); w.bool(f.isTest); w.bool(f.hasAssertion)
            w.i32(f.switchCases); w.i32(f.switches); w.i32(f.codeLength)
        }
        w.u(UInt64(findings.count))
        for f in findings {
            w.str(f.ruleId); w.str(f.severity.rawValue); w.i32(f.line); w.i32(f.column); w.fixed(f.contentHash)
            w.str(f.message); w.optStr(f.fixOriginal); w.optStr(f.fixReplacement)
        }
        w.u(UInt64(dupHashes.count))
        dupHashes.withUnsafeBytes { w.bytes.append(contentsOf: $0) }
        dupLines.withUnsafeBytes { w.bytes.append(contentsOf: $0) }
        w.i32(publicDecls); w.i32(documentedDecls); w.i32(tests); w.i32(words); w.i32(headings)
        w.i32(coveredLines); w.i32(coverableLines); w.bool(isBinary)
        w.u(UInt64(suppressions.count))
        for s in suppressions {
            w.i32(s.line); w.optStr(s.reason)
            w.u(UInt64(s.rules.count)); for r in s.rules { w.str(r) }
        }
        w.bool(statesSecurityPolicy); w.bool(statesContributing); w.bool(linksDocumentation)
        w.bool(declaresMain)
        w.u(UInt64(protocolRequirements.count)); for n in protocolRequirements { w.str(n) }
        w.u(UInt64(possibleWitnesses.count)); for p in possibleWitnesses { w.i32(p.line); w.str(p.name) }
        w.u(UInt64(imports.count)); for n in imports { w.str(n) }
        return w.bytes
    }

    static func decode(_ bytes: [UInt8]) throws -> FileFacts {
        var r = BinaryReader(bytes)
        guard let lang = Language(rawValue: try r.str()) else { throw CodecError() }
        var f = FileFacts(language: lang, isTest: try r.bool())
        f.skipReason = try r.optStr(); f.bytes = try r.i()
        f.lines = try r.i32(); f.codeLines = try r.i32(); f.commentLines = try r.i32()
        let nf = try r.int()
        guard nf < 1_000_000 else { throw CodecError() }
        f.functions.reserveCapacity(nf)
        for _ in 0..<nf {
            f.functions.append(FunctionFacts(name: try r.str(), startLine: try r.i32(), endLine: try r.i32(), ccn: try r.i32(),
                                             params: try r.i32(), maxNesting: try r.i32(), signatureHash: try r.fixed(),
                                             isTest: try r.bool(), hasAssertion: try r.bool(), switchCases: try r.i32(),
                                             switches: try r.i32(), codeLength: try r.i32()))
        }
        let ng = try r.int()
        guard ng < 1_000_000 else { throw CodecError() }
        for _ in 0..<ng {
            let rule = try r.str()
            guard let sev = Severity(rawValue: try r.str()) else { throw CodecError() }
            f.findings.append(RawFinding(ruleId: rule, severity: sev, line: try r.i32(), column: try r.i32(),
                                         contentHash: try r.fixed(), message: try r.str(), fixOriginal: try r.optStr(),
                                         fixReplacement: try r.optStr()))
        }
        let nd = try r.int()
        guard nd < 10_000_000 else { throw CodecError() }
        f.dupHashes = try r.raw(UInt64.self, count: nd)
        f.dupLines = try r.raw(Int32.self, count: nd)
        f.publicDecls = try r.i32(); f.documentedDecls = try r.i32(); f.tests = try r.i32()
        f.words = try r.i32(); f.headings = try r.i32(); f.coveredLines = try r.i32(); f.coverableLines = try r.i32()
        f.isBinary = try r.bool()
        let ns = try r.int()
        guard ns < 1_000_000 else { throw CodecError() }
        for _ in 0..<ns {
            let line = try r.i32(), reason = try r.optStr()
            let nr = try r.int()
            guard nr < 1000 else { throw CodecError() }
            f.suppressions.append(InlineSuppression(line: line, rules: try (0..<nr).map { _ in try r.str() }, reason: reason))
        }
        f.statesSecurityPolicy = try r.bool()
        f.statesContributing = try r.bool()
        f.linksDocumentation = try r.bool()
        f.declaresMain = try r.bool()
        let nreq = try r.int()
        guard nreq < 1_000_000 else { throw CodecError() }
        f.protocolRequirements = try (0..<nreq).map { _ in try r.str() }
        let nw = try r.int()
        guard nw < 1_000_000 else { throw CodecError() }
        f.possibleWitnesses = try (0..<nw).map { _ in PossibleWitness(line: try r.i32(), name: try r.str()) }
        let ni = try r.int()
        guard ni < 1_000_000 else { throw CodecError() }
        f.imports = try (0..<ni).map { _ in try r.str() }
        guard r.pos == bytes.count else { throw CodecError() } // the encoder writes nothing after
        return f
    }
}

extension CommitFacts {
    func encoded() -> [UInt8] {
        var w = BinaryWriter()
        w.str(id); w.u(UInt64(parents.count)); for p in parents { w.str(p) }
        w.str(authorName); w.str(authorEmail); w.i(time); w.str(summary); w.str(message)
        w.u(UInt64(files.count)); for p in files { w.str(p) }
        w.i32(insertions); w.i32(deletions); w.bool(statsComputed)
        return w.bytes
    }

    static func decode(_ bytes: [UInt8]) throws -> CommitFacts {
        var r = BinaryReader(bytes)
        let id = try r.str()
        let np = try r.int()
        guard np < 10_000 else { throw CodecError() }
        var parents: [String] = []
        for _ in 0..<np { parents.append(try r.str()) }
        let an = try r.str(), ae = try r.str(), t = try r.i(), s = try r.str(), m = try r.str()
        let nfl = try r.int()
        guard nfl < 10_000_000 else { throw CodecError() }
        var files: [String] = []
        files.reserveCapacity(nfl)
        for _ in 0..<nfl { files.append(try r.str()) }
        return CommitFacts(id: id, parents: parents, authorName: an, authorEmail: ae, time: t, summary: s, message: m,
                           files: files, insertions: try r.i32(), deletions: try r.i32(), statsComputed: try r.bool())
    }
}
