import Foundation
import GuardianAudit
import GuardianCore
import GuardianCrypto
import GuardianStore

/// The fleet view's summaries (`ProjectSummary`): the node that stores a project's newest result
/// as its own audit, or as the primary receiving a replica, writes the summary to the replicated
/// registry, and every node then lists the project with its scores.
extension Node {
    /// Writes the summary of `project`'s latest stored result, unless the registry holds one as new.
    nonisolated func recordSummary(project: String) {
        do {
            guard let latest = try store.latestResultSummary(project: project) else { return }
            if let current = try store.summary(project: project), current.createdAt >= latest.createdAt { return }
            guard let r = try store.result(id: latest.id), let report = Self.report(of: [UInt8](r.envelope)) else { return }
            var checks: [String: ProjectSummary.CheckBrief] = [:]
            for (name, c) in report.magicResults {
                checks[name] = .init(status: c.status.rawValue, score: c.score, findings: c.violations.filter(\.isCounted).count)
            }
            try registry.save(summary: ProjectSummary(id: project, resultId: r.id, createdAt: r.createdAt, commit: r.commitId,
                                                      health: r.health, gatePassed: r.gatePassed, signer: r.signer, checks: checks,
                                                      trend: try store.healthTrend(project: project)))
        } catch {
            logger.warning("could not record a project's summary", metadata: ["project": "\(project)", "error": "\(error)"])
        }
    }

    /// At start: a summary for every project whose newest local result the registry does not show
    /// yet (results stored before summaries existed, or a write lost to a crash).
    public nonisolated func backfillSummaries() {
        guard let projects = try? store.projects() else { return }
        for p in projects { recordSummary(project: p.id) }
    }

    /// The report a stored envelope signs; nil when it does not read.
    public static func report(of envelope: [UInt8]) -> AuditReport? {
        guard let env = try? DSSE.parse(envelope), let payload = Sodium.base64Decode(env.payload) else { return nil }
        return (try? JSONDecoder().decode(AuditStatement.self, from: Data(payload)))?.predicate
    }
}
