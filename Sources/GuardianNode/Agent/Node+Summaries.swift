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
    /// `audited`: the result this node just stored and the report it signed, so that the common
    /// case (the audit's own result is the latest) does not read and decode the envelope again.
    nonisolated func recordSummary(project: String, audited: (record: ResultRecord, report: AuditReport)? = nil) {
        do {
            if let s = try summary(of: project, audited: audited) { try registry.save(summary: s) }
        } catch {
            logger.warning("could not record a project's summary", metadata: ["project": "\(project)", "error": "\(error)"])
        }
    }

    /// The summary of `project`'s latest stored result; nil when the registry holds one as new.
    nonisolated func summary(of project: String, audited: (record: ResultRecord, report: AuditReport)? = nil) throws -> ProjectSummary? {
        guard let latest = try store.latestResultSummary(project: project) else { return nil }
        if let current = try store.summary(project: project), current.createdAt >= latest.createdAt { return nil }
        let r: ResultRecord, report: AuditReport
        if let audited, audited.record.id == latest.id {
            (r, report) = audited
        } else {
            guard let stored = try store.result(id: latest.id), let decoded = Self.report(of: [UInt8](stored.envelope)) else { return nil }
            (r, report) = (stored, decoded)
        }
        var checks: [String: ProjectSummary.CheckBrief] = [:]
        for (name, c) in report.magicResults {
            checks[name] = .init(status: c.status.rawValue, score: c.score, findings: c.violations.filter(\.isCounted).count)
        }
        return ProjectSummary(id: project, resultId: r.id, createdAt: r.createdAt, commit: r.commitId, health: r.health,
                              gatePassed: r.gatePassed, signer: r.signer, checks: checks,
                              trend: try store.resultHeads(project: project, limit: ProjectSummary.trendLength).reversed().map(\.health))
    }

    /// At start: a summary for every project whose newest local result the registry does not show
    /// yet (results stored before summaries existed, or a write lost to a crash), 200 to a
    /// transaction. Which projects those are is one query and the cached summaries: a start with
    /// nothing to backfill reads no report.
    public nonisolated func backfillSummaries() {
        guard let latest = try? store.latestResultTimes(), let known = try? store.summaries(),
              let registered = try? Set(store.projects().map(\.id)) else { return }
        let projects = latest.filter { p, t in registered.contains(p) && (known[p].map { $0.createdAt < t } ?? true) }.keys.sorted()
        var batch: [ProjectSummary] = []
        func flush() {
            do { try registry.save(summaries: batch) } catch {
                logger.warning("could not record projects' summaries", metadata: ["count": "\(batch.count)", "error": "\(error)"])
            }
            batch.removeAll()
        }
        for p in projects {
            if let s = try? summary(of: p) { batch.append(s) }
            if batch.count == 200 { flush() }
        }
        if !batch.isEmpty { flush() }
    }

    /// The report a stored envelope signs; nil when it does not read.
    public static func report(of envelope: [UInt8]) -> AuditReport? {
        guard let env = try? DSSE.parse(envelope), let payload = Sodium.base64Decode(env.payload) else { return nil }
        return (try? JSONDecoder().decode(AuditStatement.self, from: Data(payload)))?.predicate
    }
}
