import Foundation
import GuardianCore

extension Checks {
    // MARK: predictive

    static func predictive(_ ctx: AuditContext, _ out: inout CheckOutput) {
        trends(ctx, &out)
        guard ctx.isGit else { return }
        let existing = Dictionary(ctx.files.map { ($0.path, $0) }, uniquingKeysWith: { a, _ in a })
        // churn over the last 90 days of history before the audited commit, or the last 300 commits
        let horizon = ctx.headTime - 90 * 86_400
        let recent = ctx.commits.prefix(300).filter { $0.time >= horizon && $0.parents.count <= 1 && !$0.files.isEmpty && $0.parents.count == 1 }
        var churn: [String: Int] = [:]
        var fixes: [String: Int] = [:]
        var authorsTouches: [String: Int] = [:]
        for c in recent {
            let isFix = isFixCommit(c.summary)
            // automation is no one's knowledge
            if !AuditContext.isBot(c) { authorsTouches[c.authorEmail.lowercased(), default: 0] += 1 }
            for p in c.files where existing[p] != nil {
                churn[p, default: 0] += 1
                if isFix { fixes[p, default: 0] += 1 }
            }
        }
        let confidence = min(1.0, Double(recent.count) / 50.0)
        if recent.count < 10 {
            out.insights.append(Insight(kind: "history", message: "only \(recent.count) recent commits: hotspot and ownership predictions need more history",
                                        confidence: confidence))
            return
        }
        var hotspots: [(path: String, score: Int, churn: Int, ccn: Int)] = []
        for (p, c) in churn where c >= 3 {
            // benchmarks, examples, scripts and tools are not where the product's defects are
            guard let f = existing[p], f.facts.language.isCode, !f.facts.isTest, !PathRules.isOutsideAPI(p) else { continue }
            let complexity = f.facts.functions.reduce(0) { $0 + Int($1.ccn) }
            guard complexity > 0 else { continue }
            hotspots.append((p, c * complexity, c, complexity))
        }
        hotspots.sort { $0.score != $1.score ? $0.score > $1.score : $0.path < $1.path }
        for (rank, h) in hotspots.prefix(10).enumerated() {
            out.add("predictive/hotspot", rank < 3 ? .medium : .low, file: h.path,
                    "hotspot: \(h.churn) recent commits × total complexity \(h.ccn)", key: "hotspot:" + h.path)
            if rank < 3 {
                out.insights.append(Insight(kind: "hotspot", message: "\(h.path) is the #\(rank + 1) defect hotspot (\(h.churn) changes, complexity \(h.ccn))",
                                            confidence: confidence, file: h.path))
            }
        }
        for (p, n) in fixes.sorted(by: { $0.key < $1.key }) where n >= 3 {
            out.add("predictive/fix-prone-file", file: p, "\(p) was touched by \(n) fix commits recently", key: "fixes:" + p)
        }
        // bus factor: fewest authors covering more than half of recent commits
        let total = authorsTouches.values.reduce(0, +)
        var covered = 0, bus = 0
        for n in authorsTouches.values.sorted(by: >) {
            covered += n; bus += 1
            if covered * 2 > total { break }
        }
        if bus <= 1 && authorsTouches.count >= 1 && total >= 20 {
            out.add("predictive/bus-factor", "bus factor \(bus): one author made \(authorsTouches.values.max() ?? 0) of the last \(total) commits",
                    key: "bus-factor")
        }
        out.insights.append(Insight(kind: "ownership", message: "bus factor \(bus) over \(authorsTouches.count) recent authors", confidence: confidence))
    }

    static func isFixCommit(_ summary: String) -> Bool {
        let l = summary.lowercased()
        return l.hasPrefix("fix") || l.has(" fix ") || l.has("bug") || l.has("hotfix") || l.has("crash") || l.has("regression")
    }

    /// Linear regression of each check's past scores; a decline with confidence ≥ 0.5 is reported.
    static func trends(_ ctx: AuditContext, _ out: inout CheckOutput) {
        if ctx.pastScores.isEmpty {
            out.skip("predictive/declining-trend", "no past audits supplied (trends come from the agent's stored results)")
            return
        }
        for check in Check.allCases {
            let pts = ctx.pastScores.filter { $0.check == check }.sorted { $0.time < $1.time }
            guard pts.count >= 3 else { continue }
            let xs = pts.indices.map(Double.init), ys = pts.map { Double($0.score) }
            let n = Double(pts.count)
            let mx = xs.reduce(0, +) / n, my = ys.reduce(0, +) / n
            var sxy = 0.0, sxx = 0.0, syy = 0.0
            for (x, y) in zip(xs, ys) { sxy += (x - mx) * (y - my); sxx += (x - mx) * (x - mx); syy += (y - my) * (y - my) }
            guard sxx > 0 else { continue }
            let slope = sxy / sxx
            let r2 = syy > 0 ? (sxy * sxy) / (sxx * syy) : 0
            let confidence = min(1, n / 10) * r2
            let next = max(0, min(100, my + slope * (n - mx)))
            out.insights.append(Insight(kind: "trend", message: String(format: "%@ score trend %+.1f per audit; next audit ≈ %.0f", check.rawValue, slope, next),
                                        confidence: (confidence * 100).rounded() / 100, check: check))
            if slope < -1 && confidence >= 0.5 {
                out.add("predictive/declining-trend", String(format: "%@ score is declining by %.1f points per audit (confidence %.2f)", check.rawValue, -slope, confidence),
                        key: "trend:" + check.rawValue)
            }
        }
    }
}
