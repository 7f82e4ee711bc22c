import Foundation
import GuardianCore

extension Checks {
    // MARK: flow

    static func arrivedByReview(_ c: CommitFacts) -> Bool {
        c.parents.count > 1 || CommitPatterns.arrivedByReview(c.summary)
    }

    static func flow(_ ctx: AuditContext, _ out: inout CheckOutput) {
        for e in ctx.events {
            switch e.kind {
            case .forcePush: out.add("flow/force-push", "forced push to \(e.ref)" + (e.actor.map { " by \($0)" } ?? ""), key: "force:" + e.id)
            case .unreviewedMerge: out.add("flow/unreviewed-merge", "pull request merged into \(e.ref) without review", key: "merge:" + e.id)
            case .branchPushed: break
            }
        }
        guard ctx.isGit else { return }
        let mainline = ctx.recentCommits.filter { ctx.firstParent.contains($0.id) }
        let eligible = mainline.filter { !$0.parents.isEmpty }
        // how a project merges shows in 20 or more commits; in fewer, a release bump or two decides it
        if eligible.count >= 20 {
            let merged = eligible.filter(arrivedByReview).count
            let share = Double(merged) / Double(eligible.count)
            if share < ctx.thresholds.minMergedShare {
                out.add("flow/direct-commits", share < ctx.thresholds.minMergedShare / 2 ? .high : .medium,
                        "\(FixedPoint.format(share * 100, digits: 0))% of the last \(eligible.count) default-branch commits arrived by merge or pull request "
                            + "(threshold \(FixedPoint.format(ctx.thresholds.minMergedShare * 100, digits: 0))%)", key: "direct")
            }
        }
        for c in ctx.reviewUnits {
            let files = c.files.count
            let lines = Int(c.insertions + c.deletions)
            // a sweep of a few lines per file (a licence header, a renamed import) is mechanical:
            // it is reviewed as one change however many files it touches
            let mechanical = c.statsComputed && files > 0 && lines <= 4 * files
            if !mechanical && !AuditContext.isBot(c)
                && (files > ctx.thresholds.maxCommitFiles || (c.statsComputed && lines > ctx.thresholds.maxCommitLines)) {
                out.add("flow/oversized-commit",
                        "commit \(c.id.prefix(10)) changes \(files) files" + (c.statsComputed ? " and \(lines) lines" : "")
                            + ": \(c.summary.prefix(80))", key: "commit:" + c.id)
            }
        }
        // a revert is a revert wherever it was committed (GitHub's Revert button puts it on a branch)
        for c in ctx.recentCommits where c.parents.count == 1 {
            if c.summary.hasPrefix("Revert \"") || c.summary.lowercased().hasPrefix("revert:") || c.summary.lowercased().hasPrefix("revert ") {
                out.add("flow/revert", "commit \(c.id.prefix(10)) is a revert: \(c.summary.prefix(80))", key: "revert:" + c.id)
            }
        }
    }
}
