import GuardianCore

extension FileAnalyzer {
    mutating func analyzeCode() {
        var lexer = Lexer(buffer: buf, dialect: Dialect.of(facts.language))
        lexer.run()
        let tokens = lexer.tokens
        lineStarts = lexer.lineStarts
        if lineStarts.count > 1 && lineStarts.last! == Int32(buf.count) { lineStarts.removeLast() }
        facts.lines = buf.isEmpty ? 0 : Int32(lineStarts.count)

        lineStatistics(tokens)
        var built: [FunctionScanner.Built]
        var pyBodyFirst: [Int] = []
        if facts.language == .python {
            var s = PythonScanner(tokens: tokens, buffer: buf, lineStarts: lineStarts)
            s.run()
            built = s.functions
            pyBodyFirst = s.bodyFirst
        } else {
            var s = FunctionScanner(tokens: tokens, buffer: buf, language: facts.language)
            s.run()
            built = s.functions
        }
        for idx in built.indices {
            let first = facts.language == .python ? pyBodyFirst[idx] : -1
            inspectFunction(&built[idx], tokens: tokens, pyBodyFirst: first)
            built[idx].facts.codeLength = codeLength(of: built[idx], tokens: tokens, pyBodyFirst: first)
        }
        facts.functions = built.map(\.facts)
        // examples and demos show an API; a stub there is the example's point, not unfinished work
        if PathRules.isSampleOrExample(path) { facts.findings.removeAll { $0.ruleId == "integrity/stub-body" } }
        if !isTest {
            markers(tokens)
            dangerousCalls(tokens)
            testDoubles(tokens)
            documentation(tokens, built: built, pyBodyFirst: pyBodyFirst)
            duplicateHashes(tokens)
            entropySecrets(tokens)
            if facts.language == .swift { facts.imports = importedModules(tokens, exportedOnly: true) }
        } else {
            testsWithoutAssertion()
            skippedTests(tokens)
            facts.imports = importedModules(tokens)
            if facts.language == .javascript || facts.language == .typescript { jsTests(tokens) }
        }
    }

    mutating func lineStatistics(_ tokens: [Token]) {
        let count = Int(facts.lines) + 2
        var code = [Bool](repeating: false, count: count)
        var comment = [Bool](repeating: false, count: count)
        for t in tokens {
            let a = Int(t.line), b = min(Int(t.endLine), count - 1)
            if t.kind == .comment {
                for l in a...max(a, b) where l < count { comment[l] = true }
            } else {
                for l in a...max(a, b) where l < count { code[l] = true }
            }
        }
        var c: Int32 = 0, m: Int32 = 0
        for l in 1..<count {
            if code[l] { c += 1 } else if comment[l] { m += 1 }
        }
        facts.codeLines = c
        facts.commentLines = m
        codeLineFlags = code
    }

    /// Code lines between a function's first and last line, less a Python docstring's lines.
    func codeLength(of f: FunctionScanner.Built, tokens: [Token], pyBodyFirst: Int) -> Int32 {
        guard !codeLineFlags.isEmpty else { return f.facts.length }
        let lo = max(1, Int(f.facts.startLine)), hi = min(codeLineFlags.count - 1, Int(f.facts.endLine))
        guard lo <= hi else { return 0 }
        var n: Int32 = 0
        for l in lo...hi where codeLineFlags[l] { n += 1 }
        if pyBodyFirst >= 0 && pyBodyFirst < tokens.count && tokens[pyBodyFirst].kind == .string {
            n -= tokens[pyBodyFirst].endLine - tokens[pyBodyFirst].line + 1
        }
        return max(1, n)
    }

    // MARK: functions: tests, stubs, constant returns

    mutating func inspectFunction(_ f: inout FunctionScanner.Built, tokens: [Token], pyBodyFirst: Int) {
        let first = facts.language == .python ? pyBodyFirst : f.bodyStart + 1
        let end = min(f.bodyEnd, tokens.count)
        if isTest {
            inspectTest(&f, tokens: tokens, first: first, end: end)
            return
        }
        let body = bodyTokens(tokens, first: first, end: end)
        guard !body.isEmpty else {
            if f.hasReturnType && facts.language != .python {
                add("integrity/empty-returning-body", .high, line: f.facts.startLine,
                    "function '\(f.facts.name)' declares a return value but its body is empty")
            }
            return
        }
        if stubCall(f, tokens: tokens, first: first, end: end) { return }
        onlyStatementStub(f, tokens: tokens, body: body, first: first, end: end)
        constantReturn(f, tokens: tokens, body: body, end: end)
    }

    /// The first statements' tokens (up to 8, comments left out, a Python docstring too).
    func bodyTokens(_ tokens: [Token], first: Int, end: Int) -> [Int] {
        var body: [Int] = []
        if first < end {
            body.reserveCapacity(8)
            var k = first
            while k < end && body.count < 8 {
                if tokens[k].kind != .comment { body.append(k) }
                k += 1
            }
        }
        if facts.language == .python, let b = body.first, tokens[b].kind == .string { body.removeFirst() } // docstring
        return body
    }

    /// Whether a function in a test file is a test, by its language's convention.
    func isTestFunction(_ f: FunctionScanner.Built, tokens: [Token]) -> Bool {
        let name = f.facts.name
        let lowerName = name.lowercased()
        let attr = hasTestAttribute(tokens, before: f.introToken)
        switch facts.language {
        case .go: return name.hasPrefix("Test")
        case .rust, .java, .kotlin, .csharp: return attr
        // an XCTest method takes no parameters: `testX(_ value:)` is a helper
        case .swift: return attr || (lowerName.hasPrefix("test") && f.facts.params == 0 && !f.hasReturnType)
        // Python: a `def test_x` nested in another function is a callback, not a test
        case .python: return (attr || lowerName.hasPrefix("test"))
            && (lineText(f.facts.startLine).first.map { $0 != " " && $0 != "\t" } ?? true || pythonEnclosingClass(f) != nil)
        default: return attr || lowerName.hasPrefix("test") || name == "TEST" || name == "TEST_F" || name == "TEST_P"
        }
    }

