import Foundation
import GuardianCore

extension Checks {
    // MARK: servant

    static func servant(_ ctx: AuditContext, _ out: inout CheckOutput) {
        fileFindings(ctx, prefix: "servant/", &out)
        if let owner = ctx.owner?.lowercased() { dropOwnersOwn(owner, paths: Set(ctx.files.map(\.path)), &out) }
        mergeUnpinnedActions(&out)
        let lowerPaths = ctx.files.map { $0.path.lowercased() }
        let pathSet = Set(lowerPaths)
        if !hasCI(lowerPaths, pathSet) { out.add("servant/no-ci", "no CI configuration (.github/workflows, .gitlab-ci.yml, Jenkinsfile …)", key: "no-ci") }
        missingLockfiles(lowerPaths, pathSet, &out)
        if !dependencyUpdaters.contains(where: pathSet.contains) {
            out.add("servant/no-dependency-updates", "no Dependabot or Renovate configuration", key: "dep-updates")
        }
    }

    /// The repository owner's own scripts and actions: a workflow that fetches the project's own
    /// script from its owner's repository runs the project's code, and the owner's actions move
    /// with the owner's releases (pinning them to a SHA protects against no one but the owner).
    static func dropOwnersOwn(_ owner: String, paths: Set<String>, _ out: inout CheckOutput) {
        out.findings.removeAll { f in
            guard f.ruleId == "servant/curl-pipe-shell", let r = f.message.range(of: " [script: ") else { return false }
            let tag = f.message[r.upperBound...].dropLast().split(separator: " ", maxSplits: 1)
            return tag.count == 2 && tag[0].lowercased() == owner && paths.contains(String(tag[1]))
        }
        out.findings.removeAll { $0.ruleId == "servant/unpinned-action" && $0.message.lowercased().hasPrefix("action '\(owner)/") }
    }

    /// Actions not pinned to a commit are one policy choice, however many places repeat it: one
    /// finding at the first place, naming the others.
    static func mergeUnpinnedActions(_ out: inout CheckOutput) {
        let unpinned = out.findings.filter { $0.ruleId == "servant/unpinned-action" }
        guard unpinned.count > 1 else { return }
        out.findings.removeAll { $0.ruleId == "servant/unpinned-action" }
        let places = unpinned.map { "\($0.file ?? "?"):\($0.line ?? 0)" }
        let first = unpinned[0]
        out.add("servant/unpinned-action", file: first.file, line: first.line,
                "\(unpinned.count) actions are not pinned to a commit SHA: \(places.prefix(8).joined(separator: ", "))\(places.count > 8 ? ", …" : "")",
                key: "unpinned-actions")
    }

    static let ciFiles: Set<String> = [".gitlab-ci.yml", "jenkinsfile", ".circleci/config.yml", "azure-pipelines.yml", "bitbucket-pipelines.yml",
                                       ".travis.yml", ".drone.yml", ".ci/run"]
    static let dependencyUpdaters = [".github/dependabot.yml", ".github/dependabot.yaml", "renovate.json", ".renovaterc", ".renovaterc.json",
                                     ".github/renovate.json", "renovate.json5"]

    static func hasCI(_ lowerPaths: [String], _ pathSet: Set<String>) -> Bool {
        lowerPaths.contains { $0.hasPrefix(".github/workflows/") && ($0.hasSuffix(".yml") || $0.hasSuffix(".yaml")) }
            || !pathSet.isDisjoint(with: ciFiles) || lowerPaths.contains { $0.hasPrefix(".buildkite/") }
    }

    static let manifests: [(String, [String])] = [
        ("package.json", ["package-lock.json", "yarn.lock", "pnpm-lock.yaml", "npm-shrinkwrap.json", "bun.lockb"]),
        ("cargo.toml", ["cargo.lock"]), ("go.mod", ["go.sum"]), ("pipfile", ["pipfile.lock"]),
        ("gemfile", ["gemfile.lock"]), ("composer.json", ["composer.lock"]),
        ("pyproject.toml", ["poetry.lock", "uv.lock", "pdm.lock", "requirements.txt"]),
    ]

    static let manifestNames = Set(manifests.map { Substring($0.0) })

    /// A dependency manifest without its lockfile beside it (a `go.mod` only where there is Go code).
    static func missingLockfiles(_ lowerPaths: [String], _ pathSet: Set<String>, _ out: inout CheckOutput) {
        // a manifest is named exactly so: find those first, then look beside each
        let named = lowerPaths.filter { p in
            let name = p.utf8.lastIndex(of: 47).map { p[p.index(after: $0)...] } ?? p[...]
            return manifestNames.contains(name)
        }
        for p in named.sorted() where !p.has("node_modules/") && !p.has("vendor/") {
            let name = p.split(separator: "/").last.map(String.init) ?? p
            let dir = p.count > name.count ? String(p.dropLast(name.count)) : ""
            for (m, locks) in manifests where name == m && !locks.contains(where: { pathSet.contains(dir + $0) }) {
                if m == "go.mod" && !lowerPaths.contains(where: { $0.hasPrefix(dir) && $0.hasSuffix(".go") }) { continue }
                out.add("servant/missing-lockfile", file: p, "\(p) has no lockfile (\(locks.joined(separator: ", ")))", key: "lock:" + p)
            }
        }
    }
}
