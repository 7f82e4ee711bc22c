import Foundation
import GuardianCore

/// The eight checks. Each reads the context and returns findings; scoring happens in `Scorer`.
enum Checks {
    static func run(_ check: Check, _ ctx: AuditContext) -> CheckOutput {
        var out = CheckOutput()
        switch check {
        case .integrity: integrity(ctx, &out)
        case .tdd: tdd(ctx, &out)
        case .flow: flow(ctx, &out)
        case .sages: sages(ctx, &out)
        case .git: gitHygiene(ctx, &out)
        case .servant: servant(ctx, &out)
        case .strict: strict(ctx, &out)
        case .predictive: predictive(ctx, &out)
        }
        for rule in RuleCatalog.rules(for: check) {
            if rule.needsHistory && !ctx.isGit {
                out.skip(rule.id, "not a git repository: history is not available")
            } else if rule.needsEvents && ctx.events.isEmpty {
                out.skip(rule.id, "needs webhook events; none were supplied (local audit)")
            }
        }
        return out
    }

    /// Copies a file's cached raw findings of the given rule prefix.
    static func fileFindings(_ ctx: AuditContext, prefix: String, _ out: inout CheckOutput) {
        let pre = Array(prefix.utf8)
        for f in ctx.files {
            for r in f.facts.findings where r.ruleId.utf8.starts(with: pre) {
                var fix: Suggestion?
                if let o = r.fixOriginal, let rep = r.fixReplacement {
                    fix = Suggestion(ruleId: r.ruleId, kind: .replacement, message: "replace '\(o)' with '\(rep)'",
                                     file: f.path, line: Int(r.line), original: o, replacement: rep)
                }
                out.findings.append(.init(ruleId: r.ruleId, severity: r.severity, file: f.path, line: Int(r.line),
                                          column: r.column > 0 ? Int(r.column) : nil, message: r.message,
                                          contentHash: r.contentHash, fix: fix))
            }
        }
    }

    // MARK: integrity

    static func integrity(_ ctx: AuditContext, _ out: inout CheckOutput) {
        fileFindings(ctx, prefix: "integrity/", &out)
    }

    // MARK: tdd

    static func tdd(_ ctx: AuditContext, _ out: inout CheckOutput) {
        fileFindings(ctx, prefix: "tdd/", &out)
        let sources = ctx.sourceFiles, tests = ctx.testFiles
        if !sources.isEmpty && tests.isEmpty {
            out.add("tdd/no-tests", "the repository has \(sources.count) source files and no test files", key: "no-tests")
        } else if !sources.isEmpty {
            // module pairing
            let testKeys = tests.map { PathRules.matchKey($0.path) }
            var modules: [String: Int] = [:]
            for f in sources { modules[PathRules.module(of: f.path), default: 0] += Int(f.facts.codeLines) }
            for (module, lines) in modules.sorted(by: { $0.key < $1.key }) where lines >= 50 {
                let key = PathRules.matchKey(module)
                guard !key.isEmpty else { continue }
                if !testKeys.contains(where: { $0.has(key) }) {
                    out.add("tdd/untested-module", "module '\(module)' (\(lines) code lines) has no paired tests",
                            key: "module:" + module)
                }
            }
            let srcLines = sources.reduce(0) { $0 + Int($1.facts.codeLines) }
            let testLines = tests.reduce(0) { $0 + Int($1.facts.codeLines) }
            let ratio = srcLines > 0 ? Double(testLines) / Double(srcLines) : 1
            if ratio < ctx.thresholds.minTestRatio {
                out.add("tdd/low-test-ratio", ratio < ctx.thresholds.minTestRatio / 2 ? .high : .medium,
                        String(format: "test-to-source ratio %.2f is below %.2f (%d test lines, %d source lines)",
                               ratio, ctx.thresholds.minTestRatio, testLines, srcLines), key: "ratio")
            }
        }
        // coverage reports
        let reports = ctx.files.filter { $0.facts.coverableLines > 0 }
        let coverable = reports.reduce(0) { $0 + Int($1.facts.coverableLines) }
        if coverable > 0 {
            let covered = reports.reduce(0) { $0 + Int($1.facts.coveredLines) }
            let share = Double(covered) / Double(coverable)
            if share < ctx.thresholds.minCoverage {
                out.add("tdd/low-coverage", file: reports[0].path,
                        String(format: "line coverage %.1f%% is below %.0f%%", share * 100, ctx.thresholds.minCoverage * 100),
                        key: "coverage")
            }
        }
        // recent commits that change source but no test
        if ctx.isGit {
            let recent = ctx.commits.filter { $0.parents.count == 1 }.prefix(100)
            var touching = 0, untested = 0
            var memo: [String: (code: Bool, test: Bool)] = [:]
            func kind(_ p: String) -> (code: Bool, test: Bool) {
                if let k = memo[p] { return k }
                let k = (Language.detect(path: p).isCode, PathRules.isTest(p))
                memo[p] = k
                return k
            }
            for c in recent {
                let kinds = c.files.map(kind)
                guard kinds.contains(where: { $0.code && !$0.test }) else { continue }
                touching += 1
                if !kinds.contains(where: { $0.test }) { untested += 1 }
            }
            if touching >= 10 {
                let share = Double(untested) / Double(touching)
                if share > ctx.thresholds.maxUntestedCommitShare {
                    out.add("tdd/untested-changes",
                            String(format: "%d of the last %d commits that change source change no test (%.0f%%)",
                                   untested, touching, share * 100), key: "untested-changes")
                }
            }
        }
    }

