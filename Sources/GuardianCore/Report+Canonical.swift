import GuardianJSON

/// The report's canonical bytes, written with `CanonicalWriter` (sorted keys, nil fields left out).
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
        w.field("project", subject.project); w.field("pullRequest", subject.pullRequest)
        w.field("repository", subject.repository); w.field("revision", subject.revision)
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
        w.field("isNew", isNew)
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
