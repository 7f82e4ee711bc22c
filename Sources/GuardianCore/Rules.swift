/// Whether a rule's penalty is normalised by code size (`code`) or counted as is (`repository`).
public enum RuleScope: String, Codable, Sendable { case code, repository }

/// A rule of a check. The catalog feeds SARIF `tool.driver.rules` and docs/checks.md.
public struct Rule: Sendable, Hashable {
    public var id: String
    public var check: Check
    public var name: String
    public var summary: String
    public var help: String
    public var severity: Severity
    public var scope: RuleScope
    /// Needs git history; skipped for plain directories.
    public var needsHistory: Bool
    /// Needs webhook events (agent only); skipped for local audits.
    public var needsEvents: Bool

    init(_ id: String, _ check: Check, _ name: String, _ severity: Severity, _ scope: RuleScope,
         history: Bool = false, events: Bool = false, _ summary: String, help: String) {
        self.id = id; self.check = check; self.name = name; self.summary = summary; self.help = help
        self.severity = severity; self.scope = scope; self.needsHistory = history; self.needsEvents = events
    }
}

public enum RuleCatalog {
    public static let all: [Rule] = [
        // integrity
        Rule("integrity/placeholder-marker", .integrity, "PlaceholderMarker", .info, .code,
             "Placeholder marker (TODO, FIXME, HACK, XXX, 仮実装, 後で) in a comment of non-test code.",
             help: "Finish the work or track it in the issue tracker and remove the marker."),
        Rule("integrity/stub-body", .integrity, "StubBody", .high, .code,
             "Function body is a stub (not implemented, todo!(), pass-only, TODO() …).",
             help: "Implement the function, or remove it until it is needed."),
        Rule("integrity/empty-returning-body", .integrity, "EmptyReturningBody", .high, .code,
             "Function declares a return value but its body is empty.",
             help: "Implement the function body."),
        Rule("integrity/constant-return", .integrity, "ConstantReturn", .medium, .code,
             "Function whose name promises work only returns a constant.",
             help: "Implement the logic the name promises, or rename the function."),
        Rule("integrity/test-double-in-production", .integrity, "TestDoubleInProduction", .high, .code,
             "A Mock/Fake/Stub type is referenced from production code.",
             help: "Move test doubles into test targets and inject real implementations in production."),
        // tdd
        Rule("tdd/no-tests", .tdd, "NoTests", .critical, .repository,
             "The repository has source code but no test files.",
             help: "Add a test target and tests for the main modules."),
        Rule("tdd/untested-module", .tdd, "UntestedModule", .medium, .repository,
             "A source module has no paired test files.",
             help: "Add tests named after the module (e.g. Tests/<Module>Tests, <name>_test.go, test_<name>.py)."),
        Rule("tdd/low-test-ratio", .tdd, "LowTestRatio", .medium, .repository,
             "Test code is small relative to source code.",
             help: "Raise the test-to-source line ratio above the profile's threshold."),
        Rule("tdd/test-without-assertion", .tdd, "TestWithoutAssertion", .medium, .code,
             "A test has no assertion.",
             help: "Assert on the behaviour under test; a test that cannot fail proves nothing."),
        Rule("tdd/skipped-test", .tdd, "SkippedTest", .low, .code,
             "A test is skipped or disabled.",
             help: "Fix and re-enable the test, or delete it with a reason in the commit message."),
        Rule("tdd/untested-changes", .tdd, "UntestedChanges", .medium, .repository, history: true,
             "Many recent commits change source code without touching any test.",
             help: "Change tests together with the code they cover."),
        Rule("tdd/low-coverage", .tdd, "LowCoverage", .high, .repository,
             "The committed coverage report (LCOV or Cobertura) is below the profile's threshold.",
             help: "Cover the untested lines listed in the coverage report."),
        // flow
        Rule("flow/direct-commits", .flow, "DirectCommits", .medium, .repository, history: true,
             "Too few default-branch commits arrived through a merge or pull request.",
             help: "Protect the default branch and merge changes through reviewed pull requests."),
        Rule("flow/oversized-commit", .flow, "OversizedCommit", .low, .repository, history: true,
             "A commit changes too many files or lines to review well.",
             help: "Split large changes into reviewable commits."),
        Rule("flow/revert", .flow, "Revert", .info, .repository, history: true,
             "A commit reverts another one.",
             help: "Frequent reverts point to changes merged before they were ready."),
        Rule("flow/force-push", .flow, "ForcePush", .high, .repository, events: true,
             "A forced push rewrote the default branch (seen by a webhook).",
             help: "Forbid forced pushes to protected branches."),
        Rule("flow/unreviewed-merge", .flow, "UnreviewedMerge", .high, .repository, events: true,
             "A pull request was merged without an approving review (seen by a webhook).",
             help: "Require at least one approving review before merging."),
        // sages
        Rule("sages/readme-missing", .sages, "ReadmeMissing", .high, .repository,
             "The repository has no README.", help: "Add a README that says what the project is and how to use it."),
        Rule("sages/readme-thin", .sages, "ReadmeThin", .medium, .repository,
             "The README has little substance (few words or no sections).",
             help: "Describe purpose, installation, usage and how to contribute."),
        Rule("sages/missing-license", .sages, "MissingLicense", .high, .repository,
             "No LICENSE file.", help: "Add a LICENSE file."),
        Rule("sages/missing-contributing", .sages, "MissingContributing", .low, .repository,
             "No CONTRIBUTING guide.", help: "Add CONTRIBUTING.md describing how to propose changes."),
        // info: an organisation-wide policy on the code host (github.com/ORG/.github) covers every
        // repository of the organisation and cannot be seen in the repository
        Rule("sages/missing-security", .sages, "MissingSecurityPolicy", .info, .repository,
             "No SECURITY policy.", help: "Add SECURITY.md saying how to report vulnerabilities."),
        // info: many projects keep release notes on the code host's releases, which the repository does not hold
        Rule("sages/missing-changelog", .sages, "MissingChangelog", .info, .repository,
             "No CHANGELOG.", help: "Keep a CHANGELOG.md or release notes."),
        Rule("sages/missing-docs", .sages, "MissingDocs", .low, .repository,
             "No documentation folder.", help: "Add a docs/ folder for architecture and operations."),
        // info: as in SonarQube's default profile, where the rule (S1176) is off; a team that wants it
        // re-rates it in .guardian.yml
        Rule("sages/undocumented-public-api", .sages, "UndocumentedPublicAPI", .info, .code,
             "A public declaration has no documentation comment.",
             help: "Document public declarations (///, /** */, docstrings, Go doc comments)."),
        Rule("sages/commits-without-issue", .sages, "CommitsWithoutIssue", .low, .repository, history: true,
             "Few commits reference an issue or pull request.",
             help: "Reference the issue (#123, PROJ-123) in commit messages."),
        // git
        Rule("git/non-conventional-commits", .git, "NonConventionalCommits", .medium, .repository, history: true,
             "Share of commits following Conventional Commits is below the threshold.",
             help: "Write subjects as `type(scope): summary` (feat, fix, docs, refactor, test, chore …)."),
        Rule("git/long-subject", .git, "LongSubject", .low, .repository, history: true,
             "A commit subject is longer than 72 characters.", help: "Keep subjects short; put details in the body."),
        Rule("git/wip-commit", .git, "WipCommit", .medium, .repository, history: true,
             "A WIP, fixup! or squash! commit is on the default branch.",
             help: "Squash work-in-progress commits before merging."),
        Rule("git/large-file", .git, "LargeFile", .medium, .code,
             "A large or binary file is committed.", help: "Store large artefacts with Git LFS or outside the repository."),
        Rule("git/ignorable-file", .git, "IgnorableFile", .medium, .code,
             "A file that belongs in .gitignore is committed (.env, node_modules, .DS_Store …).",
             help: "Remove it from the index (git rm --cached) and add it to .gitignore."),
        Rule("git/branch-name", .git, "BranchName", .low, .repository, events: true,
             "A pushed branch does not follow the naming pattern (seen by a webhook).",
             help: "Name branches like feature/…, fix/…, chore/…."),
        // servant
        Rule("servant/no-ci", .servant, "NoCI", .high, .repository,
             "No CI configuration found.", help: "Add a CI workflow that builds and tests every change."),
        Rule("servant/unpinned-action", .servant, "UnpinnedAction", .medium, .code,
             "A CI action is referenced by tag or branch, not by commit.",
             help: "Pin actions to a full commit SHA (uses: owner/repo@<40-hex> # vX)."),
        Rule("servant/broad-permissions", .servant, "BroadPermissions", .medium, .code,
             "A workflow has no `permissions:` block or grants write-all.",
             help: "Declare least-privilege `permissions:` at the top of each workflow."),
        Rule("servant/missing-lockfile", .servant, "MissingLockfile", .medium, .repository,
             "A dependency manifest has no lockfile beside it.",
             help: "Commit the lockfile so builds are reproducible."),
        Rule("servant/no-dependency-updates", .servant, "NoDependencyUpdates", .low, .repository,
             "No dependency-update configuration (Dependabot, Renovate).",
             help: "Add .github/dependabot.yml or renovate.json."),
        Rule("servant/unpinned-base-image", .servant, "UnpinnedBaseImage", .medium, .code,
             "A container base image uses `latest` or no tag.",
             help: "Pin base images to a version and digest (FROM image:1.2@sha256:…)."),
        Rule("servant/curl-pipe-shell", .servant, "CurlPipeShell", .high, .code,
             "A script pipes a download straight into a shell.",
             help: "Download, verify a checksum or signature, then run."),
        // strict
        Rule("strict/cyclomatic-complexity", .strict, "CyclomaticComplexity", .info, .code,
             "Function cyclomatic complexity exceeds the threshold.", help: "Split the function; extract decisions."),
        Rule("strict/function-length", .strict, "FunctionLength", .info, .code,
             "Function is longer than the threshold.", help: "Extract smaller functions."),
        Rule("strict/parameter-count", .strict, "ParameterCount", .info, .code,
             "Function has too many parameters.", help: "Group parameters into a type."),
        Rule("strict/nesting-depth", .strict, "NestingDepth", .medium, .code,
             "Function nests blocks too deeply.", help: "Use early returns (guard) and extract nested blocks."),
        Rule("strict/file-length", .strict, "FileLength", .low, .code,
             "File is longer than the threshold.", help: "Split the file by responsibility."),
        Rule("strict/duplicated-block", .strict, "DuplicatedBlock", .info, .code,
             "A block of code is duplicated elsewhere.", help: "Extract the shared code into one function."),
        Rule("strict/dangerous-call", .strict, "DangerousCall", .high, .code,
             "A dangerous call (eval, exec, os.system, shell=True, try!, strcpy …).",
             help: "Use the safe alternative named in the message."),
        Rule("strict/hardcoded-secret", .strict, "HardcodedSecret", .critical, .code,
             "A credential or key appears to be hard-coded.",
             help: "Revoke the secret, remove it from history, and load it from the environment or a vault."),
        // predictive
        Rule("predictive/hotspot", .predictive, "Hotspot", .medium, .code, history: true,
             "A file with both high recent churn and high complexity.",
             help: "Refactor and add tests to hotspots first: most defects are found there."),
        Rule("predictive/bus-factor", .predictive, "BusFactor", .medium, .repository, history: true,
             "Knowledge is concentrated: few authors made most recent changes.",
             help: "Spread ownership with reviews and pairing."),
        Rule("predictive/fix-prone-file", .predictive, "FixProneFile", .low, .code, history: true,
             "A file is touched by many fix commits.", help: "Review the design of files that keep needing fixes."),
        Rule("predictive/declining-trend", .predictive, "DecliningTrend", .medium, .repository,
             "A check's score declines over past audits.", help: "Act on the check before it fails."),
    ]

    public static let byId: [String: Rule] = Dictionary(uniqueKeysWithValues: all.map { ($0.id, $0) })

    public static func rule(_ id: String) -> Rule {
        guard let r = byId[id] else { preconditionFailure("rule \(id) is not in the catalog") }
        return r
    }

    public static func rules(for check: Check) -> [Rule] { all.filter { $0.check == check } }
}
