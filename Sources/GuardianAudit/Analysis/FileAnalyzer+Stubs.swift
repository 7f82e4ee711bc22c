import GuardianCore

/// Stubs: bodies that only fail, only pass or only return a constant where the name promises work.
extension FileAnalyzer {
    /// Stub macros and calls anywhere in the body: `todo!()`, `unimplemented!()`, Kotlin `TODO()`,
    /// `NotImplementedException`. True when one was reported.
    mutating func stubCall(_ f: FunctionScanner.Built, tokens: [Token], first: Int, end: Int) -> Bool {
        let lang = facts.language
        guard lang == .rust || lang == .kotlin || lang == .csharp else { return false }
        let name = f.facts.name
        var k = first
        while k + 1 < end {
            let t = tokens[k], next = tokens[k + 1]
            k += 1
            guard t.kind == .identifier else { continue }
            if lang == .rust && (t.hash == v.todo || t.hash == v.unimplemented) && next.isPunct(B.bang) {
                add("integrity/stub-body", .high, line: t.line, "function '\(name)' contains \(text(t))!()")
                return true
            }
            if lang == .kotlin && t.hash == v.TODO && next.isPunct(B.lparen) {
                add("integrity/stub-body", .high, line: t.line, "function '\(name)' calls TODO()")
                return true
            }
            if lang == .csharp && t.hash == v.NotImplementedException {
                add("integrity/stub-body", .high, line: t.line, "function '\(name)' throws NotImplementedException")
                return true
            }
        }
        return false
    }

    /// Only-statement stubs. Not stubs: abstract hooks a subclass overrides (a method that only
    /// raises NotImplementedError, @abstractmethod), no-op hooks (a pass-only method), members that
    /// must exist but are unsupported by design (`init?(coder:)`, `@available(*, unavailable)`, a
    /// fatalError or UnsupportedOperationException that says why), @overload signatures.
    mutating func onlyStatementStub(_ f: FunctionScanner.Built, tokens: [Token], body: [Int], first: Int, end: Int) {
        switch facts.language {
        case .swift: swiftStub(f, tokens: tokens, body: body)
        case .python: pythonStub(f, tokens: tokens, body: body, end: end)
        case .go: goStub(f, tokens: tokens, first: first, end: end)
        case .java, .javascript, .typescript, .csharp, .kotlin, .cpp: throwStub(f, tokens: tokens, body: body)
        default: break
        }
    }

    mutating func swiftStub(_ f: FunctionScanner.Built, tokens: [Token], body: [Int]) {
        let t0 = tokens[body[0]], bodyLen = body.count
        guard (t0.isIdent(v.fatalError) || t0.isIdent(v.preconditionFailure)) && bodyLen <= 4 && !unsupportedByDesign(tokens, f) else { return }
        // a member of a non-public type is called only by the module's own code: a bare
        // fatalError() there marks a path the module never takes (an internal Decoder's
        // superDecoder, a child channel's bind0), not work left undone
        if (bodyLen == 3 && !insideHiddenSwiftType(tokens, before: f.introToken)) || (bodyLen >= 4 && saysNotImplemented(tokens[body[2]])) {
            add("integrity/stub-body", .high, line: t0.line, "function '\(f.facts.name)' is a stub: \(lineText(t0.line).trimmed)")
        }
    }