    // MARK: flow

    static let prPattern = try! NSRegularExpression(pattern: "\\(#[0-9]+\\)\\s*$|^Merge (pull request|branch|remote-tracking)|See merge request|^Merged in ")

    static func arrivedByReview(_ c: CommitFacts) -> Bool {
        if c.parents.count > 1 { return true }
        let s = c.summary
        return prPattern.firstMatch(in: s, range: NSRange(s.startIndex..., in: s)) != nil
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
        let mainline = ctx.commits.filter { ctx.firstParent.contains($0.id) }
        let eligible = mainline.filter { !$0.parents.isEmpty }
        if eligible.count >= 5 {
            let merged = eligible.filter(arrivedByReview).count
            let share = Double(merged) / Double(eligible.count)
            if share < ctx.thresholds.minMergedShare {
                out.add("flow/direct-commits", share < ctx.thresholds.minMergedShare / 2 ? .high : .medium,
                        String(format: "%.0f%% of the last %d default-branch commits arrived by merge or pull request (threshold %.0f%%)",
                               share * 100, eligible.count, ctx.thresholds.minMergedShare * 100), key: "direct")
            }
        }
        for c in ctx.commits where !c.parents.isEmpty && c.parents.count == 1 {
            let files = c.files.count
            let lines = Int(c.insertions + c.deletions)
            if files > ctx.thresholds.maxCommitFiles || (c.statsComputed && lines > ctx.thresholds.maxCommitLines) {
                out.add("flow/oversized-commit",
                        "commit \(c.id.prefix(10)) changes \(files) files" + (c.statsComputed ? " and \(lines) lines" : "")
                            + ": \(c.summary.prefix(80))", key: "commit:" + c.id)
            }
            if c.summary.hasPrefix("Revert \"") || c.summary.lowercased().hasPrefix("revert:") || c.summary.lowercased().hasPrefix("revert ") {
                out.add("flow/revert", "commit \(c.id.prefix(10)) is a revert: \(c.summary.prefix(80))", key: "revert:" + c.id)
            }
        }
    }

    // MARK: sages

