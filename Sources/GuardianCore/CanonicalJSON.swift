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

    /// A `[String: Int]` with its keys sorted.
    public mutating func field(_ k: String, _ v: [String: Int]) {
        key(k)
        beginObject()
        for name in v.keys.sorted(by: CanonicalJSON.precedes) { key(name); int(v[name]!) }
        endObject()
    }
}

extension AuditReport {
    /// The report as canonical JSON bytes (see `CanonicalWriter`; keys below are in sorted order).
    public var canonicalBytes: [UInt8] {
        var w = CanonicalWriter(capacity: 4096)
        w.beginObject()
        w.key("aiInsights")
        w.beginArray()
        for i in aiInsights {
            w.beginObject()
            w.field("check", i.check?.rawValue); w.field("confidence", i.confidence); w.field("file", i.file)
            w.field("kind", i.kind); w.field("message", i.message)
            w.endObject()
        }
        w.endArray()
        w.field("baseline", baseline)
        w.key("gate")
        w.beginObject()
        w.field("passed", gate.passed)
        w.key("reasons"); w.beginArray(); for r in gate.reasons { w.string(r) }; w.endArray()
        w.endObject()
        w.field("guardianVersion", guardianVersion)
        if let learning {
            w.key("learning")
            w.beginArray()
            for l in learning {
                w.beginObject()
                w.field("dismissed", l.dismissed); w.field("explanation", l.explanation); w.field("ruleId", l.ruleId)
                w.field("team", l.team); w.field("total", l.total); w.field("weight", l.weight)
                w.endObject()
            }
            w.endArray()
        }
        w.key("magicResults")
        w.beginObject()
        for name in magicResults.keys.sorted(by: CanonicalJSON.precedes) { w.key(name); magicResults[name]!.write(into: &w) }
        w.endObject()
        w.field("overallHealthScore", overallHealthScore)
        w.field("profile", profile)
        w.field("schemaVersion", schemaVersion)
        w.key("skippedFiles")
        w.beginArray()
        for f in skippedFiles { w.beginObject(); w.field("path", f.path); w.field("reason", f.reason); w.endObject() }
        w.endArray()
        w.key("statistics")
        w.beginObject()
        w.field("analyzedFiles", statistics.analyzedFiles); w.field("codeLines", statistics.codeLines); w.field("commits", statistics.commits)
        w.field("files", statistics.files); w.field("functions", statistics.functions); w.field("languages", statistics.languages)
        w.field("lines", statistics.lines); w.field("skippedFiles", statistics.skippedFiles)
        w.endObject()
        w.field("strictness", strictness)
        w.key("subject")
        w.beginObject()
        w.field("commit", subject.commit); w.field("isGitRepository", subject.isGitRepository)
        w.field("project", subject.project); w.field("repository", subject.repository); w.field("revision", subject.revision)
        w.endObject()
        w.key("timing")
        w.beginObject()
        w.field("cacheHits", timing.cacheHits); w.field("cacheMisses", timing.cacheMisses)
        w.field("startedAt", timing.startedAt); w.field("totalMs", timing.totalMs)
        w.endObject()
        w.endObject()
        return w.out
    }
}

extension CheckResult {
    func write(into w: inout CanonicalWriter) {
        w.beginObject()
        w.field("counts", counts)
        w.field("executionTime", executionTime)
        w.field("lastRun", lastRun)
        w.field("penalty", penalty)
        w.field("score", score)
        w.key("skippedRules")
        w.beginArray()
        for r in skippedRules { w.beginObject(); w.field("reason", r.reason); w.field("ruleId", r.ruleId); w.endObject() }
        w.endArray()
        w.field("status", status.rawValue)
        w.key("suggestions"); w.beginArray(); for s in suggestions { s.write(into: &w) }; w.endArray()
        w.field("suppressed", suppressed)
        w.key("violations"); w.beginArray(); for v in violations { v.write(into: &w) }; w.endArray()
        w.endObject()
    }
}

extension Violation {
    func write(into w: inout CanonicalWriter) {
        w.beginObject()
        w.field("column", column); w.field("file", file); w.field("fingerprint", fingerprint)
        if let fix { w.key("fix"); fix.write(into: &w) }
        w.field("line", line); w.field("lineHash", lineHash); w.field("message", message)
        w.field("ruleId", ruleId); w.field("severity", severity.rawValue)
        if let suppression {
            w.key("suppression")
            w.beginObject()
            w.field("justification", suppression.justification); w.field("kind", suppression.kind.rawValue)
            w.endObject()
        }
        w.endObject()
    }
}

extension Suggestion {
    func write(into w: inout CanonicalWriter) {
        w.beginObject()
        w.field("file", file); w.field("kind", kind.rawValue); w.field("line", line); w.field("message", message)
        w.field("original", original); w.field("patch", patch); w.field("replacement", replacement); w.field("ruleId", ruleId)
        w.endObject()
    }
}
