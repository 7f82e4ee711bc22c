import Foundation
import GuardianCore

extension Checks {
    // MARK: sages

    static func sages(_ ctx: AuditContext, _ out: inout CheckOutput) {
        fileFindings(ctx, prefix: "sages/", &out)
        // an executable target's public declarations are no library's API, and a member that a
        // protocol requires is documented by the requirement
        let executables = executableTargets(ctx)
        let witnesses = witnessLines(ctx)
        if !executables.isEmpty || !witnesses.isEmpty {
            out.findings.removeAll { f in
                guard f.ruleId == "sages/undocumented-public-api", let file = f.file else { return false }
                return executables.contains(target(of: file)) || witnesses.contains("\(file):\(f.line ?? 0)")
            }
        }
        let top = ctx.files.filter { !$0.path.has("/") || $0.path.lowercased().hasPrefix(".github/") || $0.path.lowercased().hasPrefix("docs/") }
        func find(_ stems: [String]) -> AuditedFile? {
            top.first { f in
                let name = f.path.lowercased().split(separator: "/").last.map(String.init) ?? ""
                let stem = name.split(separator: ".").first.map(String.init) ?? name
                return stems.contains(stem)
            }
        }
        if let readme = find(["readme"]) {
            // a short README that points to hosted documentation is the project's choice of where docs live
            if (readme.facts.words < 150 || (readme.facts.headings < 2 && readme.facts.language == .markdown)) && !readme.facts.linksDocumentation {
                out.add("sages/readme-thin", file: readme.path,
                        "README has \(readme.facts.words) words and \(readme.facts.headings) sections", key: "readme-thin")
            }
        } else {
            out.add("sages/readme-missing", "no README at the repository root", key: "readme")
        }
        if find(["license", "licence", "copying"]) == nil { out.add("sages/missing-license", "no LICENSE file", key: "license") }
        if find(["contributing"]) == nil && !(find(["readme"])?.facts.statesContributing ?? false) {
            out.add("sages/missing-contributing", "no CONTRIBUTING guide (nor a README section on contributing)", key: "contributing")
        }
        if find(["security"]) == nil && !(find(["readme"])?.facts.statesSecurityPolicy ?? false) {
            out.add("sages/missing-security", "no SECURITY policy (nor a README section on reporting vulnerabilities)", key: "security")
        }
        // `.github/release.yml` configures the release notes GitHub writes for each release
        if find(["changelog", "changes", "history", "news", "releases"]) == nil && !ctx.files.contains(where: { $0.path == ".github/release.yml" || $0.path == ".github/release.yaml" }) {
            out.add("sages/missing-changelog", "no CHANGELOG", key: "changelog")
        }
        // documentation built elsewhere counts: Swift Package Index (.spi.yml), Jazzy, MkDocs, Sphinx,
        // a Docs.md, or a README link to a hosted site; a project under 3,000 code lines is
        // documented by its README
        let docsKept = ctx.files.contains { f in
            let l = f.path.lowercased()
            return l.hasPrefix("docs/") || l.hasPrefix("doc/") || l.hasPrefix("documentation/") || l.has(".docc/")
                || [".spi.yml", ".jazzy.yaml", ".jazzy.yml", "mkdocs.yml", "docs.md", "documentation.md", ".readthedocs.yaml", ".readthedocs.yml"].contains(l)
        } || (find(["readme"])?.facts.linksDocumentation ?? false)
        if !docsKept && ctx.codeLines >= 3000 {
            out.add("sages/missing-docs", "no docs/ folder, DocC catalog or documentation site configuration", key: "docs")
        }
        if ctx.isGit {
            // merge commits count: "Merge pull request #N" is how a merge workflow references its PR
            let recent = ctx.recentCommits.prefix(200)
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
        let parts = path.split(separator: "/", omittingEmptySubsequences: false)
        if parts.count >= 3 && parts[0] == "Sources" { return "Sources/\(parts[1])/" }
        return parts.dropLast().joined(separator: "/") + "/"
    }

    /// Targets with an entry point: a `main.swift`, a Swift `@main` type, or Go's `package main`.
    static func executableTargets(_ ctx: AuditContext) -> Set<String> {
        var out = Set<String>()
        for f in ctx.files where f.facts.declaresMain || f.path == "main.swift" || f.path.hasSuffix("/main.swift") { out.insert(target(of: f.path)) }
        return out
    }

    static let issuePattern = try! NSRegularExpression(pattern: "#[0-9]+|\\b[A-Z][A-Z0-9]+-[0-9]+\\b|/issues/[0-9]+|/pull/[0-9]+")

    static func referencesIssue(_ message: String) -> Bool {
        issuePattern.firstMatch(in: message, range: NSRange(message.startIndex..., in: message)) != nil
    }
}
