import Foundation
import GuardianAudit
import GuardianCore
import GuardianCrypto
import GuardianMesh
import GuardianNode
import GuardianStore
import Testing

/// `retention_days`: results older than the cut-off thinned to the latest of each commit and of
/// each week, never the project's latest; pruned ids are tombstoned so that no replica brings them
/// back.
@Suite struct RetentionTests {
    static let day = 86_400.0

    @Test func theRuleKeepsRecentResultsAndTheLatestOfEachCommitWeekAndProject() {
        let now = 1_800_000_000.0, cutoff = now - 30 * Self.day
        // 120 results over 120 days, commits cycling through five, a pull request every tenth
        var results: [RetentionRule.Candidate] = []
        for i in 0..<120 {
            results.append(.init(id: String(format: "%064x", i), commit: "c\(i % 5)", createdAt: now - Double(120 - i) * Self.day + 1,
                                 pullRequest: i % 10 == 9 ? 7 : nil))
        }
        // an hourly re-audit of one commit, 40 days ago: all but the last of these go
        for h in 0..<24 {
            results.append(.init(id: String(format: "f%063x", h), commit: "hourly", createdAt: now - 40 * Self.day + Double(h) * 3_600))
        }
        let pruned = Set(RetentionRule.prune(results, cutoff: cutoff))
        #expect(!pruned.isEmpty)
        func later(_ a: RetentionRule.Candidate, _ b: RetentionRule.Candidate) -> Bool { (a.createdAt, a.id) > (b.createdAt, b.id) }
        let byCommit = Dictionary(grouping: results) { $0.commit ?? "" }.mapValues { $0.max { later($1, $0) }!.id }
        let byWeek = Dictionary(grouping: results) { Int(($0.createdAt + 3 * Self.day) / (7 * Self.day)) }.mapValues { $0.max { later($1, $0) }!.id }
        let latest = results.max { later($1, $0) }!.id
        let latestBranch = results.filter { $0.pullRequest == nil }.max { later($1, $0) }!.id
        for r in results {
            let keeper = r.createdAt >= cutoff || r.id == latest || r.id == latestBranch || byCommit[r.commit ?? ""] == r.id
                || byWeek[Int((r.createdAt + 3 * Self.day) / (7 * Self.day))] == r.id
            #expect(pruned.contains(r.id) == !keeper, "\(r)")
        }
        // of the 24 re-audits the last stays, and one more only where a week ends among them
        let hourlyKept = (0..<24).map { String(format: "f%063x", $0) }.filter { !pruned.contains($0) }
        #expect(hourlyKept.contains(String(format: "f%063x", 23)) && hourlyKept.count <= 2, "\(hourlyKept)")
        // the same results in another order prune the same ids (every owner agrees)
        #expect(Set(RetentionRule.prune(results.reversed(), cutoff: cutoff)) == pruned)
        // nothing older than the cut-off: nothing to do
        #expect(RetentionRule.prune(results, cutoff: now - 200 * Self.day).isEmpty)
    }

    @Test func pruningRemovesRowsAndATombstonedResultIsNotStoredAgain() throws {
        let n = try TestNode.make("retention")
        let repo = "/nonexistent/retention/app.git"
        try n.registry.insert(project: ProjectRecord(id: "app", name: "app", repositoryUrl: repo, team: "default", branch: nil, scheduleSeconds: 0,
                                                     profile: "default", webhookSecret: nil, credentials: nil, createdAt: 0, updatedAt: 0,
                                                     lastAuditAt: nil, nextAuditAt: nil))
        let now = Date().timeIntervalSince1970
        // 60 results, one every 2 days, commits cycling through three
        var records: [String: ResultSync.Record] = [:]
        var batch: [(ResultRecord, [FindingRecord])] = []
        for i in 0..<60 {
            var report = AuditReport.sample(findings: 3)
            report.subject = AuditSubject(repository: repo, commit: String(format: "%040x", i % 3), revision: "HEAD", isGitRepository: true, project: "app")
            let ms = Int64((now - Double(120 - 2 * i) * Self.day) * 1000)
            let envelope = try Attestation.sign(report.forSigning(atMs: ms), key: n.identity)
            let (r, f) = ResultRecord.signed(report, envelope: envelope, project: "app", signer: n.nodeID, at: Timestamp.seconds(ms))
            batch.append((r, f))
            records[r.id] = ResultSync.Record(project: "app", createdAt: r.createdAt, envelope: envelope, signerKey: n.identity.verifyingKey.bytes)
        }
        try n.store.insert(results: batch)
        let candidates = batch.map { RetentionRule.Candidate(id: $0.0.id, commit: $0.0.commitId, createdAt: $0.0.createdAt) }
        let expected = Set(RetentionRule.prune(candidates, cutoff: now - 30 * Self.day))
        #expect(expected.count > 20)

        #expect(try n.store.prune(days: 30, now: now) == expected.count)
        let left = Set(try n.store.results(project: "app", limit: 100, before: nil).map(\.id))
        #expect(left == Set(records.keys).subtracting(expected))
        #expect(try n.store.tombstoned(Array(records.keys)) == expected)
        // a second pass finds nothing more
        #expect(try n.store.prune(days: 30, now: now) == 0)

        // a peer's copy of a pruned result (a push, a hint, anti-entropy, an import) is held, not stored
        let again = try #require(expected.first.flatMap { records[$0] })
        var rows = VerifiedRows(store: n.store)
        let key = n.identity.verifyingKey
        let outcomes = try rows.prepare([again], trusted: { _ in [key.nodeID.value: key] })
        guard case .present = try #require(outcomes.first) else { Issue.record("a pruned result was taken again: \(outcomes)"); return }
        #expect(try n.store.result(id: DSSE.recordID(again.envelope)) == nil)

        // tombstones are forgotten after their life; then a copy could come back, and is pruned again
        // a later pass prunes what has aged past the later cut-off, exactly as the rule says
        let later = now + Store.tombstoneSeconds + 1
        let remaining = candidates.filter { left.contains($0.id) }
        #expect(try n.store.prune(days: 30, now: later) == RetentionRule.prune(remaining, cutoff: later - 30 * Self.day).count)
        #expect(try n.store.tombstoned(Array(expected)).isEmpty)
    }
}
