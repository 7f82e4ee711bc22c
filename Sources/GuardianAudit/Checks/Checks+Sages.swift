import Foundation
import GuardianCore

extension Checks {
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
        if find(["security"]) == nil && !(find(["readme"])?.facts.statesSecurityPolicy ?? false) {
            out.add("sages/missing-security", "no SECURITY policy (nor a README section on reporting vulnerabilities)", key: "security")
        }
        if find(["changelog", "changes", "history", "news", "releases"]) == nil {
            out.add("sages/missing-changelog", "no CHANGELOG", key: "changelog")
        }
        if !ctx.files.contains(where: { let l = $0.path.lowercased(); return l.hasPrefix("docs/") || l.hasPrefix("doc/") || l.hasPrefix("documentation/") || l.has(".docc/") }) {
            out.add("sages/missing-docs", "no docs/ folder or DocC catalog", key: "docs")
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

    static let issuePattern = try! NSRegularExpression(pattern: "#[0-9]+|\\b[A-Z][A-Z0-9]+-[0-9]+\\b|/issues/[0-9]+|/pull/[0-9]+")

    static func referencesIssue(_ message: String) -> Bool {
        issuePattern.firstMatch(in: message, range: NSRange(message.startIndex..., in: message)) != nil
    }
}
