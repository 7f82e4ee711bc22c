import Foundation
import GuardianAudit
import GuardianCore
import GuardianMesh
import GuardianStore

/// A running pull request audit that a newer push to the same request replaced.
struct Superseded: Error, CustomStringConvertible {
    var number: Int
    var description: String { "superseded by a newer push to pull request #\(number)" }
}

/// A request's audit that cannot find its head where the host said.
struct HeadMissing: Error, CustomStringConvertible {
    var head: String, ref: String
    var description: String { "the request's head \(head) is not in \(ref) (a later push moved it, or the request comes from a fork)" }
}

extension PullRequestReport {
    /// What a failed audit's status and comment say: one of a few fixed sentences. The error itself
    /// (it may name the node's paths or a host's answer) stays in the task and the log.
    static func publicReason(_ error: any Error) -> String {
        let text = "\(error)"
        if error is HeadMissing { return "the request's head is not where the host said (a later push, or a fork)" }
        if text.contains("cannot mirror") { return "the repository could not be fetched" }
        if text.contains("no common ancestor") { return "the request has no common ancestor with its target branch" }
        if text.contains("unknown revision") { return "the request's target branch is not in the repository" }
        return "the audit failed; the task on the Guardian node holds the reason"
    }

    /// The report of an audit that failed: the request's status says so.
    static func failed(project: ProjectRecord, _ pr: PullRequestTask, error: String, link: String?) -> PullRequestReport {
        PullRequestReport(project: project.id, projectName: project.name, number: pr.number, head: pr.head, base: nil, resultId: nil,
                          createdAtMs: Int64((Date().timeIntervalSince1970 * 1000).rounded(.down)), health: 0, gatePassed: false,
                          gateReasons: [], newFindings: [], newCount: 0, totalCount: 0, addedLines: [:], link: link,
                          error: String(error.prefix(300)))
    }
}

extension Node {
    /// The outbox row that writes a request's report back to the project's code host, or nil when
    /// the project has none. Its delivery id is the same on every owner (result, or head and time).
    nonisolated func pullRequestRow(project: ProjectRecord, report: PullRequestReport) -> AlertOutboxRow? {
        guard project.codeHost != nil else { return nil }
        let channel = PullRequestReport.channel(team: project.team, number: report.number)
        let key = report.resultId ?? "\(project.id):\(report.head):\(report.createdAtMs)"
        let now = Int64((Date().timeIntervalSince1970 * 1000).rounded(.down))
        return AlertOutboxRow(id: OutboxEntry.deliveryID(result: key, eventKey: "codehost", channel: channel), projectId: project.id,
                              channel: channel, resultId: report.resultId, payload: report.encoded, createdAt: report.createdAtMs, updatedAt: now)
    }
}
