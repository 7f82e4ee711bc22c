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
        let lang = facts.language
        var first = f.bodyStart + 1
        if lang == .python { first = pyBodyFirst }
        let end = min(f.bodyEnd, tokens.count)
        var body: [Int] = []
        if first < end {
            body.reserveCapacity(8)
            var k = first
            while k < end && body.count < 8 {
                if tokens[k].kind != .comment { body.append(k) }
                k += 1
            }
        }
        if lang == .python, let b = body.first, tokens[b].kind == .string { body.removeFirst() } // docstring
        // Python functions end at dedent: keep only the body's own tokens
        let name = f.facts.name
        if isTest {
            let lowerName = name.lowercased()
            let attr = hasTestAttribute(tokens, before: f.introToken)
            let isTestFn: Bool
            switch lang {
            case .go: isTestFn = name.hasPrefix("Test")
            case .rust, .java, .kotlin, .csharp: isTestFn = attr
            // an XCTest method takes no parameters: `testX(_ value:)` is a helper
            case .swift: isTestFn = attr || (lowerName.hasPrefix("test") && f.facts.params == 0 && !f.hasReturnType)
            // Python: a `def test_x` nested in another function is a callback, not a test
            case .python: isTestFn = (attr || lowerName.hasPrefix("test"))
                && (lineText(f.facts.startLine).first.map { $0 != " " && $0 != "\t" } ?? true || pythonEnclosingClass(f) != nil)
            default: isTestFn = attr || lowerName.hasPrefix("test") || name == "TEST" || name == "TEST_F" || name == "TEST_P"
            }
            var k = first
            var found = false
            var calls = false
            while k < end {
                let t = tokens[k]
                if t.kind == .identifier && isAssertion(tokens, k) { found = true; break }
                // a call, or a member access (Python raises AttributeError, Swift may trap), can fail
                if !calls && t.kind == .identifier && k + 1 < end
                    && (tokens[k + 1].isPunct(B.lparen) || (lang == .swift && tokens[k + 1].isPunct(B.lbrace)))
                    && !FileAnalyzer.inertCalls.contains(text(t)) { calls = true }
                if !calls && t.isPunct(B.dot) && k > first && tokens[k - 1].kind == .identifier && k + 1 < end
                    && tokens[k + 1].kind == .identifier && text(tokens[k - 1]) != "self" { calls = true }
                k += 1
            }
            f.facts.hasAssertion = found
            if isTestFn {
                f.facts.isTest = true
                facts.tests += 1
            }
            testBodies.append(TestBody(name: name, line: f.facts.startLine, isTest: isTestFn, asserts: found, calls: calls))
            return
        }
        guard !body.isEmpty else {
            if f.hasReturnType && (lang != .python) {
                add("integrity/empty-returning-body", .high, line: f.facts.startLine,
                    "function '\(name)' declares a return value but its body is empty")
            }
            return
        }
        let t0 = tokens[body[0]]
        let bodyLen = body.count
        // stub macros and calls anywhere in the body: todo!(), unimplemented!(), Kotlin TODO(), NotImplementedException
        var k = first
        while k + 1 < end {
            let t = tokens[k]
            if t.kind == .identifier {
                let next = tokens[k + 1]
                if lang == .rust && (t.hash == v.todo || t.hash == v.unimplemented) && next.isPunct(B.bang) {
                    add("integrity/stub-body", .high, line: t.line, "function '\(name)' contains \(text(t))!()")
                    return
                }
                if lang == .kotlin && t.hash == v.TODO && next.isPunct(B.lparen) {
                    add("integrity/stub-body", .high, line: t.line, "function '\(name)' calls TODO()")
                    return
                }
                if lang == .csharp && t.hash == v.NotImplementedException {
                    add("integrity/stub-body", .high, line: t.line, "function '\(name)' throws NotImplementedException")
                    return
                }
            }
            k += 1
        }
        // only-statement stubs. Not stubs: abstract hooks a subclass overrides (a method that only
        // raises NotImplementedError, @abstractmethod), no-op hooks (a pass-only method), members
        // that must exist but are unsupported by design (`init?(coder:)`, `@available(*, unavailable)`,
        // a fatalError or UnsupportedOperationException that says why), @overload signatures.
        switch lang {
        case .swift:
            if (t0.isIdent(v.fatalError) || t0.isIdent(v.preconditionFailure)) && bodyLen <= 4 && !unsupportedByDesign(tokens, f) {
                // a member of a non-public type is called only by the module's own code: a bare
                // fatalError() there marks a path the module never takes (an internal Decoder's
                // superDecoder, a child channel's bind0), not work left undone
                if (bodyLen == 3 && !insideHiddenSwiftType(tokens, before: f.introToken)) || (bodyLen >= 4 && saysNotImplemented(tokens[body[2]])) {
                    add("integrity/stub-body", .high, line: t0.line, "function '\(name)' is a stub: \(lineText(t0.line).trimmed)")
                }
            }
        case .python:
            let method = isPythonMethod(f)
            if t0.isIdent(v.raise) && bodyLen >= 2 && tokens[body[1]].isIdent(v.NotImplementedError) && !method
                && !decorated(tokens, before: f.introToken, with: [v.abstractmethod, v.overload]) && onlyStatement(tokens, body, end: end) {
                add("integrity/stub-body", .high, line: t0.line, "function '\(name)' raises NotImplementedError")
            } else if (t0.isIdent(v.pass) || t0.isPunct(B.dot)) && onlyStatement(tokens, body, end: end) && (!method || f.hasReturnType)
                        && !name.hasPrefix("__") && !decorated(tokens, before: f.introToken, with: [v.abstractmethod, v.overload]) {
                // a method returning Optional[…] whose body is `pass` returns None: a base-class
                // default that subclasses override (click's Parameter.get_help_record)
                let arrow = (f.introToken..<body[0]).first { tokens[$0].isPunct(B.minus) && $0 + 1 < tokens.count && tokens[$0 + 1].isPunct(B.gt) }
                    ?? (f.introToken..<body[0]).first { tokens[$0].hash == UInt64(B.minus) | UInt64(B.gt) << 8 }
                let returnsOptional = method && arrow.map { a in (a..<body[0]).contains { ["Optional", "None"].contains(text(tokens[$0])) } } == true
                if f.hasReturnType && returnsOptional {
                    // nothing to report
                } else if f.hasReturnType {
                    add("integrity/empty-returning-body", .high, line: t0.line,
                        "function '\(name)' declares a return value but its body is only '\(text(t0))'")
                } else {
                    add("integrity/stub-body", .medium, line: t0.line, "function '\(name)' has a pass-only body")
                }
            }
        case .go:
            // panic("TODO") anywhere in the body, also after an early return
            var j = first
            while j + 2 < end {
                if tokens[j].isIdent(v.panic) && tokens[j + 1].isPunct(B.lparen) && tokens[j + 2].kind == .string && saysNotImplemented(tokens[j + 2]) {
                    add("integrity/stub-body", .high, line: tokens[j].line, "function '\(name)' panics as not implemented")
                    break
                }
                j += 1
            }
        case .java, .javascript, .typescript, .csharp, .kotlin, .cpp:
            if t0.isIdent(v.throw_) && bodyLen >= 3 && tokens[body[1]].isIdent(v.new_) {
                let ex = tokens[body[2]]
                // UnsupportedOperationException with a message of its own ("immutable") is how a member
                // unsupported by design says so; bare, or saying "not implemented", it is a stub
                let message = bodyLen >= 5 && tokens[body[4]].kind == .string ? tokens[body[4]] : nil
                let says = message.map(saysNotImplemented) ?? false
                if ex.isIdent(v.NotImplementedException) || (ex.isIdent(v.UnsupportedOperationException) && (message == nil || says))
                    || (ex.isIdent(v.Error) && says) {
                    add("integrity/stub-body", .high, line: t0.line, "function '\(name)' only throws \(text(ex))")
                }
            }
        default:
            break
        }
        // constant return where the name promises work
        if promisesWork(name) {
            var b = body
            if let last = b.last, tokens[last].isPunct(B.semicolon) { b.removeLast() }
            var lit: Token?
            if b.count >= 2 && tokens[b[0]].isIdent(v.return_) && isLiteral(tokens[b[1]]) && (b.count == 2 || closesBody(tokens, b[1], end: end)) {
                lit = tokens[b[1]]
            } else if lang == .swift || lang == .rust, b.count >= 1, isLiteral(tokens[b[0]]), closesBody(tokens, b[0], end: end) {
                lit = tokens[b[0]]
            }
            if let lit, onlyStatement(tokens, body, end: end) || closesBody(tokens, body.last!, end: end) {
                add("integrity/constant-return", .medium, line: lit.line,
                    "function '\(name)' only returns the constant \(text(lit))")
            }
        }
    }

    /// A Swift member that exists because a protocol or superclass demands it and is unsupported by
    /// design: `init(coder:)`, or one marked `@available(…, unavailable)`.
    func unsupportedByDesign(_ tokens: [Token], _ f: FunctionScanner.Built) -> Bool {
        if f.facts.name == "init" && lineText(f.facts.startLine).contains("coder") { return true }
        var j = f.introToken - 1, steps = 0
        while j >= 0 && steps < 24 {
            let t = tokens[j]
            if t.isPunct(B.lbrace) || t.isPunct(B.rbrace) { return false }
            if t.kind == .identifier && text(t) == "unavailable" { return true }
            j -= 1; steps += 1
        }
        return false
    }

    /// Whether a Python function is a method: a less indented `class` line encloses its `def`.
    func isPythonMethod(_ f: FunctionScanner.Built) -> Bool {
        func indent(_ s: String) -> Int { s.prefix { $0 == " " || $0 == "\t" }.count }
        let own = indent(lineText(f.facts.startLine))
        guard own > 0 else { return false }
        var l = f.facts.startLine - 1
        while l >= 1 {
            let s = lineText(l)
            let trimmed = s.drop { $0 == " " || $0 == "\t" }
            if !trimmed.isEmpty, !trimmed.hasPrefix("#"), !trimmed.hasPrefix("@"), indent(s) < own {
                return trimmed.hasPrefix("class ")
            }
            l -= 1
        }
        return false
    }

    func closesBody(_ tokens: [Token], _ k: Int, end: Int) -> Bool {
        var j = k + 1
        while j < end {
            let t = tokens[j]
            if t.kind == .comment || t.isPunct(B.semicolon) { j += 1; continue }
            return false
        }
        return true
    }

    func onlyStatement(_ tokens: [Token], _ body: [Int], end: Int) -> Bool {
        // the first statement is the last one: everything after it is on its line
        guard let first = body.first else { return true }
        let line = tokens[first].line
        var j = first
        while j < end {
            let t = tokens[j]
            if t.kind != .comment && t.line != line && t.endLine != line {
                if facts.language == .python { return false }
                if !(t.isPunct(B.rbrace)) { return false }
            }
            j += 1
        }
        return true
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
        let skipFirst: Set<UInt64> = [v.import_, v.include, v.using, v.package, v.from, v.use]
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