    mutating func pythonStub(_ f: FunctionScanner.Built, tokens: [Token], body: [Int], end: Int) {
        let t0 = tokens[body[0]], name = f.facts.name
        let method = isPythonMethod(f)
        let abstract = decorated(tokens, before: f.introToken, with: [v.abstractmethod, v.overload])
        if t0.isIdent(v.raise) && body.count >= 2 && tokens[body[1]].isIdent(v.NotImplementedError) && !method && !abstract
            && onlyStatement(tokens, body, end: end) {
            add("integrity/stub-body", .high, line: t0.line, "function '\(name)' raises NotImplementedError")
            return
        }
        guard (t0.isIdent(v.pass) || t0.isPunct(B.dot)) && onlyStatement(tokens, body, end: end) && (!method || f.hasReturnType)
                && !name.hasPrefix("__") && !abstract else { return }
        // a method returning Optional[…] whose body is `pass` returns None: a base-class default
        // that subclasses override (click's Parameter.get_help_record)
        let arrow = (f.introToken..<body[0]).first { tokens[$0].isPunct(B.minus) && $0 + 1 < tokens.count && tokens[$0 + 1].isPunct(B.gt) }
            ?? (f.introToken..<body[0]).first { tokens[$0].hash == UInt64(B.minus) | UInt64(B.gt) << 8 }
        let returnsOptional = method && arrow.map { a in (a..<body[0]).contains { ["Optional", "None"].contains(text(tokens[$0])) } } == true
        if f.hasReturnType && returnsOptional { return }
        if f.hasReturnType {
            add("integrity/empty-returning-body", .high, line: t0.line,
                "function '\(name)' declares a return value but its body is only '\(text(t0))'")
        } else {
            add("integrity/stub-body", .medium, line: t0.line, "function '\(name)' has a pass-only body")
        }
    }

    /// Go: `panic("TODO")` anywhere in the body, also after an early return.
    mutating func goStub(_ f: FunctionScanner.Built, tokens: [Token], first: Int, end: Int) {
        var j = first
        while j + 2 < end {
            if tokens[j].isIdent(v.panic) && tokens[j + 1].isPunct(B.lparen) && tokens[j + 2].kind == .string && saysNotImplemented(tokens[j + 2]) {
                add("integrity/stub-body", .high, line: tokens[j].line, "function '\(f.facts.name)' panics as not implemented")
                return
            }
            j += 1
        }
    }

    /// `throw new NotImplementedException()`; an UnsupportedOperationException with a message of
    /// its own ("immutable") is how a member unsupported by design says so; bare, or saying "not
    /// implemented", it is a stub.
    mutating func throwStub(_ f: FunctionScanner.Built, tokens: [Token], body: [Int]) {
        let t0 = tokens[body[0]], bodyLen = body.count
        guard t0.isIdent(v.throw_) && bodyLen >= 3 && tokens[body[1]].isIdent(v.new_) else { return }
        let ex = tokens[body[2]]
        let message = bodyLen >= 5 && tokens[body[4]].kind == .string ? tokens[body[4]] : nil
        let says = message.map(saysNotImplemented) ?? false
        if ex.isIdent(v.NotImplementedException) || (ex.isIdent(v.UnsupportedOperationException) && (message == nil || says))
            || (ex.isIdent(v.Error) && says) {
            add("integrity/stub-body", .high, line: t0.line, "function '\(f.facts.name)' only throws \(text(ex))")
        }
    }

    /// A constant return where the name promises work (`validate…` that returns `true`).
    mutating func constantReturn(_ f: FunctionScanner.Built, tokens: [Token], body: [Int], end: Int) {
        let name = f.facts.name, lang = facts.language
        guard promisesWork(name) else { return }
        var b = body
        if let last = b.last, tokens[last].isPunct(B.semicolon) { b.removeLast() }
        var lit: Token?
        if b.count >= 2 && tokens[b[0]].isIdent(v.return_) && isLiteral(tokens[b[1]]) && (b.count == 2 || closesBody(tokens, b[1], end: end)) {
            lit = tokens[b[1]]
        } else if lang == .swift || lang == .rust, b.count >= 1, isLiteral(tokens[b[0]]), closesBody(tokens, b[0], end: end) {
            lit = tokens[b[0]]
        }
        if let lit, onlyStatement(tokens, body, end: end) || closesBody(tokens, body.last!, end: end) {
            add("integrity/constant-return", .medium, line: lit.line, "function '\(name)' only returns the constant \(text(lit))")
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
}
