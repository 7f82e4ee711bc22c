import Foundation
import GuardianCore

extension Checks {
    // MARK: sages

    static func sages(_ ctx: AuditContext, _ out: inout CheckOutput) {
        fileFindings(ctx, prefix: "sages/", &out)
        dropUndocumentedThatNeedNoDocs(ctx, &out)
        let top = TopFiles(ctx.files)
        let readme = top.find(["readme"])
        if let readme {
            // a short README that points to hosted documentation is the project's choice of where docs live
            if (readme.facts.words < 150 || (readme.facts.headings < 2 && readme.facts.language == .markdown)) && !readme.facts.linksDocumentation {
                out.add("sages/readme-thin", file: readme.path,
                        "README has \(readme.facts.words) words and \(readme.facts.headings) sections", key: "readme-thin")
            }
        } else {
            out.add("sages/readme-missing", "no README at the repository root", key: "readme")
        }
        projectFiles(ctx, top, readme: readme, &out)
        if !keepsDocumentation(ctx, readme: readme) && ctx.codeLines >= 3000 {
            out.add("sages/missing-docs", "no docs/ folder, DocC catalog or documentation site configuration", key: "docs")
        }
        if ctx.isGit { issueReferences(ctx, &out) }
    }

    /// An executable target's public declarations are no library's API, and a member that a
    /// protocol requires is documented by the requirement.
    static func dropUndocumentedThatNeedNoDocs(_ ctx: AuditContext, _ out: inout CheckOutput) {
        let executables = executableTargets(ctx)
        let witnesses = witnessLines(ctx)
        guard !executables.isEmpty || !witnesses.isEmpty else { return }
        out.findings.removeAll { f in
            guard f.ruleId == "sages/undocumented-public-api", let file = f.file else { return false }
            return executables.contains(target(of: file)) || witnesses.contains("\(file):\(f.line ?? 0)")
        }
    }

    /// The files at the root, in `.github/` and in `docs/`, found by their stem (`LICENSE.md` is `license`).
    struct TopFiles {
        let files: [AuditedFile]
        init(_ all: [AuditedFile]) {
            files = all.filter { !$0.path.has("/") || $0.path.lowercased().hasPrefix(".github/") || $0.path.lowercased().hasPrefix("docs/") }
        }
        func find(_ stems: [String]) -> AuditedFile? {
            files.first { f in
                let name = f.path.lowercased().split(separator: "/").last.map(String.init) ?? ""
                let stem = name.split(separator: ".").first.map(String.init) ?? name
                return stems.contains(stem)
            }
        }
    }

    /// LICENSE, CONTRIBUTING, SECURITY and CHANGELOG, each also satisfied by what stands for it.
    static func projectFiles(_ ctx: AuditContext, _ top: TopFiles, readme: AuditedFile?, _ out: inout CheckOutput) {
        if top.find(["license", "licence", "copying"]) == nil { out.add("sages/missing-license", "no LICENSE file", key: "license") }
        if top.find(["contributing"]) == nil && !(readme?.facts.statesContributing ?? false) {
            out.add("sages/missing-contributing", "no CONTRIBUTING guide (nor a README section on contributing)", key: "contributing")
        }
        if top.find(["security"]) == nil && !(readme?.facts.statesSecurityPolicy ?? false) {
            out.add("sages/missing-security", "no SECURITY policy (nor a README section on reporting vulnerabilities)", key: "security")
        }
        // `.github/release.yml` configures the release notes GitHub writes for each release
        let releaseNotes = ctx.files.contains { $0.path == ".github/release.yml" || $0.path == ".github/release.yaml" }
        if top.find(["changelog", "changes", "history", "news", "releases"]) == nil && !releaseNotes {
            out.add("sages/missing-changelog", "no CHANGELOG", key: "changelog")
        }
    }

    static let documentationConfigs: Set<String> = [".spi.yml", ".jazzy.yaml", ".jazzy.yml", "mkdocs.yml", "docs.md", "documentation.md",
                                                    ".readthedocs.yaml", ".readthedocs.yml"]

    /// Documentation built elsewhere counts: Swift Package Index (.spi.yml), Jazzy, MkDocs, Sphinx,
    /// a Docs.md, or a README link to a hosted site (a project under 3,000 code lines is documented
    /// by its README; the caller checks that).
    static func keepsDocumentation(_ ctx: AuditContext, readme: AuditedFile?) -> Bool {
        let kept = ctx.files.contains { f in
            let l = f.path.lowercased()
            return l.hasPrefix("docs/") || l.hasPrefix("doc/") || l.hasPrefix("documentation/") || l.has(".docc/") || documentationConfigs.contains(l)
        }
        return kept || (readme?.facts.linksDocumentation ?? false)
    }

    /// Merge commits count: "Merge pull request #N" is how a merge workflow references its PR.
    static func issueReferences(_ ctx: AuditContext, _ out: inout CheckOutput) {
        let recent = ctx.recentCommits.prefix(200)
        guard recent.count >= 10 else { return }
        let refs = recent.filter { referencesIssue($0.message) }.count
        let share = Double(refs) / Double(recent.count)
        if share < 0.5 {
            out.add("sages/commits-without-issue",
                    "\(FixedPoint.format(share * 100, digits: 0))% of the last \(recent.count) commits reference an issue or pull request",
                    key: "issue-refs")
        }
    }

    /// Requirements of protocols every Swift package conforms to from SwiftNIO and its kin, which
    /// the repository does not declare itself.
    static let frameworkRequirements: Set<String> = ["channelRead", "channelActive", "channelInactive", "channelReadComplete",
                                                     "channelRegistered", "channelUnregistered", "channelWritabilityChanged",
                                                     "errorCaught", "userInboundEventTriggered", "handlerAdded", "handlerRemoved",
                                                     "write", "flush", "read", "close", "bind", "connect", "register",
                                                     "triggerUserOutboundEvent", "decode", "decodeLast", "encode", "respond",
                                                     "boot", "shutdown", "run", "log", "hash"]

    /// `file:line` of the undocumented members that witness a requirement of a protocol the
    /// repository (or SwiftNIO) declares.
    static func witnessLines(_ ctx: AuditContext) -> Set<String> {
        var requirements = frameworkRequirements
        for f in ctx.files { requirements.formUnion(f.facts.protocolRequirements) }
        var out = Set<String>()
        for f in ctx.files { for w in f.facts.possibleWitnesses where requirements.contains(w.name) { out.insert("\(f.path):\(w.line)") } }
        return out
    }

    /// The target a file belongs to: `Sources/X/` for SwiftPM, otherwise the file's folder.
    static func target(of path: String) -> String {
        let b = path.utf8
        // `Sources/X/…`: up to the slash after X; otherwise up to the last slash ("/" for a root file)
        if b.starts(with: "Sources/".utf8), let second = b.dropFirst(8).firstIndex(of: 47) {
            return String(path[...second])
        }
        guard let last = b.lastIndex(of: 47) else { return "/" }
        return String(path[...last])
    }

    /// Targets with an entry point: a `main.swift`, a Swift `@main` type, or Go's `package main`.
    static func executableTargets(_ ctx: AuditContext) -> Set<String> {
        var out = Set<String>()
        for f in ctx.files where f.facts.declaresMain || f.path == "main.swift" || f.path.hasSuffix("/main.swift") { out.insert(target(of: f.path)) }
        return out
    }

    static func referencesIssue(_ message: String) -> Bool { CommitPatterns.referencesIssue(message) }
}