    /// A function of a test file: whether it is a test, whether it asserts, and whether it calls
    /// anything that can fail.
    mutating func inspectTest(_ f: inout FunctionScanner.Built, tokens: [Token], first: Int, end: Int) {
        let isTestFn = isTestFunction(f, tokens: tokens)
        var k = first
        var found = false
        var calls = false
        while k < end {
            let t = tokens[k]
            if t.kind == .identifier && isAssertion(tokens, k) { found = true; break }
            if !calls { calls = mayFail(tokens, k, first: first, end: end) }
            k += 1
        }
        f.facts.hasAssertion = found
        if isTestFn {
            f.facts.isTest = true
            facts.tests += 1
        }
        testBodies.append(TestBody(name: f.facts.name, line: f.facts.startLine, isTest: isTestFn, asserts: found, calls: calls))
    }

    /// A call, or a member access (Python raises AttributeError, Swift may trap), can fail.
    func mayFail(_ tokens: [Token], _ k: Int, first: Int, end: Int) -> Bool {
        let t = tokens[k]
        if t.kind == .identifier && k + 1 < end
            && (tokens[k + 1].isPunct(B.lparen) || (facts.language == .swift && tokens[k + 1].isPunct(B.lbrace)))
            && !FileAnalyzer.inertCalls.contains(text(t)) { return true }
        return t.isPunct(B.dot) && k > first && tokens[k - 1].kind == .identifier && k + 1 < end
            && tokens[k + 1].kind == .identifier && text(tokens[k - 1]) != "self"
    }

    func isLiteral(_ t: Token) -> Bool {
        switch t.kind {
        case .number, .string: return true
        case .identifier:
            return t.hash == v.true_ || t.hash == v.false_ || t.hash == v.nil_ || t.hash == v.null || t.hash == v.none
                || t.hash == v.pyTrue || t.hash == v.pyFalse
        default: return false
        }
    }

    static let workVerbs = ["validate", "verify", "check", "compute", "calculate", "authenticate", "authorize",
                            "fetch", "load", "parse", "process", "send", "save", "sync", "encrypt", "decrypt", "sign",
                            "analyze", "analyse", "scan", "audit", "download", "upload", "sanitize", "normalize"]

    func promisesWork(_ name: String) -> Bool {
        let lower = name.lowercased()
        for verb in FileAnalyzer.workVerbs where lower.hasPrefix(verb) {
            let rest = name.dropFirst(verb.count)
            guard let c = rest.first else { return true }
            if c == "_" || c.isUppercase { return true }
        }
        return false
    }

    func hasTestAttribute(_ tokens: [Token], before intro: Int) -> Bool {
        var j = intro - 1
        var steps = 0
        while j >= 1 && steps < 24 {
            let t = tokens[j]
            if t.isPunct(B.rbrace) || t.isPunct(B.lbrace) || t.isPunct(B.semicolon) { return false }
            if t.kind == .identifier && (t.hash == v.Test || t.hash == v.test) {
                let p = tokens[j - 1]
                if p.isPunct(B.at) || p.isPunct(B.lbracket) || p.isPunct2(B.colon, B.colon) { return true }
            }
            j -= 1; steps += 1
        }
        return false
    }

    func decorated(_ tokens: [Token], before intro: Int, with words: [UInt64]) -> Bool {
        var j = intro - 1
        var steps = 0
        let introLine = tokens[intro].line
        while j >= 0 && steps < 16 {
            let t = tokens[j]
            if t.line < introLine - 4 { return false }
            if t.kind == .identifier && words.contains(t.hash) { return true }
            j -= 1; steps += 1
        }
        return false
    }

    // MARK: markers, test doubles: FileAnalyzer+Markers.swift; dangerous calls: FileAnalyzer+DangerousCalls.swift
    // MARK: public API documentation: FileAnalyzer+Documentation.swift

    // MARK: duplicate detection input

    mutating func duplicateHashes(_ tokens: [Token]) {
        let skipFirst: WordSet = [v.import_, v.include, v.using, v.package, v.from, v.use]
        var k = 0
        let n = tokens.count
        facts.dupHashes.reserveCapacity(Int(facts.codeLines))
        facts.dupLines.reserveCapacity(Int(facts.codeLines))
        while k < n {
            let line = tokens[k].line
            var h: UInt64 = 0xcbf2_9ce4_8422_2325
            var count = 0
            var substantive = false
            let first = k
            while k < n && tokens[k].line == line {
                let t = tokens[k]
                if t.kind != .comment {
                    count += 1
                    let th: UInt64 = t.kind == .string ? StableHash.of(buf, from: Int(t.start), to: Int(t.end)) : t.hash
                    h = (h ^ th) &* 0x0000_0100_0000_01b3
                    if t.kind == .identifier || t.kind == .string || t.kind == .number { substantive = true }
                }
                k += 1
            }
            let ft = tokens[first]
            if count >= 3 && substantive && !(ft.kind == .identifier && skipFirst.contains(ft.hash)) && ft.kind != .directive {
                facts.dupHashes.append(h)
                facts.dupLines.append(line)
            }
        }
    }
}

extension Vocabulary {
    var use: UInt64 { Vocabulary.h("use") }
}

extension String {
    var trimmed: String {
        var s = Substring(self)
        while let f = s.first, f.isWhitespace { s.removeFirst() }
        while let l = s.last, l.isWhitespace { s.removeLast() }
        return String(s)
    }
}
