import Foundation
import GuardianAudit
import GuardianCore

/// What a pull request's result tells its code host (docs/pull-requests.md): built by the node that
/// audited the request, in the transaction that stores the result, and written back by the
/// project's primary through the outbox (`CodeHostWriter`). It carries no token: the writer reads
/// the project's sealed settings when it sends.
public struct PullRequestReport: Codable, Sendable, Equatable {
    public struct Finding: Codable, Sendable, Equatable {
        public var check: String
        public var ruleId: String
        public var severity: String
        public var file: String?
        public var line: Int?
        public var message: String
        public var fingerprint: String
        public init(check: String, ruleId: String, severity: String, file: String?, line: Int?, message: String, fingerprint: String) {
            self.check = check; self.ruleId = ruleId; self.severity = severity; self.file = file; self.line = line
            self.message = message; self.fingerprint = fingerprint
        }
    }

    public var project: String
    public var projectName: String
    public var number: Int
    /// The commit audited (the request's head) and the merge base it was compared with.
    public var head: String
    public var base: String?
    public var resultId: String?
    /// The result's time: a comment that names a later one is not overwritten.
    public var createdAtMs: Int64
    public var health: Int
    public var gatePassed: Bool
    public var gateReasons: [String]
    /// New counted findings, most severe first (at most `maxListed`).
    public var newFindings: [Finding]
    public var newCount: Int
    public var totalCount: Int
    /// Lines the request added, for the files that have new findings (where review comments may go).
    public var addedLines: [String: [Int]]
    public var link: String?
    /// The audit failed: the status says so, with this reason.
    public var error: String?

    public static let maxListed = 100

    public init(project: String, projectName: String, number: Int, head: String, base: String?, resultId: String?, createdAtMs: Int64,
                health: Int, gatePassed: Bool, gateReasons: [String], newFindings: [Finding], newCount: Int, totalCount: Int,
                addedLines: [String: [Int]], link: String?, error: String? = nil) {
        self.project = project; self.projectName = projectName; self.number = number; self.head = head; self.base = base
        self.resultId = resultId; self.createdAtMs = createdAtMs; self.health = health; self.gatePassed = gatePassed
        self.gateReasons = gateReasons; self.newFindings = newFindings; self.newCount = newCount; self.totalCount = totalCount
        self.addedLines = addedLines; self.link = link; self.error = error
    }

    /// The report of an audited request: its new counted findings against the merge base.
    public init(report: AuditReport, project: String, projectName: String, number: Int, resultId: String, createdAtMs: Int64,
                added: [String: Set<Int>], link: String?) {
        let all = Check.allCases.flatMap { c in (report.magicResults[c.rawValue]?.violations ?? []).map { (c, $0) } }
        let new = all.filter { $0.1.isNew == true && $0.1.isCounted }
            .sorted { a, b in a.1.severity != b.1.severity ? a.1.severity > b.1.severity : Violation.reportOrder(a.1, b.1) }
        let listed = new.prefix(Self.maxListed).map { c, v in
            Finding(check: c.rawValue, ruleId: v.ruleId, severity: v.severity.rawValue, file: v.file, line: v.line, message: v.message,
                    fingerprint: v.fingerprint)
        }
        let files = Set(listed.compactMap(\.file))
        self.init(project: project, projectName: projectName, number: number, head: report.subject.commit ?? "", base: report.baseline,
                  resultId: resultId, createdAtMs: createdAtMs, health: report.overallHealthScore, gatePassed: report.gate.passed,
                  gateReasons: report.gate.reasons, newFindings: listed, newCount: new.count, totalCount: all.filter { $0.1.isCounted }.count,
                  addedLines: added.filter { files.contains($0.key) }.mapValues { $0.sorted() }, link: link)
    }

    public static func decode(_ s: String?) -> PullRequestReport? { s.flatMap { try? JSONDecoder().decode(PullRequestReport.self, from: Data($0.utf8)) } }
    public var encoded: String {
        let e = JSONEncoder()
        e.outputFormatting = .sortedKeys
        return (try? String(decoding: e.encode(self), as: UTF8.self)) ?? "{}"
    }

    /// The outbox channel of a request's write-backs: one per team and request number, so that the
    /// writes for one request go one at a time and in order (`AlertSender` allows one in flight).
    public static func channel(team: String, number: Int) -> String { "\(team).@pr\(number)" }
    public static func isChannel(_ channel: String) -> Bool { channel.split(separator: ".").last?.hasPrefix("@pr") ?? false }

    // MARK: what the host shows

    public enum State: String, Sendable { case success, failure, error }
    public var state: State { error != nil ? .error : gatePassed ? .success : .failure }

    /// One line, at most 140 characters (GitHub's limit for a status description).
    public var statusDescription: String {
        let text: String
        if let error { text = "audit failed: \(error)" } else {
            let findings = newCount == 1 ? "1 new finding" : "\(newCount) new findings"
            text = "health \(health) · \(findings) · gate \(gatePassed ? "passed" : "failed")"
        }
        return text.count <= 140 ? text : String(text.prefix(139)) + "…"
    }