    static func sages(_ ctx: AuditContext, _ out: inout CheckOutput) {
        fileFindings(ctx, prefix: "sages/", &out)
        let top = ctx.files.filter { !$0.path.has("/") || $0.path.lowercased().hasPrefix(".github/") || $0.path.lowercased().hasPrefix("docs/") }
        func find(_ stems: [String]) -> AuditedFile? {
            top.first { f in
                let name = f.path.lowercased().split(separator: "/").last.map(String.init) ?? ""
                let stem = name.split(separator: ".").first.map(String.init) ?? name
                return stems.contains(stem)
            }
        }
        if let readme = find(["readme"]) {
            if readme.facts.words < 150 || (readme.facts.headings < 2 && readme.facts.language == .markdown) {
                out.add("sages/readme-thin", file: readme.path,
                        "README has \(readme.facts.words) words and \(readme.facts.headings) sections", key: "readme-thin")
            }
        } else {
            out.add("sages/readme-missing", "no README at the repository root", key: "readme")
        }
        if find(["license", "licence", "copying"]) == nil { out.add("sages/missing-license", "no LICENSE file", key: "license") }
        if find(["contributing"]) == nil { out.add("sages/missing-contributing", "no CONTRIBUTING guide", key: "contributing") }
        if find(["security"]) == nil { out.add("sages/missing-security", "no SECURITY policy", key: "security") }
        if find(["changelog", "changes", "history", "news", "releases"]) == nil {
            out.add("sages/missing-changelog", "no CHANGELOG", key: "changelog")
        }
        if !ctx.files.contains(where: { let l = $0.path.lowercased(); return l.hasPrefix("docs/") || l.hasPrefix("doc/") || l.hasPrefix("documentation/") || l.has(".docc/") }) {
            out.add("sages/missing-docs", "no docs/ folder or DocC catalog", key: "docs")
        }
        if ctx.isGit {
            let recent = ctx.commits.prefix(200).filter { $0.parents.count <= 1 }
            if recent.count >= 10 {
                let refs = recent.filter { referencesIssue($0.message) }.count
                let share = Double(refs) / Double(recent.count)
                if share < 0.5 {
                    out.add("sages/commits-without-issue",
                            String(format: "%.0f%% of the last %d commits reference an issue or pull request", share * 100, recent.count),
                            key: "issue-refs")
                }
            }
        }
    }

    static let issuePattern = try! NSRegularExpression(pattern: "#[0-9]+|\\b[A-Z][A-Z0-9]+-[0-9]+\\b|/issues/[0-9]+|/pull/[0-9]+")

    static func referencesIssue(_ message: String) -> Bool {
        issuePattern.firstMatch(in: message, range: NSRange(message.startIndex..., in: message)) != nil
    }

    // MARK: git

    static let conventional = try! NSRegularExpression(
        pattern: "^(feat|fix|docs|style|refactor|perf|test|tests|build|ci|chore|revert)(\\([^)]+\\))?!?: \\S")

    static func isConventional(_ summary: String) -> Bool {
        conventional.firstMatch(in: summary, range: NSRange(summary.startIndex..., in: summary)) != nil
    }

