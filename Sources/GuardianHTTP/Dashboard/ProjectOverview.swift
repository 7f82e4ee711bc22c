import Foundation
import GuardianAudit
import GuardianCore
import GuardianNode
import GuardianStore
import Synchronization

/// `GET /v1/projects/{id}/overview`: what the dashboard's project page shows, built by an owner
/// (it holds the results and the mirror the code lines come from) and rendered by whichever node
/// the browser asked. The latest envelope travels with it, so that the rendering node checks the
/// signature itself.
public struct ProjectOverview: Codable, Sendable {
    public struct CheckRow: Codable, Sendable {
        public var name: String
        public var question: String
        public var status: String
        public var score: Int
        /// Counted findings by severity, in severity order (critical first).
        public var severities: [Int]
        public var findings: Int
    }
    public struct CodeLine: Codable, Sendable {
        public var number: Int
        public var text: String
        public var hit: Bool
    }
    public struct Finding: Codable, Sendable {
        public var check: String
        public var ruleId: String
        public var severity: String
        public var message: String
        public var file: String?
        public var line: Int?
        public var fingerprint: String
        public var isNew: Bool
        public var suppressed: String?
        public var code: [CodeLine]
        public var fix: String?
        public var patch: String?
    }
    public struct HistoryPoint: Codable, Sendable {
        public var resultId: String
        public var createdAt: Double
        public var commit: String?
        public var signer: String
        public var health: Int
        public var checks: [String: Int]
    }
    public struct InsightRow: Codable, Sendable {
        public var kind: String
        public var message: String
        public var confidence: Double
        public var file: String?
    }
    public struct Owner: Codable, Sendable {
        public var name: String
        /// False while the result waits for this owner in a hint of the node that built the page.
        public var holds: Bool
    }
    public struct Running: Codable, Sendable {
        public var taskId: String
        public var phase: String
        public var progress: Double
    }

    public var project: ProjectView
    public var builtBy: String
    public var resultId: String?
    public var createdAt: Double?
    public var commit: String?
    public var signer: String?
    public var health: Int?
    public var gatePassed: Bool?
    public var profile: String?
    public var checks: [CheckRow]
    public var findings: [Finding]
    public var findingsTotal: Int
    public var page: Int
    public var pages: Int
    public var history: [HistoryPoint]
    public var insights: [InsightRow]
    public var owners: [Owner]
    public var running: Running?
    /// The latest result's DSSE envelope as stored (JSON text).
    public var envelope: String?
}

/// The filters of the findings list.
struct FindingFilter: Sendable {
    var check: String?
    var severity: String?
    var onlyNew = false
    var page = 1
    static let pageSize = 50

    init(_ q: (String) -> String?) throws {
        check = q("check").flatMap { $0.isEmpty ? nil : $0 }
        severity = q("severity").flatMap { $0.isEmpty ? nil : $0 }
        onlyNew = q("new").map { $0 == "1" || $0 == "true" || $0 == "on" } ?? false
        page = max(1, Int(q("page") ?? "") ?? 1)
        if let c = check, Check(rawValue: c) == nil { throw APIError(.badRequest, "invalid_check", "unknown check '\(c.prefix(40))'") }
        if let s = severity, Severity(rawValue: s) == nil { throw APIError(.badRequest, "invalid_severity", "unknown severity '\(s.prefix(40))'") }
    }

    /// The filters as a query string, with `page` when past the first.
    func query(page: Int = 1) -> String {
        var parts: [String] = []
        if let check { parts.append("check=\(check)") }
        if let severity { parts.append("severity=\(severity)") }
        if onlyNew { parts.append("new=1") }
        if page > 1 { parts.append("page=\(page)") }
        return parts.joined(separator: "&")
    }
}

/// What a project page needs of a result, decoded once and kept: the report of the last eight
/// results viewed, their findings in page order (the most severe first, then where they are) and
/// the fingerprints new in them; and every viewed result's check scores (for the history chart).
final class ReportCache: Sendable {
    struct Entry: Sendable {
        var report: AuditReport
        var ordered: [(check: Check, violation: Violation)]
        var fresh: Set<String>
    }
    private let entries = Mutex<[(id: String, entry: Entry)]>([])
    private let scores = Mutex<[String: [String: Int]]>([:])

    func entry(_ id: String, store: Store) throws -> Entry? {
        if let hit = entries.withLock({ $0.first { $0.id == id }?.entry }) { return hit }
        guard let r = try store.result(id: id), let report = Node.report(of: [UInt8](r.envelope)) else { return nil }
        var ordered: [(check: Check, violation: Violation)] = []
        for check in Check.allCases { for v in report.magicResults[check.rawValue]?.violations ?? [] { ordered.append((check, v)) } }
        ordered.sort { a, b in
            a.violation.severity.rank != b.violation.severity.rank ? a.violation.severity.rank > b.violation.severity.rank
                : Violation.reportOrder(a.violation, b.violation)
        }
        let e = Entry(report: report, ordered: ordered, fresh: try store.newFingerprints(result: id))
        entries.withLock { list in
            list.insert((id, e), at: 0)
            if list.count > 8 { list.removeLast() }
        }
        scores.withLock { $0[id] = report.magicResults.mapValues(\.score) }
        return e
    }

