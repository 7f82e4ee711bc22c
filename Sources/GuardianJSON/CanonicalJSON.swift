/// Canonical JSON for the signed statement: sorted keys, no white space, no escaped slashes and
/// nil fields omitted — the shape `JSONEncoder` with `.sortedKeys` produces, at a fraction of its cost
/// on Linux (signing sits on the result path). Output decodes with `JSONDecoder`. The writers here
/// are shared by `CanonicalWriter` (the statement) and the DSSE envelope.
public enum CanonicalJSON {
    /// Key order: by UTF-8 bytes, as `JSONEncoder` sorts.
    public static func precedes(_ a: String, _ b: String) -> Bool { a.utf8.lexicographicallyPrecedes(b.utf8) }

    /// Whole numbers as integers (as JSONEncoder writes them), others in Swift's shortest form.
    static func writeDouble(_ v: Double, into out: inout [UInt8]) {
        if v.isFinite, v == v.rounded(), abs(v) < 1e15 { writeInt(Int(v), into: &out) } else { out += Array("\(v)".utf8) }
    }

    static func writeInt(_ v: Int, into out: inout [UInt8]) {
        if v >= 0 && v < 10 { out.append(48 + UInt8(v)); return }
        if v < 0 { out += Array(String(v).utf8); return }
        var digits: (UInt8, UInt8, UInt8, UInt8, UInt8, UInt8, UInt8, UInt8, UInt8, UInt8, UInt8, UInt8, UInt8, UInt8, UInt8, UInt8, UInt8, UInt8, UInt8, UInt8) =
            (0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0)
        var n = 0, x = v
        withUnsafeMutableBytes(of: &digits) { d in
            while x > 0 { d[n] = 48 + UInt8(x % 10); x /= 10; n += 1 }
            for i in stride(from: n - 1, through: 0, by: -1) { out.append(d[i]) }
        }
    }

    /// A JSON string exactly as `JSONEncoder` writes it (slashes unescaped; `\b \f \n \r \t` short
    /// forms, other control characters as `\u00XX`). Shared by the statement and the DSSE envelope.
    public static func writeString(_ s: String, into out: inout [UInt8]) {
        out.append(34)
        // Fast path: nothing to escape, copy the UTF-8 in one go.
        var plain = s
        let copied = plain.withUTF8 { u -> Bool in
            for b in u where b < 32 || b == 34 || b == 92 { return false }
            out.append(contentsOf: u)
            return true
        }
        if copied { out.append(34); return }
        for b in s.utf8 {
            switch b {
            case 34: out += [92, 34]
            case 92: out += [92, 92]
            case 10: out += [92, 110]
            case 13: out += [92, 114]
            case 9: out += [92, 116]
            case 8: out += [92, 98]
            case 12: out += [92, 102]
            case 0..<32:
                let hex: [UInt8] = Array("0123456789abcdef".utf8)
                out += [92, 117, 48, 48, hex[Int(b >> 4)], hex[Int(b & 15)]]
            default: out.append(b)
            }
        }
        out.append(34)
    }
}

/// Writes canonical JSON as a stream, with no tree in between: callers give each object's keys in
/// sorted (UTF-8 byte) order and leave out nil values, as `JSONEncoder` with `.sortedKeys` does. The
/// report is written this way because building and sorting a tree per result cost more than signing
/// it (a test checks the bytes against `JSONEncoder`).
public struct CanonicalWriter {
    public var out: [UInt8] = []
    private var comma = false

    public init(capacity: Int = 4096) { out.reserveCapacity(capacity) }

    private mutating func separate() { if comma { out.append(44) }; comma = false }
    public mutating func key(_ k: String) { separate(); CanonicalJSON.writeString(k, into: &out); out.append(58) }
    public mutating func string(_ s: String) { separate(); CanonicalJSON.writeString(s, into: &out); comma = true }
    public mutating func int(_ v: Int) { separate(); CanonicalJSON.writeInt(v, into: &out); comma = true }
    public mutating func double(_ v: Double) { separate(); CanonicalJSON.writeDouble(v, into: &out); comma = true }
    public mutating func bool(_ v: Bool) { separate(); out += v ? [116, 114, 117, 101] : [102, 97, 108, 115, 101]; comma = true }
    /// Canonical JSON written beforehand (the report inside the statement).
    public mutating func raw(_ bytes: [UInt8]) { separate(); out += bytes; comma = true }
    public mutating func beginObject() { separate(); out.append(123) }
    public mutating func endObject() { out.append(125); comma = true }
    public mutating func beginArray() { separate(); out.append(91) }
    public mutating func endArray() { out.append(93); comma = true }

    /// Fields; a nil value is left out, as JSONEncoder does.
    public mutating func field(_ k: String, _ v: String?) { if let v { key(k); string(v) } }
    public mutating func field(_ k: String, _ v: Int?) { if let v { key(k); int(v) } }
    public mutating func field(_ k: String, _ v: Double) { key(k); double(v) }
    public mutating func field(_ k: String, _ v: Bool) { key(k); bool(v) }
    public mutating func field(_ k: String, _ v: Bool?) { if let v { key(k); bool(v) } }

    /// A `[String: Int]` with its keys sorted.
    public mutating func field(_ k: String, _ v: [String: Int]) {
        key(k)
        beginObject()
        for name in v.keys.sorted(by: CanonicalJSON.precedes) { key(name); int(v[name]!) }
        endObject()
    }
}
