import Dispatch
import Foundation
import GuardianStore
import GuardianAudit
import GuardianCore
import GuardianCrypto
import GuardianMesh
import Logging
import Synchronization

extension ResultSync.Record {
    /// The signer key the sending member vouches for, when it sent one.
    var vouchedKey: VerifyingKey? { signerKey.isEmpty ? nil : try? VerifyingKey(bytes: signerKey) }
}

/// One audit of one project: mirror, audit, sign, store durably. Runs off the cooperative pool.
struct AuditJob: Sendable {
    let project: ProjectRecord
    let revision: String?
    let pullRequest: PullRequestTask?
    let mirror: String
    let cacheDir: String
    let key: SigningKey
    let store: Store
    let taskId: String
    let node: Node
    let credentials: GitCredentials?
    let shards: Node.ShardRunner?
    let shardMinFiles: Int
    let policy: RepositoryPolicy
    let logger: Logger

    /// The stored result and the report it signs.
    func run() async throws -> (record: ResultRecord, report: AuditReport) { try await offPool { try self.blockingRun() } }

    /// The audit's shard analysis (a blocking call from the audit's thread into the mesh).
    private func shardAnalysis() -> (@Sendable (String, [ShardFile]) -> [[UInt8]?])? {
        guard let shards, shardMinFiles > 0 else { return nil }
        return { [project, mirror, node, taskId] commit, files in
            let box = ShardAnswerBox()
            let done = DispatchSemaphore(value: 0)
            Task {
                let (facts, runs) = await shards(project.id, commit, files, AnalysisLimits(), mirror)
                if !runs.isEmpty { await node.setShards(taskId, runs) }
                box.value = facts
                done.signal()
            }
            done.wait()
            return box.value
        }
    }

    private func blockingRun() throws -> (record: ResultRecord, report: AuditReport) {
        let progress: @Sendable (String, Double) -> Void = { [node, taskId] phase, f in
            Task { await node.setProgress(taskId, phase, f) }
        }
        progress("fetching", 0.01)
        var phases = AuditPhases()
        // The registration may have come from a peer or a bundle: this node's own policy decides,
        // and a local repository is fetched from the place the check resolved.
        let source = try policy.fetchable(project.repositoryUrl, admin: true)
        // a pull request's head is fetched from the ref the host publishes it under, into one of the mirror's own
        let prRef = pullRequest.map { "refs/guardian/pull/\($0.number)" }
        var extra: [String] = []
        if let pr = pullRequest, let prRef { extra = ["+\(pr.ref):\(prRef)"] }
        do { try Mirror.sync(url: source, to: mirror, credentials: credentials, extra: extra) } catch {
            throw fetchFailure(error)
        }
        phases.end(.fetch)
        var options = AuditOptions(target: mirror)
        options.revision = revision ?? project.branch.map { "refs/heads/\($0)" } ?? "HEAD"
        var added: [String: Set<Int>] = [:]
        if let pr = pullRequest, let prRef {
            if node.isSuperseded(taskId) { throw Superseded(number: pr.number) }
            // the announced head, and only it: a ref of the same name that points elsewhere (a fork's
            // branch name in this repository) is another commit than the request's
            guard let head = try? Mirror.resolve(in: mirror, pr.head), (try? Mirror.mergeBase(in: mirror, head, prRef)) == head else {
                throw HeadMissing(head: pr.head, ref: pr.ref)
            }
            let base = try Mirror.mergeBase(in: mirror, head, "refs/heads/\(pr.target)")
            options.revision = head
            options.baseline = base
            options.markNew = true
            added = (try? Mirror.addedLines(in: mirror, from: base, to: head)) ?? [:]
        }
        options.profile = store.effectiveProfile(project)
        options.cacheDirectory = cacheDir
        options.progress = progress
        options.shardAnalysis = shardAnalysis()
        options.shardMinFiles = shardMinFiles
        options.jobs = max(1, ProcessInfo.processInfo.activeProcessorCount)
        options.pastScores = try node.pastScores.recent(project: project.id, store: store)
        options.dismissals = Dictionary(try store.dismissals(project: project.id).map {
            ($0.fingerprint, Suppression(kind: .external, justification: $0.justification))
        }, uniquingKeysWith: { a, _ in a })
        options.learning = try teamLearning()
        options.events = ((try? store.events(project: project.id)) ?? []).compactMap { e in
            RepositoryEvent.Kind(rawValue: e.kind).map { RepositoryEvent(kind: $0, ref: e.ref, actor: e.actor, id: e.id) }
        }
        phases.end(.prepare)
        var report = try Auditor.run(options)
        phases.end(.analyse)
        report.subject.repository = project.repositoryUrl
        report.subject.project = project.id
        report.subject.pullRequest = pullRequest?.number
        if let pr = pullRequest, node.isSuperseded(taskId) { throw Superseded(number: pr.number) }
        let ms = Int64((Date().timeIntervalSince1970 * 1000).rounded(.down))
        let signed = report.forSigning(atMs: ms)
        let envelope = try Attestation.sign(signed, key: key)
        let known = try store.latestFingerprints(project: project.id)
        let (record, findings) = ResultRecord.signed(report, envelope: envelope, project: project.id, signer: key.verifyingKey.nodeID.value,
                                                     at: Timestamp.seconds(ms)) { fp in known.map { !$0.contains(fp) } ?? false }
        progress("storing", 0.98)
        let rows: [AlertOutboxRow]
        if let pr = pullRequest {
            // a request's result goes back to the request, not to the team's channels
            let r = PullRequestReport(report: report, project: project.id, projectName: project.name, number: pr.number, resultId: record.id,
                                      createdAtMs: ms, added: added, link: node.alerts.link(project: project.id))
            rows = node.pullRequestRow(project: project, report: r).map { [$0] } ?? []
        } else {
            rows = node.alerts.rows(project: project, result: record, summary: StatementSummary(report), now: Date().timeIntervalSince1970)
        }
        try store.insert(results: [(record, findings)], outbox: [record.id: rows])
        // A task says "succeeded" only with its result stored under its own project.
        guard try store.result(id: record.id)?.projectId == project.id else {
            throw GuardianError.io("result \(record.id.prefix(12)) is stored under another project; nothing was stored for \(project.id)")
        }
        phases.end(.store)
        return (record, signed)
    }

