/// A small JSON value for the signed statement, written with sorted keys, no white space, no escaped
/// slashes and nil fields omitted — the shape `JSONEncoder` with `.sortedKeys` produces, at a
/// fraction of its cost on Linux (signing sits on the result path). Output decodes with `JSONDecoder`.
public indirect enum CanonicalJSON: Sendable {
    case string(String), int(Int), double(Double), bool(Bool), null
    case object([(String, CanonicalJSON)])
    case array([CanonicalJSON])

    public func encoded() -> [UInt8] {
        var out: [UInt8] = []
        out.reserveCapacity(4096)
        write(into: &out)
        return out
    }

    public func write(into out: inout [UInt8]) {
        switch self {
        case .string(let s): CanonicalJSON.writeString(s, into: &out)
        case .int(let v): CanonicalJSON.writeInt(v, into: &out)
        case .double(let v):
            if v.isFinite, v == v.rounded(), abs(v) < 1e15 { out += Array(String(Int(v)).utf8) } else { out += Array("\(v)".utf8) }
        case .bool(let v): out += Array((v ? "true" : "false").utf8)
        case .null: out += Array("null".utf8)
        case .array(let items):
            out.append(91)
            for (i, item) in items.enumerated() {
                if i > 0 { out.append(44) }
                item.write(into: &out)
            }
            out.append(93)
        case .object(let fields):
            out.append(123)
            var first = true
            for (k, v) in fields.sorted(by: { $0.0.utf8.lexicographicallyPrecedes($1.0.utf8) }) {
                if !first { out.append(44) }
                first = false
                CanonicalJSON.writeString(k, into: &out)
                out.append(58)
                v.write(into: &out)
            }
            out.append(125)
        }
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

/// Builds an object, leaving out nil values as `JSONEncoder` does.
public struct CanonicalObject {
    public var fields: [(String, CanonicalJSON)] = []
    public init() {}
    public mutating func set(_ k: String, _ v: CanonicalJSON) { fields.append((k, v)) }
    public mutating func set(_ k: String, _ v: String?) { if let v { fields.append((k, .string(v))) } }
    public mutating func set(_ k: String, _ v: Int?) { if let v { fields.append((k, .int(v))) } }
    public mutating func set(_ k: String, _ v: Double?) { if let v { fields.append((k, .double(v))) } }
    public mutating func set(_ k: String, _ v: Bool) { fields.append((k, .bool(v))) }
    public var json: CanonicalJSON { .object(fields) }
}

extension AuditReport {
    /// The report as canonical JSON (see `CanonicalJSON`).
    public var canonical: CanonicalJSON {
        var o = CanonicalObject()
        o.set("schemaVersion", schemaVersion)
        o.set("guardianVersion", guardianVersion)
        var s = CanonicalObject()
        s.set("repository", subject.repository); s.set("commit", subject.commit); s.set("revision", subject.revision)
        s.set("isGitRepository", subject.isGitRepository)
        o.set("subject", s.json)
        o.set("profile", profile)
        o.set("strictness", strictness)
        o.set("overallHealthScore", overallHealthScore)
        var g = CanonicalObject()
        g.set("passed", gate.passed); g.set("reasons", .array(gate.reasons.map { .string($0) }))
        o.set("gate", g.json)
        o.set("magicResults", .object(magicResults.map { ($0.key, $0.value.canonical) }))
        o.set("aiInsights", .array(aiInsights.map { i in
            var x = CanonicalObject()
            x.set("kind", i.kind); x.set("message", i.message); x.set("confidence", i.confidence); x.set("file", i.file)
            x.set("check", i.check?.rawValue)
            return x.json
        }))
        var st = CanonicalObject()
        st.set("files", statistics.files); st.set("analyzedFiles", statistics.analyzedFiles); st.set("skippedFiles", statistics.skippedFiles)
        st.set("lines", statistics.lines); st.set("codeLines", statistics.codeLines); st.set("functions", statistics.functions)
        st.set("commits", statistics.commits); st.set("languages", .object(statistics.languages.map { ($0.key, .int($0.value)) }))
        o.set("statistics", st.json)
        o.set("skippedFiles", .array(skippedFiles.map { f in .object([("path", .string(f.path)), ("reason", .string(f.reason))]) }))
        o.set("baseline", baseline)
        var t = CanonicalObject()
        t.set("startedAt", timing.startedAt); t.set("totalMs", timing.totalMs); t.set("cacheHits", timing.cacheHits); t.set("cacheMisses", timing.cacheMisses)
        o.set("timing", t.json)
        return o.json
    }
}

extension CheckResult {
    var canonical: CanonicalJSON {
        var o = CanonicalObject()
        o.set("status", status.rawValue); o.set("score", score)
        o.set("violations", .array(violations.map(\.canonical)))
        o.set("suggestions", .array(suggestions.map(\.canonical)))
        o.set("lastRun", lastRun); o.set("executionTime", executionTime)
        o.set("skippedRules", .array(skippedRules.map { .object([("ruleId", .string($0.ruleId)), ("reason", .string($0.reason))]) }))
        o.set("counts", .object(counts.map { ($0.key, .int($0.value)) }))
        o.set("penalty", penalty)
        return o.json
    }
}

extension Violation {
    var canonical: CanonicalJSON {
        var o = CanonicalObject()
        o.set("ruleId", ruleId); o.set("severity", severity.rawValue); o.set("file", file); o.set("line", line); o.set("column", column)
        o.set("message", message); o.set("fingerprint", fingerprint); o.set("lineHash", lineHash)
        if let fix { o.set("fix", fix.canonical) }
        return o.json
    }
}

extension Suggestion {
    var canonical: CanonicalJSON {
        var o = CanonicalObject()
        o.set("ruleId", ruleId); o.set("kind", kind.rawValue); o.set("message", message); o.set("file", file); o.set("line", line)
        o.set("original", original); o.set("replacement", replacement); o.set("patch", patch)
        return o.json
    }
}
