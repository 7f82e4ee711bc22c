import Foundation
import GuardianCore
import GuardianTestKit
import Testing
@testable import GuardianAudit

/// Hostile repositories get a clear error or a reported skip, never a crash or a hang.
@Suite struct HostileRepositoryTests {
    @Test func hostileContentIsSkippedOrSurvived() throws {
        let repo = try FixtureRepo()
        var binary = Data([0x7f, 0x45, 0x4c, 0x46, 0, 0, 0, 1])
        binary.append(Data(repeating: 0xAB, count: 4096))
        try repo.write("assets/blob.bin", binary)
        try repo.write("web/bundle.js", "var a=1;" + String(repeating: "a+=1;", count: 420_000) + "\n") // ~2 MB, one line
        try repo.write("web/min.js", "function f(){return 1};" + String(repeating: "x=1;", count: 3_000) + "\n")
        var invalid = Data("// TODO: invalid bytes follow\nlet s = \"".utf8)
        invalid.append(contentsOf: [0xff, 0xfe, 0xc3, 0x28, 0x80])
        invalid.append(Data("\"\nfunc ok() {}\n".utf8))
        try repo.write("Sources/X/Invalid.swift", invalid)
        try repo.write("Sources/X/Crlf.swift", "import Foundation\r\n\r\n// FIXME: crlf\r\nfunc f() {\r\n  if true { }\r\n}\r\n")
        try repo.write("Sources/X/Unterminated.swift", "let s = \"never closed\nfunc g() {\n/* comment never closed\n")
        try repo.write("Sources/X/Nul.swift", "let a = 1\n\u{0}\u{0}\nlet b = 2\n")
        try repo.write("Sources/X/Deep.swift", String(repeating: "{", count: 20_000) + String(repeating: "}", count: 20_000))
        try repo.write("Sources/X/Empty.swift", "")
        let outside = FileManager.default.temporaryDirectory.appendingPathComponent("guardian-outside-\(UUID()).swift")
        try "// TODO: outside the tree\n".write(to: outside, atomically: true, encoding: .utf8)
        defer { try? FileManager.default.removeItem(at: outside) }
        try FileManager.default.createSymbolicLink(atPath: repo.path + "/escape.swift", withDestinationPath: outside.path)
        try repo.git("add", "-A")
        // a submodule entry (gitlink) without a checkout
        try repo.git("update-index", "--add", "--cacheinfo", "160000,1111111111111111111111111111111111111111,vendor/sub")
        try repo.git("commit", "-q", "-m", "chore: hostile content")

        var o = AuditOptions(target: repo.path)
        o.cacheDirectory = nil
        let r = try Auditor.run(o)
        let skipped = Dictionary(r.skippedFiles.map { ($0.path, $0.reason) }, uniquingKeysWith: { a, _ in a })
        #expect(skipped["assets/blob.bin"] == "binary")
        #expect(skipped["web/bundle.js"]?.contains("larger than") == true)
        #expect(skipped["web/min.js"]?.contains("minified") == true)
        #expect(skipped["escape.swift"]?.contains("symlink") == true)
        #expect(skipped["vendor/sub"]?.contains("submodule") == true)
        #expect(skipped["Sources/X/Nul.swift"] == "binary")
        // nothing from outside the tree was read
        #expect(!r.allViolations.contains { $0.message.contains("outside the tree") })
        // invalid UTF-8 and CRLF files are analysed
        #expect(r.allViolations.contains { $0.ruleId == "integrity/placeholder-marker" && $0.file == "Sources/X/Invalid.swift" && $0.line == 1 })
        #expect(r.allViolations.contains { $0.ruleId == "integrity/placeholder-marker" && $0.file == "Sources/X/Crlf.swift" && $0.line == 3 })
    }

