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

    func isAssertion(_ tokens: [Token], _ k: Int) -> Bool {
        let t = tokens[k]
        for w in FileAnalyzer.assertWords where startsWith(t, w) { return true }
        if contains(tokenRange(t), Array("assert".utf8)) || contains(tokenRange(t), Array("expect".utf8)) { return true }
        // Swift: a test fails when what it `try`s throws: that is its assertion (not `try?`)
        if facts.language == .swift && t.hash == v.try_ && !(k + 1 < tokens.count && tokens[k + 1].isPunct(B.question)) { return true }
        // Swift Testing: Issue.record(…)
        if k >= 2 && tokens[k - 1].isPunct(B.dot) && text(t) == "record" && text(tokens[k - 2]) == "Issue" { return true }
        // Go: t.Error, t.Errorf, t.Fatal, t.Fatalf
        if facts.language == .go && k > 0 && tokens[k - 1].isPunct(B.dot) {
            if startsWith(t, Array("error".utf8)) || startsWith(t, Array("fatal".utf8)) { return true }
        }
        // Rust: panic! in a test is an assertion; Python: `pytest.raises`, `assert` keyword matched above
        return false
    }

    // MARK: comments: placeholder markers

    static let markers: [(bytes: [UInt8], severity: Severity, ascii: Bool)] = [
        // Markers are info (docs/precision.md); 仮実装 ("provisional implementation") says the code
        // is a stand-in, which is a defect claim.
        (Array("TODO".utf8), .info, true), (Array("FIXME".utf8), .info, true), (Array("HACK".utf8), .info, true),
        (Array("XXX".utf8), .info, true), (Array("仮実装".utf8), .high, false), (Array("後で".utf8), .info, false),
    ]

    mutating func markers(_ tokens: [Token]) {
        for t in tokens where t.kind == .comment { scanMarkers(Int(t.start)..<Int(t.end)) }
    }

    mutating func scanMarkers(_ range: Range<Int>) {
        var k = range.lowerBound
        let end = range.upperBound
        var seenLines = Set<Int32>()
        while k < end {
            let b = buf[k]
            if b == 84 || b == 70 || b == 72 || b == 88 || b >= 0xE0 { // T F H X or multibyte lead
                for m in FileAnalyzer.markers where m.bytes[0] == b && k + m.bytes.count <= end {
                    var ok = true
                    for j in 1..<m.bytes.count where buf[k + j] != m.bytes[j] { ok = false; break }
                    guard ok else { continue }
                    if m.ascii {
                        let before = k > 0 ? buf[k - 1] : 32
                        let after = k + m.bytes.count < buf.count ? buf[k + m.bytes.count] : 32
                        if B.isIdentChar(before) && before < 0x80 { continue }
                        if B.isIdentChar(after) && after < 0x80 { continue }
                    }
                    let line = lineOf(offset: k)
                    if seenLines.insert(line).inserted {
                        let word = String(decoding: m.bytes, as: UTF8.self)
                        add("integrity/placeholder-marker", m.severity, line: line,
                            column: Int32(k) - lineStarts[Int(line) - 1] + 1,
                            "placeholder marker \(word): \(lineText(line).trimmed.prefix(120))")
                    }
                    k += m.bytes.count - 1
                    break
                }
            }
            k += 1
        }
    }

    // MARK: test files: JS/TS tests (skipped tests: FileAnalyzer+SkippedTests.swift)

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

    // MARK: production code: dangerous calls, test doubles

    struct CallPattern {
        enum Part {
            case identHash(UInt64), punct(UInt8), punct2(UInt8, UInt8), shellString
            static func ident(_ word: String) -> Part { .identHash(StableHash.of(word)) }
            /// The token hash the part matches first (identifier hash or punctuation byte).
            var firstHash: UInt64? {
                switch self {
                case .identHash(let h): h
                case .punct(let c): UInt64(c)
                default: nil
                }
            }
        }
        var parts: [Part]
        var severity: Severity
        var message: String
        var bareCall = true
        var tight = false
        var fix: (String, String)? = nil
    }

    static let patterns: [Language: [CallPattern]] = {
        typealias P = CallPattern
        let swift: [P] = [
            // Info: whether the call can fail or the layout matches is not decidable from the
            // code alone (docs/precision.md).
            P(parts: [.ident("try"), .punct(B.bang)], severity: .info,
              message: "try! crashes the process on error; use do/catch or try?", bareCall: false, tight: true),
            P(parts: [.ident("unsafeBitCast"), .punct(B.lparen)], severity: .info,
              message: "unsafeBitCast bypasses type safety"),
            P(parts: [.ident("system"), .punct(B.lparen)], severity: .high, message: "system() runs a shell command"),
        ]
        let python: [P] = [
            P(parts: [.ident("eval"), .punct(B.lparen)], severity: .high, message: "eval() executes arbitrary code"),
            P(parts: [.ident("exec"), .punct(B.lparen)], severity: .high, message: "exec() executes arbitrary code"),
            P(parts: [.ident("os"), .punct(B.dot), .ident("system"), .punct(B.lparen)], severity: .high,
              message: "os.system() runs a shell; use subprocess.run([...]) without a shell", bareCall: false),
            P(parts: [.ident("os"), .punct(B.dot), .ident("popen"), .punct(B.lparen)], severity: .high,
              message: "os.popen() runs a shell; use subprocess.run([...])", bareCall: false),
            P(parts: [.ident("shell"), .punct(B.eq), .ident("True")], severity: .high,
              message: "shell=True passes input to a shell; pass an argument list instead", bareCall: false),
            P(parts: [.ident("pickle"), .punct(B.dot), .ident("loads"), .punct(B.lparen)], severity: .medium,
              message: "pickle.loads() on untrusted data executes code", bareCall: false),
            P(parts: [.ident("yaml"), .punct(B.dot), .ident("load"), .punct(B.lparen)], severity: .medium,
              message: "yaml.load() can construct arbitrary objects; use yaml.safe_load()", bareCall: false,
              fix: ("yaml.load(", "yaml.safe_load(")),
        ]
        let js: [P] = [
            P(parts: [.ident("eval"), .punct(B.lparen)], severity: .high, message: "eval() executes arbitrary code"),
            P(parts: [.ident("new"), .ident("Function"), .punct(B.lparen)], severity: .high,
              message: "new Function() executes arbitrary code", bareCall: false),
            P(parts: [.ident("execSync"), .punct(B.lparen)], severity: .medium,
              message: "execSync() runs a shell command; use execFileSync with an argument list", bareCall: false),
            P(parts: [.punct(B.dot), .ident("innerHTML"), .punct(B.eq)], severity: .medium,
              message: "assigning innerHTML enables XSS; use textContent", bareCall: false),
            P(parts: [.ident("document"), .punct(B.dot), .ident("write"), .punct(B.lparen)], severity: .medium,
              message: "document.write() enables XSS", bareCall: false),
            P(parts: [.ident("dangerouslySetInnerHTML")], severity: .medium,
              message: "dangerouslySetInnerHTML enables XSS", bareCall: false),
        ]
        let go: [P] = [
            P(parts: [.ident("exec"), .punct(B.dot), .ident("Command"), .punct(B.lparen), .shellString], severity: .high,
              message: "exec.Command with a shell runs arbitrary commands; pass the program and arguments", bareCall: false),
            P(parts: [.ident("template"), .punct(B.dot), .ident("HTML"), .punct(B.lparen)], severity: .medium,
              message: "template.HTML() disables escaping", bareCall: false),
        ]
        let rust: [P] = [
            P(parts: [.ident("unsafe"), .punct(B.lbrace)], severity: .low, message: "unsafe block", bareCall: false),
        ]
        let java: [P] = [
            P(parts: [.ident("Runtime"), .punct(B.dot), .ident("getRuntime"), .punct(B.lparen), .punct(B.rparen),
                      .punct(B.dot), .ident("exec"), .punct(B.lparen)], severity: .high,
              message: "Runtime.exec() runs external commands", bareCall: false),
        ]
        let c: [P] = [
            P(parts: [.ident("gets"), .punct(B.lparen)], severity: .critical, message: "gets() cannot bound its input; use fgets()",
              fix: ("gets(", "fgets(")),
            P(parts: [.ident("strcpy"), .punct(B.lparen)], severity: .medium, message: "strcpy() does not bound the copy; use strlcpy/strncpy"),
            P(parts: [.ident("strcat"), .punct(B.lparen)], severity: .medium, message: "strcat() does not bound the copy; use strlcat/strncat"),
            P(parts: [.ident("sprintf"), .punct(B.lparen)], severity: .medium, message: "sprintf() does not bound the output; use snprintf()",
              fix: ("sprintf(", "snprintf(")),
            P(parts: [.ident("vsprintf"), .punct(B.lparen)], severity: .medium, message: "vsprintf() does not bound the output; use vsnprintf()"),
            P(parts: [.ident("system"), .punct(B.lparen)], severity: .high, message: "system() runs a shell command"),
            P(parts: [.ident("popen"), .punct(B.lparen)], severity: .medium, message: "popen() runs a shell command"),
        ]
        let cs: [P] = [
            P(parts: [.ident("Process"), .punct(B.dot), .ident("Start"), .punct(B.lparen)], severity: .low,
              message: "Process.Start() runs external commands", bareCall: false),
        ]
        return [.swift: swift, .python: python, .javascript: js, .typescript: js, .go: go, .rust: rust,
                .java: java, .kotlin: java, .c: c, .cpp: c, .objc: c, .csharp: cs]
    }()

    func matches(_ p: CallPattern, _ tokens: [Token], at k: Int) -> Bool {
        guard k + p.parts.count <= tokens.count else { return false }
        for (o, part) in p.parts.enumerated() {
            let t = tokens[k + o]
            switch part {
            case .identHash(let h): if !(t.kind == .identifier && t.hash == h) { return false }
            case .punct(let c): if !t.isPunct(c) { return false }
            case .punct2(let a, let b): if !t.isPunct2(a, b) { return false }
            case .shellString:
                guard t.kind == .string else { return false }
                let s = text(t)
                if !["\"sh\"", "\"bash\"", "\"/bin/sh\"", "\"/bin/bash\"", "\"zsh\"", "\"cmd\""].contains(s) { return false }
            }
            if p.tight && o > 0 && t.spaceBefore { return false }
        }
        if p.bareCall && k > 0 {
            let prev = tokens[k - 1]
            if prev.isPunct(B.dot) || prev.isIdent(v.func_) || prev.isIdent(v.def) || prev.isIdent(v.function)
                || prev.isIdent(v.fn) { return false }
        }
        return true
    }

    /// Patterns of each language indexed by the hash of their first token, built once.
    static let patternIndex: [Language: [UInt64: [Int]]] = patterns.mapValues { list in
        var index: [UInt64: [Int]] = [:]
        for (i, p) in list.enumerated() { if let h = p.parts[0].firstHash { index[h, default: []].append(i) } }
        return index
    }

    mutating func dangerousCalls(_ tokens: [Token]) {
        guard let list = FileAnalyzer.patterns[facts.language], let index = FileAnalyzer.patternIndex[facts.language] else { return }
        let outsideAPI = PathRules.isOutsideAPI(path)
        for k in 0..<tokens.count {
            let t = tokens[k]
            guard t.kind == .identifier || t.kind == .punct, let cs = index[t.hash] else { continue }
            for i in cs where matches(list[i], tokens, at: k) {
                let p = list[i]
                guard let judged = judgeDangerousCall(p, tokens, at: k, outsideAPI: outsideAPI) else { break }
                add("strict/dangerous-call", judged.severity, line: t.line, column: t.start - lineStarts[Int(t.line) - 1] + 1,
                    judged.message, fixOriginal: p.fix?.0, fixReplacement: p.fix?.1)
                break
            }
        }
    }

    mutating func testDoubles(_ tokens: [Token]) {
        var lines = Set<Int32>()
        // a type named Mock… that production code declares and documents is an adapter by design
        // (requests' MockRequest for http.cookiejar): only doubles declared elsewhere are reported
        let declaring: Set<UInt64> = [v.class_, v.struct_, v.enum_, v.actor, v.interface, v.type, v.protocol_]
        var declared = Set<String>()
        for k in 1..<max(1, tokens.count) where tokens[k].kind == .identifier && tokens[k - 1].kind == .identifier
            && declaring.contains(tokens[k - 1].hash) { declared.insert(text(tokens[k])) }
        let prefixes: [[UInt8]] = [Array("Mock".utf8), Array("Fake".utf8), Array("Stub".utf8)]
        for t in tokens where t.kind == .identifier && t.end - t.start > 4 {
            let b0 = buf[Int(t.start)]
            guard b0 == 77 || b0 == 70 || b0 == 83 else { continue } // M F S
            for p in prefixes where startsWith(t, p, caseInsensitive: false) {
                let next = buf[Int(t.start) + 4]
                if next >= 65 && next <= 90, !declared.contains(text(t)), lines.insert(t.line).inserted {
                    add("integrity/test-double-in-production", .high, line: t.line,
                        column: t.start - lineStarts[Int(t.line) - 1] + 1,
                        "test double '\(text(t))' used in production code")
                }
            }
        }
    }

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
