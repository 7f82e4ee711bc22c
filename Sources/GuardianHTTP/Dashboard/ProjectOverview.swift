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

    var query: String {
        var parts: [String] = []
        if let check { parts.append("check=\(check)") }
        if let severity { parts.append("severity=\(severity)") }
        if onlyNew { parts.append("new=1") }
        return parts.joined(separator: "&")
    }
}

/// Decoded reports and per-result check scores, kept so that a page view decodes an envelope once.
final class ReportCache: Sendable {
    private let reports = Mutex<[(id: String, report: AuditReport)]>([])
    private let scores = Mutex<[String: [String: Int]]>([:])

    func report(_ r: ResultRecord) -> AuditReport? {
        if let hit = reports.withLock({ $0.first { $0.id == r.id }?.report }) { return hit }
        guard let report = Node.report(of: [UInt8](r.envelope)) else { return nil }
        reports.withLock { list in
            list.insert((r.id, report), at: 0)
            if list.count > 8 { list.removeLast() }
        }
        return report
    }

    func checkScores(_ r: ResultRecord) -> [String: Int] {
        if let hit = scores.withLock({ $0[r.id] }) { return hit }
        let s = report(r).map { $0.magicResults.mapValues(\.score) } ?? [:]
        scores.withLock { if $0.count > 20_000 { $0.removeAll() }; $0[r.id] = s }
        return s
    }
}

extension API {
    /// The project page's data, from this node's store and mirror.
    func overview(_ project: ProjectRecord, filter: FindingFilter) async throws -> ProjectOverview {
        let store = node.store
        var o = ProjectOverview(project: ProjectView(project), builtBy: node.config.name, checks: [], findings: [], findingsTotal: 0,
                                page: filter.page, pages: 1, history: [], insights: [], owners: [])
        if let t = node.currentTask(project: project.id), t.state == .running || t.state == .queued {
            o.running = .init(taskId: t.id, phase: t.phase, progress: t.progress)
        }
        let recent = try store.results(project: project.id, limit: 20, before: nil)
        o.history = recent.reversed().map { r in
            .init(resultId: r.id, createdAt: r.createdAt, commit: r.commitId, signer: r.signer, health: r.health, checks: reports.checkScores(r))
        }
        let waiting = Set(try recent.first.map { try store.hintOwners(result: $0.id) } ?? [])
        o.owners = await node.owners(of: project.id).map { .init(name: $0, holds: recent.first != nil && !waiting.contains($0)) }
        guard let latest = recent.first, let report = reports.report(latest) else { return o }
        o.resultId = latest.id; o.createdAt = latest.createdAt; o.commit = latest.commitId; o.signer = latest.signer
        o.health = latest.health; o.gatePassed = latest.gatePassed; o.profile = report.profile
        o.envelope = String(decoding: latest.envelope, as: UTF8.self)
        o.insights = report.aiInsights.map { .init(kind: $0.kind, message: $0.message, confidence: $0.confidence, file: $0.file) }
        let severities = Severity.allCases.sorted { $0.rank > $1.rank }
        for check in Check.allCases {
            guard let c = report.magicResults[check.rawValue] else { continue }
            let counted = c.violations.filter(\.isCounted)
            o.checks.append(.init(name: check.rawValue, question: check.question, status: c.status.rawValue, score: c.score,
                                  severities: severities.map { s in counted.filter { $0.severity == s }.count }, findings: counted.count))
        }
        let fresh = filter.onlyNew ? try store.newFingerprints(result: latest.id) : []
        var all: [(Check, Violation)] = []
        for check in Check.allCases where filter.check == nil || filter.check == check.rawValue {
            for v in report.magicResults[check.rawValue]?.violations ?? [] {
                if let s = filter.severity, v.severity.rawValue != s { continue }
                if filter.onlyNew && !fresh.contains(v.fingerprint) { continue }
                all.append((check, v))
            }
        }
        // the most severe first, then where they are
        all.sort { a, b in a.1.severity.rank != b.1.severity.rank ? a.1.severity.rank > b.1.severity.rank : Violation.reportOrder(a.1, b.1) }
        o.findingsTotal = all.count
        o.pages = max(1, (all.count + FindingFilter.pageSize - 1) / FindingFilter.pageSize)
        o.page = min(filter.page, o.pages)
        let slice = all.dropFirst((o.page - 1) * FindingFilter.pageSize).prefix(FindingFilter.pageSize)
        let newOnPage = filter.onlyNew ? fresh : try store.newFingerprints(result: latest.id)
        // the code around each finding on the page, from this owner's mirror at the result's commit
        let located = slice.compactMap { _, v in v.file.flatMap { f in v.line.map { (file: f, line: $0) } } }
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
                         fingerprint: v.fingerprint, isNew: newOnPage.contains(v.fingerprint), suppressed: v.suppression?.justification ?? v.suppression.map { _ in "suppressed" },
                         code: code, fix: v.fix.map(\.message), patch: v.fix?.patch ?? v.fix?.replacement.map { r in "- \(v.fix?.original ?? "")\n+ \(r)" })
        }
        return o
    }
}