    /// The hidden marker that finds the request's one summary comment again.
    public var marker: String { "<!-- guardian:pull-request project=\(project) -->" }
    /// The result's time in the comment: a comment from a later result is never overwritten.
    public var stamp: String { "<!-- guardian:result at=\(createdAtMs) -->" }

    /// The summary comment, Markdown (GitHub, GitLab, Bitbucket and Azure DevOps all render it).
    public var commentBody: String {
        var out = [marker, stamp]
        let short = head.prefix(10)
        if let error {
            out.append("### Guardian could not audit `\(short)`")
            out.append(Self.escape(error))
        } else {
            out.append("### Guardian: gate \(gatePassed ? "passed ✅" : "failed ❌") · health \(health)")
            let against = base.map { " against the merge base `\($0.prefix(10))`" } ?? ""
            out.append("**\(newCount == 1 ? "1 new finding" : "\(newCount) new findings")** in `\(short)`\(against) (\(totalCount) in the code in all).")
            if !gatePassed && !gateReasons.isEmpty { out.append(gateReasons.map { "- " + Self.escape($0) }.joined(separator: "\n")) }
            if !newFindings.isEmpty {
                var table = ["| Severity | Check | Where | Finding |", "|---|---|---|---|"]
                for f in newFindings.prefix(50) {
                    let place = f.file.map { "`\(Self.escape($0))\(f.line.map { ":\($0)" } ?? "")`" } ?? ""
                    table.append("| \(f.severity) | \(f.check) | \(place) | \(Self.escape(f.message)) (`\(f.ruleId)`) |")
                }
                if newCount > 50 { table.append("| | | | and \(newCount - 50) more |") }
                out.append(table.joined(separator: "\n"))
            }
        }
        if let link { out.append("[The project in Guardian](\(link))") }
        return out.joined(separator: "\n\n")
    }

    /// A review comment's marker: one comment per finding, found again on the next push.
    public static func findingMarker(_ fingerprint: String) -> String { "<!-- guardian:finding \(fingerprint) -->" }

    public static func reviewBody(_ f: Finding) -> String {
        "\(findingMarker(f.fingerprint))\n**Guardian** · \(f.severity) · \(f.check) · `\(f.ruleId)`\n\n\(escape(f.message))"
    }

    /// The new findings of high severity or above that sit on a line the request added and have no
    /// review comment yet (by their marker among `existing` bodies), at most `limit`.
    public func reviewComments(existing: [String], limit: Int) -> [Finding] {
        let commented = Set(existing.compactMap(Self.fingerprint(inReviewBody:)))
        var out: [Finding] = []
        for f in newFindings where out.count < limit {
            guard let file = f.file, let line = f.line, (Severity(rawValue: f.severity) ?? .info) >= .high,
                  addedLines[file]?.contains(line) == true, !commented.contains(f.fingerprint) else { continue }
            out.append(f)
        }
        return out
    }

    static func fingerprint(inReviewBody body: String) -> String? {
        guard let r = body.range(of: "<!-- guardian:finding ") else { return nil }
        let rest = body[r.upperBound...]
        guard let end = rest.range(of: " -->") else { return nil }
        return String(rest[..<end.lowerBound])
    }

    /// Text from a repository in Markdown: no HTML (`HTML.escape`), no table breaks, no mentions,
    /// no way out of a code span (a backtick becomes a quote), no links or images, one line, at
    /// most 500 characters.
    static func escape(_ s: String) -> String {
        HTML.escape(s.prefix(500))
            .replacingOccurrences(of: "`", with: "'")
            .replacingOccurrences(of: "[", with: "&#91;")
            .replacingOccurrences(of: "]", with: "&#93;")
            .replacingOccurrences(of: "|", with: "\\|")
            .replacingOccurrences(of: "@", with: "@\u{200B}")
            .replacingOccurrences(of: "\n", with: " ")
            .replacingOccurrences(of: "\r", with: " ")
    }
}

/// What to do with a request's summary comment, given the comments on the request (pure).
public enum CommentPlan: Equatable, Sendable {
    case create
    /// Edit the first comment that carries the marker, and delete the other ones (a repeat from a
    /// failover): exactly one summary comment per request.
    case edit(id: String, delete: [String])
    /// A comment from a later result is there: leave it.
    case keep

    public static func decide(existing: [(id: String, body: String)], report: PullRequestReport) -> CommentPlan {
        let ours = existing.filter { $0.body.contains(report.marker) }
        guard let first = ours.first else { return .create }
        if ours.contains(where: { (stamp(in: $0.body) ?? 0) > report.createdAtMs }) { return .keep }
        return .edit(id: first.id, delete: ours.dropFirst().map(\.id))
    }

    static func stamp(in body: String) -> Int64? {
        guard let r = body.range(of: "<!-- guardian:result at=") else { return nil }
        return Int64(body[r.upperBound...].prefix { $0.isNumber })
    }
}