    @Test func emptyRepositoryIsAClearError() throws {
        let repo = try FixtureRepo()
        var o = AuditOptions(target: repo.path)
        o.cacheDirectory = nil
        #expect { try Auditor.run(o) } throws: { error in
            (error as? GuardianError)?.description.contains("empty") == true
        }
    }

    @Test func unknownRevisionIsAClearError() throws {
        let repo = try FixtureRepo()
        try repo.write("a.txt", "a\n")
        try repo.commit("chore: a")
        var o = AuditOptions(target: repo.path)
        o.cacheDirectory = nil
        o.revision = "no-such-branch"
        #expect { try Auditor.run(o) } throws: { error in
            (error as? GuardianError)?.description.contains("unknown revision 'no-such-branch'") == true
        }
    }

    @Test func missingPathIsAClearError() throws {
        var o = AuditOptions(target: "/definitely/not/here")
        o.cacheDirectory = nil
        #expect(throws: GuardianError.usage("no such file or directory: /definitely/not/here")) { try Auditor.run(o) }
    }

    @Test func hugeHistoryIsBounded() throws {
        let repo = try FixtureRepo()
        try repo.fastHistory(commits: 1_500)
        var o = AuditOptions(target: repo.path)
        o.cacheDirectory = nil
        o.maxHistory = 200
        let r = try Auditor.run(o)
        #expect(r.statistics.commits == 200)
        // every bulk commit is a direct, non-conventional commit on main
        #expect(r.allViolations.contains { $0.ruleId == "git/non-conventional-commits" })
        #expect(r.allViolations.contains { $0.ruleId == "flow/direct-commits" })
    }

    @Test func bareMirrorAndRevisions() throws {
        let repo = try FixtureRepo()
        try repo.write("a.py", "def f(x):\n    \"\"\"Doc.\"\"\"\n    return x\n")
        let first = try repo.commit("feat: a")
        try repo.write("a.py", "def f(x):\n    \"\"\"Doc.\"\"\"\n    return eval(x)\n")
        try repo.commit("feat: eval")
        let bare = FileManager.default.temporaryDirectory.appendingPathComponent("guardian-bare-\(UUID()).git").path
        defer { try? FileManager.default.removeItem(atPath: bare) }
        try FixtureRepo.run("/usr/bin/git", ["clone", "-q", "--bare", repo.path, bare])
        var o = AuditOptions(target: bare)
        o.cacheDirectory = nil
        let head = try Auditor.run(o)
        #expect(head.allViolations.contains { $0.message.contains("eval") })
        o.revision = first
        let old = try Auditor.run(o)
        #expect(!old.allViolations.contains { $0.message.contains("eval") })
        #expect(old.subject.commit == first)
    }

    @Test func urlIsClonedIntoTheCache() throws {
        let repo = try FixtureRepo()
        try repo.write("a.py", "def f(x):\n    \"\"\"Doc.\"\"\"\n    return eval(x)\n")
        try repo.commit("feat: eval")
        let cacheDir = FileManager.default.temporaryDirectory.appendingPathComponent("guardian-cache-\(UUID())").path
        defer { try? FileManager.default.removeItem(atPath: cacheDir) }
        var o = AuditOptions(target: "file://" + repo.path)
        o.cacheDirectory = cacheDir
        let r = try Auditor.run(o)
        #expect(r.allViolations.contains { $0.message.contains("eval") })
        #expect(r.subject.repository == "file://" + repo.path)
        // second run fetches into the existing mirror
        try repo.write("b.py", "import os\n\n\ndef run(cmd):\n    os.system(cmd)\n")
        try repo.commit("feat: b")
        let again = try Auditor.run(o)
        #expect(again.allViolations.contains { $0.file == "b.py" })
    }
}

