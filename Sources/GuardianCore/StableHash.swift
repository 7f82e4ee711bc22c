/// FNV-1a, 64 bit. Stable across runs, platforms and Swift versions (unlike `Hasher`),
/// which is what fingerprints and cache keys need. Not a cryptographic hash.
public struct StableHash: Sendable {
    public static let offset: UInt64 = 0xcbf2_9ce4_8422_2325
    public static let prime: UInt64 = 0x0000_0100_0000_01b3
    public private(set) var value: UInt64

    public init(seed: UInt64 = StableHash.offset) { value = seed }

    /// One byte into a hash: what every FNV-1a loop here and in the lexer runs (inlinable, so
    /// other modules' loops compile to the two instructions).
    @inlinable @inline(__always)
    public static func step(_ h: UInt64, _ byte: UInt8) -> UInt64 { (h ^ UInt64(byte)) &* prime }

    @inline(__always)
    public mutating func add(byte: UInt8) {
        value = StableHash.step(value, byte)
    }

    public mutating func add<S: Sequence>(bytes: S) where S.Element == UInt8 {
        for b in bytes { add(byte: b) }
    }

    public mutating func add(_ string: String) {
        add(bytes: string.utf8)
        add(byte: 0)
    }

    public mutating func add(word v: UInt64) {
        var x = v
        for _ in 0..<8 { add(byte: UInt8(truncatingIfNeeded: x)); x >>= 8 }
    }

    public static func of(_ string: String) -> UInt64 {
        var h = StableHash(); h.add(bytes: string.utf8); return h.value
    }

    /// Inlinable: the lexer hashes every identifier with it.
    @inlinable
    public static func of(_ buffer: UnsafeBufferPointer<UInt8>, from: Int, to: Int) -> UInt64 {
        var v = offset
        var i = from
        while i < to { v = step(v, buffer[i]); i += 1 }
        return v
    }

    public static func hex(_ v: UInt64) -> String {
        String(unsafeUninitializedCapacity: 16) { buf in
            let digits: StaticString = "0123456789abcdef"
            let d = digits.utf8Start
            for i in 0..<16 { buf[i] = d[Int((v >> (60 - 4 * UInt64(i))) & 0xf)] }
            return 16
        }
    }
}

/// Fingerprints survive unrelated edits: they hash the rule, the normalised content of the
/// line (whitespace removed) and the occurrence index of that content in the file — never the line number.
public enum Fingerprint {
    /// Hash of rule id + normalised line content.
    public static func contentHash(ruleId: String, normalizedLine: UInt64) -> UInt64 {
        var h = StableHash()
        h.add(ruleId)
        h.add(word: normalizedLine)
        return h.value
    }

    /// Hash of a line's bytes with all ASCII whitespace removed.
    /// Inlinable: the analyzer hashes the line of every finding with it, and a generic call
    /// across modules is not specialised (a witness call per byte).
    @inlinable
    public static func normalizedLineHash<S: Sequence>(_ bytes: S) -> UInt64 where S.Element == UInt8 {
        var v = StableHash.offset
        for b in bytes where !(b == 32 || b == 9 || b == 13 || b == 10 || b == 11 || b == 12) { v = StableHash.step(v, b) }
        return v
    }

    /// The two path hashes a fingerprint starts from (compute once per file).
    public static func pathKey(_ path: String?) -> (UInt64, UInt64) {
        var a = StableHash()
        a.add(path ?? "")
        var b = StableHash(seed: 0x84222325cbf29ce4)
        b.add(path ?? "")
        return (a.value, b.value)
    }

    /// Full fingerprint: path + content hash + occurrence, as 32 hex characters.
    public static func make(path: String?, contentHash: UInt64, occurrence: Int) -> String {
        make(pathKey: pathKey(path), contentHash: contentHash, occurrence: occurrence)
    }

    public static func make(pathKey: (UInt64, UInt64), contentHash: UInt64, occurrence: Int) -> String {
        var a = StableHash(seed: pathKey.0)
        a.add(word: contentHash)
        a.add(word: UInt64(occurrence))
        var b = StableHash(seed: pathKey.1)
        b.add(word: contentHash)
        b.add(word: UInt64(occurrence))
        return StableHash.hex(a.value) + StableHash.hex(b.value)
    }

    /// SARIF `primaryLocationLineHash`: `<16 hex>:<occurrence>` (occurrence counted from 1).
    public static func lineHash(contentHash: UInt64, occurrence: Int) -> String {
        StableHash.hex(contentHash) + ":" + String(occurrence + 1)
    }
}
