import GuardianCore

/// Test files: whether tests assert, the modules they import (to pair modules with tests), and
/// JS/TS test blocks.
extension FileAnalyzer {
    /// The top-level modules a file imports: Swift `import X`, `@testable import X`, `import struct X.Y`;
    /// Python `import a.b` and `from a.b import c` (not relative imports).
    func importedModules(_ tokens: [Token], exportedOnly: Bool = false) -> [String] {
        guard facts.language == .swift || facts.language == .python else { return [] }
        let kinds: Set<String> = ["struct", "class", "enum", "protocol", "func", "var", "let", "typealias"]
        let python = facts.language == .python
        var out: [String] = []
        for k in tokens.indices where tokens[k].kind == .identifier && (tokens[k].hash == v.import_ || (python && tokens[k].hash == v.from)) {
            let w = text(tokens[k])
            if exportedOnly && !(k >= 1 && text(tokens[k - 1]) == "_exported") { continue }
            // `from a.b import c`: the module is after `from`, not after `import`
            if facts.language == .python && w == "import" {
                var j = k - 1
                var fromStatement = false
                while j >= 0 && tokens[j].line == tokens[k].line { if tokens[j].kind == .identifier && text(tokens[j]) == "from" { fromStatement = true; break }; j -= 1 }
                if fromStatement { continue }
            }
            var j = k + 1
            while j < tokens.count, tokens[j].kind == .identifier, kinds.contains(text(tokens[j])) { j += 1 }
            guard j < tokens.count, tokens[j].kind == .identifier, tokens[j].line == tokens[k].line else { continue }
            let name = text(tokens[j])
            if !out.contains(name) { out.append(name) }
        }
        return out
    }

    /// A test file's function: whether it asserts, and whether it calls or reads anything that
    /// could fail it.
    struct TestBody {
        var name: String
        var line: Int32
        var isTest: Bool
        var asserts: Bool
        /// A call (`f(…)`, Swift `f { … }`) or a member access (`a.b`): code that can throw, raise or
        /// trap, which fails the test. Not `print` and the like.
        var calls: Bool
    }

    /// Calls that cannot make a test fail, and keywords that precede `(` or `{`.
    static let inertCalls: Set<String> = ["print", "println", "printf", "log", "debugPrint", "NSLog", "sleep", "if", "while",
                                          "for", "switch", "guard", "return", "catch", "elif", "and", "or", "not", "in",
                                          "else", "do", "repeat", "defer", "try", "where", "get", "set", "willSet", "didSet"]

    /// A test is reported only when it neither asserts nor runs anything: a test that calls code is
    /// a smoke test that fails when the code throws or traps, and projects keep such tests on
    /// purpose ("does not raise", "compiles"); a test that runs nothing cannot fail.
    mutating func testsWithoutAssertion() {
        for b in testBodies where b.isTest && !b.asserts && !b.calls {
            add("tdd/test-without-assertion", .medium, line: b.line, "test '\(b.name)' has no assertion and calls nothing: it cannot fail")
        }
    }

    static let assertWords: [[UInt8]] = ["assert", "expect", "xct", "require", "verify", "should", "raises", "must",
                                         "fail", "check"].map { Array($0.utf8) }

    static let assertBytes = Array("assert".utf8), expectBytes = Array("expect".utf8)
    static let errorBytes = Array("error".utf8), fatalBytes = Array("fatal".utf8)
    static let record = Vocabulary.h("record"), issue = Vocabulary.h("Issue")

    func isAssertion(_ tokens: [Token], _ k: Int) -> Bool {
        let t = tokens[k]
        for w in FileAnalyzer.assertWords where startsWith(t, w) { return true }
        if contains(tokenRange(t), Self.assertBytes) || contains(tokenRange(t), Self.expectBytes) { return true }
        // Swift: a test fails when what it `try`s throws: that is its assertion (not `try?`)
        if facts.language == .swift && t.hash == v.try_ && !(k + 1 < tokens.count && tokens[k + 1].isPunct(B.question)) { return true }
        // Swift Testing: Issue.record(…)
        if k >= 2 && tokens[k - 1].isPunct(B.dot) && t.hash == Self.record && tokens[k - 2].isIdent(Self.issue)
            && isPlain(t) && isPlain(tokens[k - 2]) { return true }
        // Go: t.Error, t.Errorf, t.Fatal, t.Fatalf
        if facts.language == .go && k > 0 && tokens[k - 1].isPunct(B.dot) {
            if startsWith(t, Self.errorBytes) || startsWith(t, Self.fatalBytes) { return true }
        }
        // Rust: panic! in a test is an assertion; Python: `pytest.raises`, `assert` keyword matched above
        return false
    }

    // MARK: JS/TS tests (skipped tests: FileAnalyzer+SkippedTests.swift)

    mutating func jsTests(_ tokens: [Token]) {
        let it = Vocabulary.h("it"), test = v.test
        for k in 0..<tokens.count {
            let t = tokens[k]
            guard t.kind == .identifier, t.hash == it || t.hash == test, k + 1 < tokens.count,
                  tokens[k + 1].isPunct(B.lparen), !(k > 0 && tokens[k - 1].isPunct(B.dot)) else { continue }
            var depth = 0, j = k + 1, found = false
            while j < tokens.count {
                let u = tokens[j]
                if u.isPunct(B.lparen) { depth += 1 } else if u.isPunct(B.rparen) { depth -= 1; if depth == 0 { break } }
                if u.kind == .identifier && isAssertion(tokens, j) { found = true }
                j += 1
            }
            facts.tests += 1
            if !found { add("tdd/test-without-assertion", .medium, line: t.line, "test has no assertion: \(lineText(t.line).trimmed.prefix(100))") }
        }
    }
}
