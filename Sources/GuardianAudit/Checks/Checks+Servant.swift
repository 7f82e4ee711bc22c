import Foundation
import GuardianCore

extension Checks {
    // MARK: servant

    static func servant(_ ctx: AuditContext, _ out: inout CheckOutput) {
        fileFindings(ctx, prefix: "servant/", &out)
        // a workflow that fetches the project's own script from its owner's repository runs the
        // project's code
        let paths = Set(ctx.files.map(\.path))
        if let owner = ctx.owner?.lowercased() {
            out.findings.removeAll { f in
                guard f.ruleId == "servant/curl-pipe-shell", let r = f.message.range(of: " [script: ") else { return false }
                let tag = f.message[r.upperBound...].dropLast().split(separator: " ", maxSplits: 1)
                return tag.count == 2 && tag[0].lowercased() == owner && paths.contains(String(tag[1]))
            }
        }
        // the repository's own owner's actions move with its own releases: pinning them to a SHA
        // protects against no one but the owner
        if let owner = ctx.owner?.lowercased() {
            out.findings.removeAll { $0.ruleId == "servant/unpinned-action" && $0.message.lowercased().hasPrefix("action '\(owner)/") }
        }
        // actions not pinned to a commit are one policy choice, however many places repeat it:
        // one finding at the first place, naming the others
        let unpinned = out.findings.filter { $0.ruleId == "servant/unpinned-action" }
        if unpinned.count > 1 {
            out.findings.removeAll { $0.ruleId == "servant/unpinned-action" }
            let places = unpinned.map { "\($0.file ?? "?"):\($0.line ?? 0)" }
            let first = unpinned[0]
            out.add("servant/unpinned-action", file: first.file, line: first.line,
                    "\(unpinned.count) actions are not pinned to a commit SHA: \(places.prefix(8).joined(separator: ", "))\(places.count > 8 ? ", …" : "")",
                    key: "unpinned-actions")
        }
        let lowerPaths = ctx.files.map { $0.path.lowercased() }
        let pathSet = Set(lowerPaths)
        let ci = lowerPaths.contains { $0.hasPrefix(".github/workflows/") && ($0.hasSuffix(".yml") || $0.hasSuffix(".yaml")) }
            || pathSet.contains(".gitlab-ci.yml") || pathSet.contains("jenkinsfile") || pathSet.contains(".circleci/config.yml")
            || pathSet.contains("azure-pipelines.yml") || pathSet.contains("bitbucket-pipelines.yml") || pathSet.contains(".travis.yml")
            || lowerPaths.contains { $0.hasPrefix(".buildkite/") } || pathSet.contains(".drone.yml") || pathSet.contains(".ci/run")
        if !ci { out.add("servant/no-ci", "no CI configuration (.github/workflows, .gitlab-ci.yml, Jenkinsfile …)", key: "no-ci") }
        let manifests: [(String, [String])] = [
            ("package.json", ["package-lock.json", "yarn.lock", "pnpm-lock.yaml", "npm-shrinkwrap.json", "bun.lockb"]),
            ("cargo.toml", ["cargo.lock"]), ("go.mod", ["go.sum"]), ("pipfile", ["pipfile.lock"]),
            ("gemfile", ["gemfile.lock"]), ("composer.json", ["composer.lock"]),
            ("pyproject.toml", ["poetry.lock", "uv.lock", "pdm.lock", "requirements.txt"]),
        ]
        for p in lowerPaths.sorted() where !p.has("node_modules/") && !p.has("vendor/") {
            let name = p.split(separator: "/").last.map(String.init) ?? p
            let dir = p.count > name.count ? String(p.dropLast(name.count)) : ""
            for (m, locks) in manifests where name == m {
                if !locks.contains(where: { pathSet.contains(dir + $0) }) {
                    if m == "go.mod" && !lowerPaths.contains(where: { $0.hasPrefix(dir) && $0.hasSuffix(".go") }) { continue }
                    out.add("servant/missing-lockfile", file: p, "\(p) has no lockfile (\(locks.joined(separator: ", ")))", key: "lock:" + p)
                }
            }
        }
        let depUpdates = pathSet.contains(".github/dependabot.yml") || pathSet.contains(".github/dependabot.yaml")
            || pathSet.contains("renovate.json") || pathSet.contains(".renovaterc") || pathSet.contains(".renovaterc.json")
            || pathSet.contains(".github/renovate.json") || pathSet.contains("renovate.json5")
        if !depUpdates { out.add("servant/no-dependency-updates", "no Dependabot or Renovate configuration", key: "dep-updates") }
    }
}