    /// What a failed fetch tells the caller. A remote fetch's failure is one sentence that does not
    /// say whether a host answered or a port was open (libgit2's own message goes to the log):
    /// else a registration would scan the node's network. The one exception is a project with
    /// credentials that the server refused: its owners need to know the credentials are wrong.
    /// A local repository's failure is reported in full (an admin registered it, under an allowed root).
    func fetchFailure(_ error: any Error) -> GuardianError {
        let detail = "\(error)"
        if case .local? = RepositoryPolicy.locate(project.repositoryUrl) {
            return .repository("cannot mirror \(project.repositoryUrl): \(detail)")
        }
        logger.warning("fetch failed", metadata: ["project": "\(project.id)", "url": "\(project.repositoryUrl)", "error": "\(detail)"])
        if let refused = error as? CredentialsRefused { return .repository("cannot mirror \(project.repositoryUrl): \(refused)") }
        return .repository("cannot mirror \(project.repositoryUrl): the repository could not be fetched (not found, unreachable,"
                           + " not a git repository, or it needs credentials)")
    }

    /// The team's own evidence first; where it has too little to judge (fewer than 5 findings of the
    /// rule), the teams that share theirs. Only rules dismissed somewhere are counted: a rule nobody
    /// dismissed gets no weight either way, and counting reads every finding of the fleet's latest
    /// results (a cost per audit that would grow with the fleet).
    private func teamLearning() throws -> [LearnedWeight] {
        let rules = try store.falsePositiveRules()
        if rules.isEmpty { return [] }
        let own = try store.learningCounts(team: project.team, rules: rules)
        var learning = own.compactMap { rule, n in
            LearnedWeight.learned(ruleId: rule, team: project.team, dismissed: n.dismissed, total: n.total)
        }
        for (rule, n) in try store.communityCounts(excluding: project.team, rules: rules).sorted(by: { $0.key < $1.key })
        where !learning.contains(where: { $0.ruleId == rule }) && max(own[rule]?.total ?? 0, own[rule]?.dismissed ?? 0) < 5 {
            if let w = LearnedWeight.communityPrior(ruleId: rule, team: project.team, dismissed: n.dismissed, total: n.total, teams: n.teams) {
                learning.append(w)
            }
        }
        return learning
    }

}

/// Carries the shard answers from the mesh's task back to the audit's thread (written once,
/// before the semaphore is signalled; read after it).
private final class ShardAnswerBox: @unchecked Sendable {
    var value: [[UInt8]?] = []
}