    static func gitHygiene(_ ctx: AuditContext, _ out: inout CheckOutput) {
        for f in ctx.files {
            let lower = f.path.lowercased()
            let name = lower.split(separator: "/").last.map(String.init) ?? lower
            var why: (String, Severity)?
            if name == ".env" || (name.hasPrefix(".env.") && !name.hasSuffix(".example") && !name.hasSuffix(".sample") && !name.hasSuffix(".template")) {
                why = ("environment file \(f.path) may hold secrets", .high)
            } else if lower.hasPrefix("node_modules/") || lower.has("/node_modules/") {
                if !ctx.files.contains(where: { $0.path == f.path }) { continue }
                why = ("dependency folder node_modules is committed", .medium)
            } else if name == ".ds_store" || name == "thumbs.db" || name == "desktop.ini" {
                why = ("OS metadata file \(f.path)", .low)
            } else if name.hasSuffix(".pyc") || lower.has("__pycache__/") || lower.hasPrefix(".idea/") || lower.hasPrefix(".vscode/settings")
                        || lower.hasPrefix(".build/") || name.hasSuffix(".swp") || name.hasSuffix(".class") || name.hasSuffix(".o") {
                why = ("build or editor artefact \(f.path)", .low)
            }
            if let (msg, sev) = why {
                let pattern = lower.has("node_modules/") ? "node_modules/" : (name == ".env" ? ".env" : name)
                var o = CheckOutput.Finding(ruleId: "git/ignorable-file", severity: sev, file: f.path, line: nil, column: nil,
                                            message: msg, contentHash: Fingerprint.contentHash(ruleId: "git/ignorable-file",
                                                                                                 normalizedLine: StableHash.of(f.path)), fix: nil)
                o.fix = Suggestion(ruleId: "git/ignorable-file", kind: .patch,
                                   message: "run `git rm --cached \(f.path)` and add the pattern to .gitignore",
                                   file: ".gitignore", patch: "--- a/.gitignore\n+++ b/.gitignore\n@@ -0,0 +1 @@\n+\(pattern)\n")
                out.findings.append(o)
            }
            let big = f.facts.bytes > Int64(ctx.thresholds.largeFileBytes)
            let bigBinary = f.facts.isBinary && f.facts.bytes > 1_000_000
            if big || bigBinary {
                out.add("git/large-file", file: f.path,
                        "\(f.facts.isBinary ? "binary" : "large") file \(f.path) is \(f.facts.bytes / 1024) KiB", key: "large:" + f.path)
            }
        }
        for e in ctx.events where e.kind == .branchPushed {
            let branch = e.ref.hasPrefix("refs/heads/") ? String(e.ref.dropFirst(11)) : e.ref
            let ok = ["main", "master", "develop", "trunk"].contains(branch)
                || ["feature/", "feat/", "fix/", "bugfix/", "hotfix/", "release/", "chore/", "docs/", "refactor/", "test/", "ci/", "dependabot/", "renovate/"].contains { branch.hasPrefix($0) }
            if !ok { out.add("git/branch-name", "branch '\(branch)' does not follow the naming pattern", key: "branch:" + branch) }
        }
        guard ctx.isGit else { return }
        let mainline = ctx.commits.filter { ctx.firstParent.contains($0.id) && $0.parents.count <= 1 }
        if mainline.count >= 5 {
            let conv = mainline.filter { isConventional($0.summary) }.count
            let share = Double(conv) / Double(mainline.count)
            if share < ctx.thresholds.minConventionalShare {
                out.add("git/non-conventional-commits", share < ctx.thresholds.minConventionalShare / 2 ? .medium : .low,
                        String(format: "%.0f%% of the last %d default-branch commits follow Conventional Commits (threshold %.0f%%)",
                               share * 100, mainline.count, ctx.thresholds.minConventionalShare * 100), key: "conventional")
            }
        }
        for c in mainline {
            if c.summary.count > ctx.thresholds.maxSubjectLength {
                out.add("git/long-subject", "commit \(c.id.prefix(10)) subject has \(c.summary.count) characters: \(c.summary.prefix(60))…",
                        key: "subject:" + c.id)
            }
            let l = c.summary.lowercased()
            if l.hasPrefix("wip") || l.hasPrefix("fixup!") || l.hasPrefix("squash!") || l.hasPrefix("[wip]") || l == "tmp" || l == "temp" {
                out.add("git/wip-commit", "commit \(c.id.prefix(10)) on the default branch: \(c.summary.prefix(80))", key: "wip:" + c.id)
            }
        }
    }

    // MARK: servant

