import Foundation
import GuardianCore

extension Checks {
    // MARK: git

    /// A subject without the " (#123)" the code host appends when it squash-merges a pull request.
    static func withoutSquashSuffix(_ s: String) -> String { CommitPatterns.withoutSquashSuffix(s) }

    static func isConventional(_ summary: String) -> Bool { CommitPatterns.isConventional(summary) }

    static func gitHygiene(_ ctx: AuditContext, _ out: inout CheckOutput) {
        for f in ctx.files {
            ignorableFile(f, &out)
            let big = f.facts.bytes > Int64(ctx.thresholds.largeFileBytes)
            let bigBinary = f.facts.isBinary && f.facts.bytes > 1_000_000
            if big || bigBinary {
                out.add("git/large-file", file: f.path,
                        "\(f.facts.isBinary ? "binary" : "large") file \(f.path) is \(f.facts.bytes / 1024) KiB", key: "large:" + f.path)
            }
        }
        branchNames(ctx, &out)
        guard ctx.isGit else { return }
        let mainline = ctx.recentCommits.filter { ctx.firstParent.contains($0.id) && $0.parents.count <= 1 }
        conventionalCommits(ctx, mainline, &out)
        subjects(ctx, mainline, &out)
    }

    /// Why a committed file should have been ignored, and how bad it is; nil for a file that belongs.
    static func ignorable(path: String) -> (String, Severity)? {
        let p = LowerPath(path)
        let lower = p.lower[...]
        let name = p.components.isEmpty ? lower : p.name
        if name.elementsEqual(".env".utf8) || (name.hasPrefix(".env.") && !name.hasSuffix(".example") && !name.hasSuffix(".sample") && !name.hasSuffix(".template")) {
            return ("environment file \(path) may hold secrets", .high)
        }
        if lower.hasPrefix("node_modules/") || lower.containsRun("/node_modules/") { return ("dependency folder node_modules is committed", .medium) }
        if PathRules.oneOf(osMetadata, name) { return ("OS metadata file \(path)", .low) }
        let artefact = name.hasSuffix(".pyc") || lower.containsRun("__pycache__/") || lower.hasPrefix(".idea/") || lower.hasPrefix(".vscode/settings")
            || lower.hasPrefix(".build/") || name.hasSuffix(".swp") || name.hasSuffix(".class") || name.hasSuffix(".o")
        return artefact ? ("build or editor artefact \(path)", .low) : nil
    }

    static let osMetadata = PathRules.words([".ds_store", "thumbs.db", "desktop.ini"])

    static func ignorableFile(_ f: AuditedFile, _ out: inout CheckOutput) {
        guard let (msg, sev) = ignorable(path: f.path) else { return }
        let lower = f.path.lowercased()
        let name = lower.split(separator: "/").last.map(String.init) ?? lower
        let pattern = lower.has("node_modules/") ? "node_modules/" : (name == ".env" ? ".env" : name)
        var o = CheckOutput.Finding(ruleId: "git/ignorable-file", severity: sev, file: f.path, line: nil, column: nil,
                                    message: msg, contentHash: Fingerprint.contentHash(ruleId: "git/ignorable-file",
                                                                                         normalizedLine: StableHash.of(f.path)), fix: nil)
        o.fix = Suggestion(ruleId: "git/ignorable-file", kind: .patch,
                           message: "run `git rm --cached \(f.path)` and add the pattern to .gitignore",
                           file: ".gitignore", patch: "--- a/.gitignore\n+++ b/.gitignore\n@@ -0,0 +1 @@\n+\(pattern)\n")
        out.findings.append(o)
    }

    static let standardBranches = ["main", "master", "develop", "trunk"]
    static let branchPrefixes = ["feature/", "feat/", "fix/", "bugfix/", "hotfix/", "release/", "chore/", "docs/", "refactor/", "test/",
                                 "ci/", "dependabot/", "renovate/"]

    static func branchNames(_ ctx: AuditContext, _ out: inout CheckOutput) {
        for e in ctx.events where e.kind == .branchPushed {
            let branch = e.ref.hasPrefix("refs/heads/") ? String(e.ref.dropFirst(11)) : e.ref
            let ok = standardBranches.contains(branch) || branchPrefixes.contains { branch.hasPrefix($0) }
            if !ok { out.add("git/branch-name", "branch '\(branch)' does not follow the naming pattern", key: "branch:" + branch) }
        }
    }

    /// Conventions count where the project adopted them: Conventional Commits when most commits
    /// follow them or a commitlint/commitizen configuration says so. Otherwise a finding is
    /// information, not a defect.
    static func conventionalCommits(_ ctx: AuditContext, _ mainline: [CommitFacts], _ out: inout CheckOutput) {
        guard mainline.count >= 5 else { return }
        let conv = mainline.filter { isConventional($0.summary) }.count
        let share = Double(conv) / Double(mainline.count)
        let threshold = ctx.thresholds.minConventionalShare
        guard share < threshold else { return }
        let adopted = conv * 2 > mainline.count || ctx.files.contains { f in
            // every name below starts with `.` or `c`: other files are passed over on their bytes
            let u = f.path.utf8
            let start = u.lastIndex(of: 47).map { u.index(after: $0) } ?? u.startIndex
            guard start < u.endIndex, [46, 67, 99].contains(u[start]) else { return false }
            let name = String(f.path[start...]).lowercased()
            return name.hasPrefix(".commitlintrc") || name.hasPrefix("commitlint.config") || name == ".czrc" || name == ".cz.toml" || name == ".cz.json"
        }
        out.add("git/non-conventional-commits", !adopted ? .info : share < threshold / 2 ? .medium : .low,
                "\(FixedPoint.format(share * 100, digits: 0))% of the last \(mainline.count) default-branch commits follow Conventional Commits "
                    + "(threshold \(FixedPoint.format(threshold * 100, digits: 0))%)"
                    + (adopted ? "" : "; the project has not adopted them"), key: "conventional")
    }

    /// Long subjects (where most subjects are short: the project keeps them so) and work-in-progress
    /// commits on the default branch.
    static func subjects(_ ctx: AuditContext, _ mainline: [CommitFacts], _ out: inout CheckOutput) {
        let subjects = mainline.map { withoutSquashSuffix($0.summary) }
        let longCount = subjects.filter { $0.count > ctx.thresholds.maxSubjectLength }.count
        let shortAdopted = !subjects.isEmpty && Double(longCount) / Double(subjects.count) <= 0.2
        for (c, subject) in zip(mainline, subjects) {
            if subject.count > ctx.thresholds.maxSubjectLength {
                out.add("git/long-subject", shortAdopted ? nil : .info,
                        "commit \(c.id.prefix(10)) subject has \(subject.count) characters: \(subject.prefix(60))…", key: "subject:" + c.id)
            }
            let l = c.summary.lowercased()
            if l.hasPrefix("wip") || l.hasPrefix("fixup!") || l.hasPrefix("squash!") || l.hasPrefix("[wip]") || l == "tmp" || l == "temp" {
                out.add("git/wip-commit", "commit \(c.id.prefix(10)) on the default branch: \(c.summary.prefix(80))", key: "wip:" + c.id)
            }
        }
    }
}
