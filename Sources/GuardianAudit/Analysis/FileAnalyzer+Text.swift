import Foundation
import GuardianCore

extension FileAnalyzer {
    /// Shell, Ruby, PHP: markers in comments, curl | sh, line counts.
    mutating func analyzeScript() {
        var lexer = Lexer(buffer: buf, dialect: Dialect.of(facts.language))
        lexer.run()
        lineStatistics(lexer.tokens)
        if !isTest { markers(lexer.tokens) }
        curlPipeShell()
    }

    /// Configuration, documentation and data files.
    mutating func analyzeText() {
        let lower = path.lowercased()
        switch facts.language {
        case .yaml:
            if lower.hasPrefix(".github/workflows/") || lower.contains("/.github/workflows/") { workflow() }
            curlPipeShell()
            configSecrets()
        case .dockerfile:
            dockerfile()
            curlPipeShell()
        case .makefile:
            curlPipeShell()
        case .markdown:
            markdown()
        case .lcov:
            lcov()
        case .xml:
            if lower.contains("cobertura") || lower.hasSuffix("coverage.xml") { cobertura() }
        case .text, .toml, .json:
            configSecrets()
        default:
            break
        }
    }

    func lines() -> [(line: Int32, range: Range<Int>)] {
        (0..<lineStarts.count).map { (Int32($0 + 1), lineRange(Int32($0 + 1))) }
    }

    func string(_ r: Range<Int>) -> String { String(decoding: UnsafeBufferPointer(rebasing: buf[r]), as: UTF8.self) }

    // MARK: CI workflows

    /// A workflow's jobs (keys one level under `jobs:`), and how many declare their own permissions.
    struct WorkflowJobs {
        var inJobs = false, jobIndent = -1, jobs = 0, withPermissions = 0, currentHasPermissions = false

        mutating func read(_ s: String, trimmed t: String) {
            let indent = s.prefix { $0 == " " }.count
            guard !t.isEmpty && !t.hasPrefix("#") else { return }
            if indent == 0 { inJobs = s.hasPrefix("jobs:"); return }
            guard inJobs else { return }
            if jobIndent < 0 { jobIndent = indent }
            if indent == jobIndent && t.hasSuffix(":") {
                jobs += 1
                currentHasPermissions = false
            } else if indent == jobIndent + 2 && t.hasPrefix("permissions:") && !currentHasPermissions {
                currentHasPermissions = true
                withPermissions += 1
            }
        }
    }

    mutating func workflow() {
        var sawPermissions = false
        var jobs = WorkflowJobs()
        for (line, r) in lines() {
            let s = string(r)
            let t = s.trimmed
            if s.hasPrefix("permissions:") { sawPermissions = true }
            jobs.read(s, trimmed: t)
            if t.hasPrefix("permissions:") && t.contains("write-all") {
                add("servant/broad-permissions", .medium, line: line, "workflow grants write-all permissions")
            }
            if let u = t.range(of: "uses:") { actionReference(String(t[u.upperBound...]), line: line) }
        }
        // every job declaring its own least-privilege block is as good as a top-level one
        if !sawPermissions && !(jobs.jobs > 0 && jobs.withPermissions == jobs.jobs) {
            add("servant/broad-permissions", .medium, line: 1, "workflow has no top-level permissions: block",
                key: "no-permissions")
        }
    }

    /// `uses: OWNER/REPO@REF`: an action not pinned to a commit (or a container not pinned by digest).
    mutating func actionReference(_ value: String, line: Int32) {
        var ref = value.trimmed
        if ref.hasPrefix("- ") { ref = String(ref.dropFirst(2)) }
        if let hash = ref.firstIndex(of: "#") { ref = String(ref[..<hash]).trimmed }
        ref = ref.trimmingCharacters(in: ["\"", "'"])
        // GitHub's own actions (actions/*, github/*) are trusted like the runner itself; Semgrep's
        // third-party-action rule draws the same line. Reusable workflows
        // (OWNER/REPO/.github/workflows/X.yml@ref) are the organisation's own CI templates,
        // versioned with it.
        if ref.hasPrefix("./") || ref.isEmpty || ref.hasPrefix("actions/") || ref.hasPrefix("github/") || ref.has("/.github/workflows/") { return }
        if ref.hasPrefix("docker://") {
            if !ref.contains("@sha256:") { add("servant/unpinned-action", .medium, line: line, "container action '\(ref)' is not pinned by digest") }
            return
        }
        guard let at = ref.lastIndex(of: "@") else {
            add("servant/unpinned-action", .medium, line: line, "action '\(ref)' has no version")
            return
        }
        let version = ref[ref.index(after: at)...]
        let isSha = version.count == 40 && version.allSatisfy { $0.isHexDigit }
        if !isSha { add("servant/unpinned-action", .medium, line: line, "action '\(ref)' is pinned to '\(version)', not to a commit SHA") }
    }

    // MARK: Dockerfile

    mutating func dockerfile() {
        var stages = Set<String>()
        for (line, r) in lines() {
            let t = string(r).trimmed
            guard t.count > 5, t.prefix(5).uppercased() == "FROM " else { continue }
            let words = t.split(separator: " ").map(String.init).filter { !$0.hasPrefix("--") }
            guard words.count >= 2 else { continue }
            let image = words[1]
            if words.count >= 4 && words[2].uppercased() == "AS" { stages.insert(words[3].lowercased()) }
            if image == "scratch" || stages.contains(image.lowercased()) || image.contains("$") { continue }
            if image.contains("@sha256:") { continue }
            let afterSlash = image.split(separator: "/").last.map(String.init) ?? image
            if let colon = afterSlash.firstIndex(of: ":") {
                let tag = afterSlash[afterSlash.index(after: colon)...]
                if tag == "latest" {
                    add("servant/unpinned-base-image", .medium, line: line, "base image '\(image)' uses the latest tag")
                }
            } else {
                add("servant/unpinned-base-image", .medium, line: line, "base image '\(image)' has no tag (means latest)")
            }
        }
    }