@Suite struct PlainDirectoryTests {
    @Test func historyRulesAreSkippedNotFailed() throws {
        let dir = try FixtureRepo(initGit: false)
        for (path, text) in Planted.files { try dir.write(path, text) }
        let outside = FileManager.default.temporaryDirectory.appendingPathComponent("guardian-outside-\(UUID())")
        try FileManager.default.createDirectory(at: outside, withIntermediateDirectories: true)
        try "// TODO: beyond-the-root\n".write(to: outside.appendingPathComponent("x.swift"), atomically: true, encoding: .utf8)
        defer { try? FileManager.default.removeItem(at: outside) }
        try FileManager.default.createSymbolicLink(atPath: dir.path + "/linkdir", withDestinationPath: outside.path)
        var o = AuditOptions(target: dir.path)
        o.cacheDirectory = nil
        let r = try Auditor.run(o)
        #expect(!r.subject.isGitRepository)
        #expect(r.result(.flow)?.status == .skipped)
        #expect(r.result(.git)?.skippedRules.contains { $0.ruleId == "git/non-conventional-commits" } == true)
        #expect(r.result(.git)?.status != .skipped) // file hygiene still runs
        #expect(r.skippedFiles.contains { $0.path == "linkdir" && $0.reason.contains("symlink") })
        #expect(!r.allViolations.contains { $0.message.contains("beyond-the-root") })
        #expect(r.allViolations.contains { $0.ruleId == "strict/dangerous-call" && $0.file == "app/planted.py" })
        o.revision = "HEAD"
        #expect(throws: GuardianError.self) { try Auditor.run(o) }
    }
}

@Suite struct LexerTests {
    func functions(_ path: String, _ source: String) -> [FunctionFacts] {
        let bytes = Array(source.utf8)
        return bytes.withUnsafeBufferPointer {
            FileAnalyzer.analyze(path: path, buffer: $0, isTest: false, limits: AnalysisLimits()).functions
        }
    }

    @Test func swiftStringsAndCommentsHideKeywords() {
        let src = """
            func f(x: Int) -> String {
                let a = "if while for \\(x > 1 ? "case" : "guard")"
                let b = #"if "quoted" && raw"#
                let c = \"\"\"
                    if multi && line
                    \"\"\"
                /* if /* nested if */ && */
                // if &&
                return a + b + c
            }
            """
        let fns = functions("a.swift", src)
        #expect(fns.count == 1)
        #expect(fns.first?.ccn == 1)
    }

    @Test func swiftAccessorsInitAndLabels() {
        let src = """
            struct S {
                var v: Int {
                    get { x > 0 ? 1 : 2 }
                    set(newValue) { if newValue > 0 { x = newValue } }
                }
                init?(a: Int) {
                    guard a > 0 else { return nil }
                }
                func g() { call(if: true, for: 1) }
                deinit { if x > 0 { print(x) } }
            }
            protocol P {
                func h() -> Int
                var w: Int { get }
            }
            """
        let fns = functions("a.swift", src)
        let names = fns.map(\.name)
        #expect(names == ["get", "set", "init", "g", "deinit"])
        #expect(fns.map(\.ccn) == [2, 2, 2, 1, 2])
    }

    @Test func pythonIndentationAndNesting() {
        let src = """
            class A:
                def m(self, a, b):
                    if a:
                        for x in b:
                            if x and a:
                                return x
                    return None

            def top():
                return [x for x in range(3) if x]
            """
        let fns = functions("a.py", src)
        #expect(fns.map(\.name) == ["m", "top"])
        #expect(fns[0].ccn == 5)
        #expect(fns[0].params == 2)
        #expect(fns[0].maxNesting == 3)
        #expect(fns[0].endLine == 7)
        #expect(fns[1].ccn == 3)
    }

    @Test func jsTemplatesAndRegexLikeText() {
        let src = "function f(a) {\n  const t = `if ${a ? `x` : 'y'} && while`;\n  return t;\n}\n"
        let fns = functions("a.js", src)
        #expect(fns.count == 1 && fns[0].ccn == 1)
    }

    @Test func goReceiversAndRustLifetimes() {
        let go = "package p\n\nfunc (s *S) Name(a, b int) (int, error) {\n\tif a > b {\n\t\treturn a, nil\n\t}\n\treturn b, nil\n}\n"
        let g = functions("a.go", go)
        #expect(g.map(\.name) == ["Name"])
        #expect(g.first?.ccn == 2)
        let rust = "fn f<'a>(x: &'a str) -> &'a str {\n    let c = 'c';\n    if x.is_empty() { x } else { x }\n}\n"
        let r = functions("a.rs", rust)
        #expect(r.map(\.name) == ["f"])
        #expect(r.first?.ccn == 2)
    }
}
