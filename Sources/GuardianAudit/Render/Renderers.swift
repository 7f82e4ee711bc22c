import Foundation
import GuardianCore
import GuardianJSON

/// Output formats of `guardian audit`.
public enum ReportFormat: String, Sendable, CaseIterable { case text, json, sarif, codequality }

public enum ReportRenderer {
    public static func render(_ report: AuditReport, as format: ReportFormat) throws -> Data {
        switch format {
        case .text: return Data(text(report).utf8)
        case .json: // the report's canonical bytes, indented as `json(_:)` would write them
            var bytes = PrettyJSON.indent(report.canonicalBytes)
            bytes.append(0x0a)
            return Data(bytes)
        case .sarif: return try sarif(report)
        case .codequality: return try codeQuality(report)
        }
    }

    /// Stable JSON: sorted keys, no escaped slashes (docs/json-schema.md).
    public static func json<T: Encodable>(_ value: T) throws -> Data {
        let e = JSONEncoder()
        e.outputFormatting = [.sortedKeys, .prettyPrinted, .withoutEscapingSlashes]
        var d = try e.encode(value)
        d.append(0x0a)
        return d
    }

    // MARK: text

    public static func text(_ r: AuditReport, top: Int = 15) -> String {
        var out = ""
        let subject = r.subject.commit.map { "\(r.subject.repository) @ \(String($0.prefix(12)))" } ?? r.subject.repository
        out += "Guardian audit of \(subject)\n"
        out += "profile \(r.profile) (strictness \(r.strictness))  ·  \(r.statistics.analyzedFiles) files analysed, "
            + "\(r.statistics.codeLines) code lines, \(r.statistics.functions) functions, \(r.statistics.commits) commits"
        if let b = r.baseline { out += "  ·  new since \(b)" }
        out += "\n\n"
        out += pad("check", 12) + pad("status", 9) + lpad("score", 6) + lpad("crit", 6) + lpad("high", 6) + lpad("med", 6) + lpad("low", 6) + "  question\n"
        for check in Check.allCases {
            guard let c = r.magicResults[check.rawValue] else { continue }
            let by = Dictionary(grouping: c.violations.filter(\.isCounted), by: \.severity).mapValues(\.count)
            out += pad(check.rawValue, 12) + pad(c.status.rawValue, 9) + lpad("\(c.score)", 6)
                + lpad("\(by[.critical] ?? 0)", 6) + lpad("\(by[.high] ?? 0)", 6) + lpad("\(by[.medium] ?? 0)", 6)
                + lpad("\(by[.low] ?? 0)", 6) + "  " + check.question + "\n"
        }
        out += "\noverall health score: \(r.overallHealthScore)/100   gate: \(r.gate.passed ? "PASSED" : "FAILED")\n"
        for reason in r.gate.reasons { out += "  - \(reason)\n" }
        let everything = r.allViolations.filter(\.isCounted)
        let suppressedCount = r.allViolations.count - everything.count
        var all: [Violation] = []
        for sev in Severity.allCases where all.count < top { // most severe first, report order within
            all += everything.filter { $0.severity == sev }.sorted(by: Violation.reportOrder)
        }
        let totalCount = everything.count
        if !all.isEmpty {
            out += "\ntop findings (\(min(top, all.count)) of \(totalCount)):\n"
            for v in all.prefix(top) {
                let loc = v.file.map { f in v.line.map { "\(f):\($0)" } ?? f } ?? "(repository)"
                out += "  \(pad(v.severity.rawValue, 9))\(pad(v.ruleId, 34)) \(loc)  \(v.message)\n"
            }
        }
        if !r.aiInsights.isEmpty {
            out += "\ninsights:\n"
            for i in r.aiInsights.prefix(5) { out += "  [\(FixedPoint.format(i.confidence, digits: 2))] " + i.message + "\n" }
        }
        if suppressedCount > 0 { out += "\n\(suppressedCount) findings suppressed (guardian:ignore, dismissals); see --format json\n" }
        if !r.skippedFiles.isEmpty { out += "\n\(r.skippedFiles.count) files skipped (binary, large, generated, vendored, excluded, symlinks …); see --format json\n" }
        return out
    }

    static func pad(_ s: String, _ n: Int) -> String { s.count >= n ? s + " " : s + String(repeating: " ", count: n - s.count) }
    static func lpad(_ s: String, _ n: Int) -> String { s.count >= n ? s : String(repeating: " ", count: n - s.count) + s }