    // MARK: curl | sh

    mutating func curlPipeShell() {
        let shells: Set<String> = ["sh", "bash", "zsh", "ksh", "dash", "python", "python3", "/bin/sh", "/bin/bash", "node"]
        for (line, r) in lines() where r.count > 8 && r.count < 2000 {
            guard contains(r, Array("curl".utf8)) || contains(r, Array("wget".utf8)) else { continue }
            let s = string(r)
            let l = s.lowercased()
            guard let dl = l.range(of: "curl ") ?? l.range(of: "wget ") else { continue }
            let rest = l[dl.upperBound...]
            guard let pipe = rest.firstIndex(of: "|") else { continue }
            var words = rest[rest.index(after: pipe)...].split(separator: " ").map(String.init)
            while let f = words.first, f == "sudo" || f.hasPrefix("-") || f == "env" { words.removeFirst() }
            if let w = words.first, shells.contains(w.trimmingCharacters(in: ["\"", "'", ";", ")"])) {
                // raw.githubusercontent.com/OWNER/REPO/REF/PATH: the check drops it when OWNER is the
                // audited repository's owner and PATH one of its files: the project runs its own script
                var message = "download piped into a shell: \(s.trimmed.prefix(120))"
                if let r = s.range(of: "raw.githubusercontent.com/") {
                    let parts = s[r.upperBound...].prefix { !" \"'|;)".contains($0) }.split(separator: "/")
                    if parts.count > 3 { message += " [script: \(parts[0]) \(parts.dropFirst(3).joined(separator: "/"))]" }
                }
                add("servant/curl-pipe-shell", .high, line: line, message)
            }
        }
    }

    // MARK: documentation and coverage files

    mutating func markdown() {
        var words: Int32 = 0, headings: Int32 = 0
        var inWord = false
        for k in 0..<buf.count {
            let b = buf[k]
            let isSpace = b == B.sp || b == B.nl || b == B.tab || b == B.cr
            if !isSpace && !inWord { words += 1 }
            inWord = !isSpace
        }
        for (_, r) in lines() where !r.isEmpty {
            let b0 = buf[r.lowerBound]
            if b0 == B.hash { headings += 1 }
            if (b0 == B.eq || b0 == B.minus) && r.count >= 3 && buf[r].allSatisfy({ $0 == b0 }) { headings += 1 }
        }
        facts.words = words
        facts.headings = headings
        // what a README says about the project's policies and docs (only READMEs are asked)
        guard (path.split(separator: "/").last ?? "").lowercased().hasPrefix("readme") else { return }
        // a README that says how to report a vulnerability (a Security section, an address, or a
        // pointer to the organisation's policy) is a security policy
        facts.statesSecurityPolicy = contains(0..<buf.count, Array("vulnerabilit".utf8)) || contains(0..<buf.count, Array("security@".utf8))
            || contains(0..<buf.count, Array("# security".utf8)) || contains(0..<buf.count, Array("security policy".utf8))
        facts.statesContributing = contains(0..<buf.count, Array("# contributing".utf8)) || contains(0..<buf.count, Array("# contribution".utf8))
            || contains(0..<buf.count, Array("# how to contribute".utf8))
        // hosted documentation of the project: a docs site, Read the Docs, or a Swift Package Index
        // documentation page (not its badge, not Apple's developer documentation)
        let all = 0..<buf.count
        facts.linksDocumentation = contains(all, Array("://docs.".utf8)) || contains(all, Array(".readthedocs.io".utf8))
            || linksSPIDocumentation()
    }

    /// A Swift Package Index URL that is a documentation page: `/documentation` within the same URL.
    func linksSPIDocumentation() -> Bool {
        let host = Array("swiftpackageindex.com/".utf8), page = Array("/documentation".utf8)
        var k = 0
        while k + host.count <= buf.count {
            if buf[k] == host[0] && (0..<host.count).allSatisfy({ buf[k + $0] == host[$0] }) {
                var end = k + host.count
                while end < buf.count && !B.isSpace(buf[end]) && buf[end] != B.nl && buf[end] != B.rparen && buf[end] != B.quote { end += 1 }
                if contains(k..<end, page) { return true }
                k = end
            } else {
                k += 1
            }
        }
        return false
    }

    mutating func lcov() {
        var found: Int32 = 0, hit: Int32 = 0
        for (_, r) in lines() {
            let s = string(r)
            if s.hasPrefix("LF:") { found += Int32(String(s.dropFirst(3)).trimmed) ?? 0 }
            if s.hasPrefix("LH:") { hit += Int32(String(s.dropFirst(3)).trimmed) ?? 0 }
        }
        facts.coverableLines = found
        facts.coveredLines = hit
    }

    mutating func cobertura() {
        let head = string(0..<min(buf.count, 4000))
        guard let tag = head.range(of: "<coverage") else { return }
        let rest = head[tag.upperBound...]
        func attr(_ name: String) -> Int32? {
            guard let a = rest.range(of: name + "=\"") else { return nil }
            let v = rest[a.upperBound...].prefix { $0 != "\"" }
            return Int32(v)
        }
        if let valid = attr("lines-valid"), let covered = attr("lines-covered") {
            facts.coverableLines = valid
            facts.coveredLines = covered
        }
    }
}