    func checkScores(_ id: String, store: Store) -> [String: Int] {
        if let hit = scores.withLock({ $0[id] }) { return hit }
        let s = (try? store.result(id: id)).flatMap { $0 }.flatMap { Node.report(of: [UInt8]($0.envelope)) }.map { $0.magicResults.mapValues(\.score) } ?? [:]
        scores.withLock { if $0.count > 20_000 { $0.removeAll() }; $0[id] = s }
        return s
    }
}

extension API {
    /// The project page's data, from this node's store and mirror. `envelope`: carry the latest
    /// envelope (for a page another node renders and verifies; a page rendered here reads it from
    /// the store only when it has not verified that result yet).
    func overview(_ project: ProjectRecord, filter: FindingFilter, envelope: Bool) async throws -> ProjectOverview {
        let store = node.store
        var o = ProjectOverview(project: ProjectView(project), builtBy: node.config.name, checks: [], findings: [], findingsTotal: 0,
                                page: filter.page, pages: 1, history: [], insights: [], owners: [])
        if let t = node.currentTask(project: project.id) {
            o.running = .init(taskId: t.id, phase: t.phase, progress: t.progress)
        }
        let recent = try store.resultHeads(project: project.id, limit: 20)
        let latest = recent.first
        // the latest first: its scores come with its entry
        let entry = try latest.flatMap { try reports.entry($0.id, store: store) }
        o.history = recent.reversed().map { r in
            .init(resultId: r.id, createdAt: r.createdAt, commit: r.commitId, signer: r.signer, health: r.health,
                  checks: reports.checkScores(r.id, store: store))
        }
        let waiting = Set(try latest.map { try store.hintOwners(result: $0.id) } ?? [])
        o.owners = await node.owners(of: project.id).map { .init(name: $0, holds: latest != nil && !waiting.contains($0)) }
        guard let latest, let entry else { return o }
        let report = entry.report
        o.resultId = latest.id; o.createdAt = latest.createdAt; o.commit = latest.commitId; o.signer = latest.signer
        o.health = latest.health; o.gatePassed = latest.gatePassed; o.profile = report.profile
        if envelope, let r = try store.result(id: latest.id) { o.envelope = String(decoding: r.envelope, as: UTF8.self) }
        o.insights = report.aiInsights.map { .init(kind: $0.kind, message: $0.message, confidence: $0.confidence, file: $0.file) }
        let severities = Severity.allCases.sorted { $0.rank > $1.rank }
        for check in Check.allCases {
            guard let c = report.magicResults[check.rawValue] else { continue }
            var counts = [Int](repeating: 0, count: severities.count), counted = 0
            for v in c.violations where v.isCounted {
                counted += 1
                if let i = severities.firstIndex(of: v.severity) { counts[i] += 1 }
            }
            o.checks.append(.init(name: check.rawValue, question: check.question, status: c.status.rawValue, score: c.score,
                                  severities: counts, findings: counted))
        }
        let severity = filter.severity.flatMap(Severity.init(rawValue:)), check = filter.check.flatMap(Check.init(rawValue:))
        let size = FindingFilter.pageSize
        // the positions that match, in page order; a page past the last shows the last
        let matching = entry.ordered.indices.filter { i in
            let f = entry.ordered[i]
            return (check == nil || f.check == check) && (severity == nil || f.violation.severity == severity)
                && (!filter.onlyNew || entry.fresh.contains(f.violation.fingerprint))
        }
        o.findingsTotal = matching.count
        o.pages = max(1, (matching.count + size - 1) / size)
        o.page = min(filter.page, o.pages)
        let slice = matching.dropFirst((o.page - 1) * size).prefix(size).map { entry.ordered[$0] }
        // the code around each finding on the page, from this owner's mirror at the result's commit
        let located = slice.compactMap { f in f.violation.file.flatMap { file in f.violation.line.map { (file: file, line: $0) } } }
        var code: [String: [(number: Int, text: String)]] = [:]
        if let commit = latest.commitId, let mirror = try? node.dataDir.mirror(project.id), !located.isEmpty {
            for (place, lines) in zip(located, Mirror.lines(of: located, at: commit, in: mirror, radius: 2)) {
                if let lines { code["\(place.file):\(place.line)"] = lines }
            }
        }
        o.findings = slice.map { check, v in
            let lines = v.file.flatMap { f in v.line.flatMap { code["\(f):\($0)"] } } ?? []
            let code = lines.map { ProjectOverview.CodeLine(number: $0.number, text: String($0.text.prefix(400)), hit: $0.number == v.line) }
            return .init(check: check.rawValue, ruleId: v.ruleId, severity: v.severity.rawValue, message: v.message, file: v.file, line: v.line,
                         fingerprint: v.fingerprint, isNew: entry.fresh.contains(v.fingerprint),
                         suppressed: v.suppression.map { $0.justification ?? "suppressed" },
                         code: code, fix: v.fix.map(\.message), patch: v.fix?.patch ?? v.fix?.replacement.map { r in "- \(v.fix?.original ?? "")\n+ \(r)" })
        }
        return o
    }
}