    // MARK: SARIF 2.1.0

    struct SarifLog: Encodable {
        var version = "2.1.0"
        var schema = "https://json.schemastore.org/sarif-2.1.0.json"
        var runs: [Run]
        enum CodingKeys: String, CodingKey { case version, schema = "$schema", runs }
    }
    struct Run: Encodable { var tool: Tool; var results: [Result]; var automationDetails: [String: String]?; var properties: [String: Int] }
    struct Tool: Encodable { var driver: Driver }
    struct Driver: Encodable {
        var name = "guardian"
        var version: String
        var informationUri = "https://github.com/guardian-mesh/guardian"
        var rules: [RuleDescriptor]
    }
    struct Message: Encodable { var text: String }
    struct RuleDescriptor: Encodable {
        var id: String
        var name: String
        var shortDescription: Message
        var fullDescription: Message
        var help: Message
        var defaultConfiguration: [String: String]
        var properties: [String: [String]]
    }
    struct Result: Encodable {
        var ruleId: String
        var ruleIndex: Int
        var level: String
        var message: Message
        var locations: [Location]
        var partialFingerprints: [String: String]
        var properties: [String: String]
        var fixes: [Fix]?
        var suppressions: [SarifSuppression]?
    }
    struct SarifSuppression: Encodable { var kind: String; var justification: String? }
    struct Location: Encodable { var physicalLocation: Physical }
    struct Physical: Encodable { var artifactLocation: Artifact; var region: Region? }
    struct Artifact: Encodable { var uri: String }
    struct Region: Encodable { var startLine: Int; var startColumn: Int? }
    struct Fix: Encodable { var description: Message; var artifactChanges: [Change] }
    struct Change: Encodable { var artifactLocation: Artifact; var replacements: [Replacement] }
    struct Replacement: Encodable { var deletedRegion: Region; var insertedContent: Content }
    struct Content: Encodable { var text: String }

    static func level(_ s: Severity) -> String {
        switch s {
        case .critical, .high: "error"
        case .medium: "warning"
        case .low, .info: "note"
        }
    }

    public static func sarif(_ r: AuditReport) throws -> Data {
        let rules = RuleCatalog.all
        let index = Dictionary(uniqueKeysWithValues: rules.enumerated().map { ($1.id, $0) })
        let descriptors = rules.map { rule in
            RuleDescriptor(id: rule.id, name: rule.name, shortDescription: Message(text: rule.summary),
                           fullDescription: Message(text: "\(rule.check.question) \(rule.summary)"),
                           help: Message(text: rule.help), defaultConfiguration: ["level": level(rule.severity)],
                           properties: ["tags": ["guardian", rule.check.rawValue]])
        }
        var results: [Result] = []
        for v in r.allViolations {
            let loc: [Location]
            if let f = v.file {
                loc = [Location(physicalLocation: Physical(artifactLocation: Artifact(uri: f),
                                                           region: v.line.map { Region(startLine: $0, startColumn: v.column) }))]
            } else {
                loc = [Location(physicalLocation: Physical(artifactLocation: Artifact(uri: "."), region: nil))]
            }
            var fixes: [Fix]?
            if let fx = v.fix, fx.kind == .replacement, let f = v.file, let line = v.line, let rep = fx.replacement {
                fixes = [Fix(description: Message(text: fx.message), artifactChanges: [
                    Change(artifactLocation: Artifact(uri: f), replacements: [
                        Replacement(deletedRegion: Region(startLine: line, startColumn: v.column), insertedContent: Content(text: rep)),
                    ]),
                ])]
            }
            results.append(Result(ruleId: v.ruleId, ruleIndex: index[v.ruleId] ?? 0, level: level(v.severity),
                                  message: Message(text: v.message), locations: loc,
                                  partialFingerprints: ["primaryLocationLineHash": v.lineHash, "guardian/v1": v.fingerprint],
                                  properties: ["severity": v.severity.rawValue], fixes: fixes,
                                  suppressions: v.suppression.map { [SarifSuppression(kind: $0.kind.rawValue, justification: $0.justification)] }))
        }
        let log = SarifLog(runs: [Run(tool: Tool(driver: Driver(version: r.guardianVersion, rules: descriptors)), results: results,
                                      automationDetails: r.subject.commit.map { ["id": "guardian/\($0)"] },
                                      properties: ["overallHealthScore": r.overallHealthScore])])
        return try json(log)
    }
}