    static func servant(_ ctx: AuditContext, _ out: inout CheckOutput) {
        fileFindings(ctx, prefix: "servant/", &out)
        let paths = ctx.files.map { $0.path.lowercased() }
        let pathSet = Set(paths)
        let ci = paths.contains { $0.hasPrefix(".github/workflows/") && ($0.hasSuffix(".yml") || $0.hasSuffix(".yaml")) }
            || pathSet.contains(".gitlab-ci.yml") || pathSet.contains("jenkinsfile") || pathSet.contains(".circleci/config.yml")
            || pathSet.contains("azure-pipelines.yml") || pathSet.contains("bitbucket-pipelines.yml") || pathSet.contains(".travis.yml")
            || paths.contains { $0.hasPrefix(".buildkite/") } || pathSet.contains(".drone.yml") || pathSet.contains(".ci/run")
        if !ci { out.add("servant/no-ci", "no CI configuration (.github/workflows, .gitlab-ci.yml, Jenkinsfile …)", key: "no-ci") }
        let manifests: [(String, [String])] = [
            ("package.json", ["package-lock.json", "yarn.lock", "pnpm-lock.yaml", "npm-shrinkwrap.json", "bun.lockb"]),
            ("cargo.toml", ["cargo.lock"]), ("go.mod", ["go.sum"]), ("pipfile", ["pipfile.lock"]),
            ("gemfile", ["gemfile.lock"]), ("composer.json", ["composer.lock"]),
            ("pyproject.toml", ["poetry.lock", "uv.lock", "pdm.lock", "requirements.txt"]),
        ]
        for p in paths.sorted() where !p.has("node_modules/") && !p.has("vendor/") {
            let name = p.split(separator: "/").last.map(String.init) ?? p
            let dir = p.count > name.count ? String(p.dropLast(name.count)) : ""
            for (m, locks) in manifests where name == m {
                if !locks.contains(where: { pathSet.contains(dir + $0) }) {
                    if m == "cargo.toml" && (ctx.files.first { $0.path.lowercased() == p }.map { _ in false } ?? false) { continue }
                    if m == "go.mod" && !paths.contains(where: { $0.hasPrefix(dir) && $0.hasSuffix(".go") }) { continue }
                    out.add("servant/missing-lockfile", file: p, "\(p) has no lockfile (\(locks.joined(separator: ", ")))", key: "lock:" + p)
                }
            }
        }
        let depUpdates = pathSet.contains(".github/dependabot.yml") || pathSet.contains(".github/dependabot.yaml")
            || pathSet.contains("renovate.json") || pathSet.contains(".renovaterc") || pathSet.contains(".renovaterc.json")
            || pathSet.contains(".github/renovate.json") || pathSet.contains("renovate.json5")
        if !depUpdates { out.add("servant/no-dependency-updates", "no Dependabot or Renovate configuration", key: "dep-updates") }
    }

    // MARK: strict

    static func strict(_ ctx: AuditContext, _ out: inout CheckOutput) {
        fileFindings(ctx, prefix: "strict/", &out)
        let t = ctx.thresholds
        for f in ctx.files where f.facts.language.isCode && f.facts.skipReason == nil {
            if !f.facts.isTest && Int(f.facts.codeLines) > t.maxFileLines {
                out.findings.append(.init(ruleId: "strict/file-length", severity: Int(f.facts.codeLines) > 2 * t.maxFileLines ? .medium : .low,
                                          file: f.path, line: nil, column: nil,
                                          message: "\(f.facts.codeLines) code lines (threshold \(t.maxFileLines))",
                                          contentHash: Fingerprint.contentHash(ruleId: "strict/file-length", normalizedLine: StableHash.of(f.path))))
            }
            guard !f.facts.isTest else { continue }
            for fn in f.facts.functions {
                func add(_ rule: String, _ sev: Severity, _ msg: String) {
                    out.findings.append(.init(ruleId: rule, severity: sev, file: f.path, line: Int(fn.startLine), column: nil,
                                              message: msg, contentHash: Fingerprint.contentHash(ruleId: rule, normalizedLine: fn.signatureHash)))
                }
                if Int(fn.ccn) > t.maxCyclomatic {
                    add("strict/cyclomatic-complexity", Int(fn.ccn) > 2 * t.maxCyclomatic ? .high : .medium,
                        "function '\(fn.name)' has cyclomatic complexity \(fn.ccn) (threshold \(t.maxCyclomatic))")
                }
                if Int(fn.length) > t.maxFunctionLines {
                    add("strict/function-length", Int(fn.length) > 2 * t.maxFunctionLines ? .medium : .low,
                        "function '\(fn.name)' is \(fn.length) lines long (threshold \(t.maxFunctionLines))")
                }
                if Int(fn.params) > t.maxParameters {
                    add("strict/parameter-count", .low, "function '\(fn.name)' has \(fn.params) parameters (threshold \(t.maxParameters))")
                }
                if Int(fn.maxNesting) > t.maxNesting {
                    add("strict/nesting-depth", .medium, "function '\(fn.name)' nests \(fn.maxNesting) levels deep (threshold \(t.maxNesting))")
                }
            }
        }
        Duplicates.find(ctx, window: t.duplicateMinLines, &out)
    }

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
            authorsTouches[c.authorEmail.lowercased(), default: 0] += 1
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
            guard let f = existing[p], f.facts.language.isCode, !f.facts.isTest else { continue }
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
