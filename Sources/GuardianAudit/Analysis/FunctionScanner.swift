import GuardianCore

/// Finds functions in a C-like token stream and measures each one: cyclomatic complexity
/// (1 + decision points, counted like lizard), parameters, nesting depth and length.
/// Closures count towards their enclosing function; nested named functions are their own.
struct FunctionScanner {
    struct Built {
        var facts: FunctionFacts
        var nameToken: Int
        var introToken: Int
        var bodyStart: Int = -1
        var bodyEnd: Int = -1
        var hasReturnType: Bool
    }

    private struct Frame {
        var isFunction: Bool
        var isProtocol: Bool
        var outerFunction: Int
        var depthInFunction: Int32
    }

    static let sourceLocationWords: Set<String> = ["file", "fileID", "filePath", "line", "column", "function", "isolation"]

    private struct Pending {
        var introToken: Int
        var nameToken: Int
        var name: String
        var line: Int32
        var parenBase: Int
        var braceDepth: Int
        enum State { case beforeParams, inParams, afterParams }
        var state: State = .beforeParams
        var commas: Int32 = 0
        var paramTokens: Int32 = 0
        /// Swift parameters that default to the caller's source location (`line: UInt = #line`):
        /// the compiler fills them in, no caller passes them.
        var sourceLocationParams: Int32 = 0
        var returnType = false
        var goReceiverPending = false
    }

    let tokens: [Token]
    let buf: UnsafeBufferPointer<UInt8>
    let language: Language
    let v = Vocabulary.shared
    private(set) var functions: [Built] = []

    init(tokens: [Token], buffer: UnsafeBufferPointer<UInt8>, language: Language) {
        self.tokens = tokens
        self.buf = buffer
        self.language = language
    }

    func text(_ t: Token) -> String {
        String(decoding: UnsafeBufferPointer(rebasing: buf[Int(t.start)..<Int(t.end)]), as: UTF8.self)
    }

    private func prevIsDot(_ k: Int) -> Bool {
        k > 0 && (tokens[k - 1].isPunct(B.dot) || tokens[k - 1].isPunct2(B.question, B.dot))
    }

    mutating func run() {
        let isSwift = language == .swift
        let isGo = language == .go
        let isKotlin = language == .kotlin
        let genericHeuristic: Bool
        switch language {
        case .c, .cpp, .objc, .java, .csharp, .javascript, .typescript: genericHeuristic = true
        default: genericHeuristic = false
        }
        let countTernary: Bool
        switch language {
        case .c, .cpp, .objc, .java, .csharp, .javascript, .typescript: countTernary = true
        default: countTernary = false
        }
        let introWords: Set<UInt64>
        switch language {
        case .swift, .go: introWords = [v.func_]
        case .rust: introWords = [v.fn]
        case .kotlin: introWords = [v.fun]
        case .javascript, .typescript: introWords = [v.function]
        default: introWords = []
        }
        var decision: Set<UInt64> = [v.if_, v.for_, v.while_, v.case_]
        switch language {
        case .swift: decision.formUnion([v.catch_, v.guard_])
        case .rust: decision.remove(v.case_)
        case .kotlin: decision.formUnion([v.catch_, v.when]); decision.remove(v.case_)
        case .go: break
        default: decision.insert(v.catch_)
        }
        let controlWords = v.controlWords
        // Statements whose `{` opens a nested block; any other `{` in a function (a closure, a
        // trailing closure, a `defer`) nests nothing a reader follows, as ESLint's max-depth counts.
        // Only each language's keywords: `loop`, `match`, `with` … are plain names elsewhere.
        var blockWords: Set<UInt64> = [v.if_, v.else_, v.for_, v.while_, v.switch_]
        switch language {
        case .swift: blockWords.formUnion([v.do_, v.guard_, v.catch_, Vocabulary.h("repeat")])
        case .go: blockWords.insert(Vocabulary.h("select"))
        case .rust: blockWords.formUnion([v.loop, v.match])
        case .kotlin: blockWords.formUnion([v.do_, v.when, v.try_, v.catch_, Vocabulary.h("finally")])
        case .java: blockWords.formUnion([v.do_, v.try_, v.catch_, Vocabulary.h("finally"), v.synchronized])
        case .csharp: blockWords.formUnion([v.do_, v.try_, v.catch_, Vocabulary.h("finally"), v.foreach, v.lock, v.using])
        case .javascript, .typescript: blockWords.formUnion([v.do_, v.try_, v.catch_, Vocabulary.h("finally"), v.with])
        default: blockWords.formUnion([v.do_, v.try_, v.catch_])
        }
        var blockAt: Int? // the paren depth at which a block statement's `{` is expected

        var stack: [Frame] = []
        var current = -1
        var parenDepth = 0
        var pending: Pending?
        var protocolPending = false

        let n = tokens.count
        var k = 0
        while k < n {
            let t = tokens[k]
            switch t.kind {
            case .identifier:
                let h = t.hash
                let inProtocol = stack.last?.isProtocol ?? false
                if introWords.contains(h) && !prevIsDot(k) && !inProtocol && !(k > 0 && tokens[k - 1].isIdent(v.import_)) {
                    var p = Pending(introToken: k, nameToken: k, name: "(anonymous)", line: t.line,
                                    parenBase: parenDepth, braceDepth: stack.count)
                    if k + 1 < n {
                        let nt = tokens[k + 1]
                        if isGo && nt.isPunct(B.lparen) {
                            p.goReceiverPending = true
                        } else if nt.kind == .identifier || (isSwift && nt.kind == .punct && !nt.isPunct(B.lparen)
                                                                && !nt.isPunct(B.lt)) {
                            p.nameToken = k + 1
                            p.name = nameText(from: k + 1)
                        }
                    }
                    pending = p
                } else if isSwift && (h == v.init_ || h == v.subscript_) && !prevIsDot(k) && !inProtocol
                            && !(k + 1 < n && tokens[k + 1].isPunct(B.colon)) {
                    pending = Pending(introToken: k, nameToken: k, name: text(t), line: t.line,
                                      parenBase: parenDepth, braceDepth: stack.count)
                } else if isSwift && h == v.protocol_ && !prevIsDot(k) {
                    protocolPending = true
                } else if decision.contains(h) && current >= 0 {
                    if isSwift && isArgumentLabel(k) {
                    } else if prevIsDot(k) {
                    } else {
                        functions[current].facts.ccn += 1
                        if h == v.case_ { functions[current].facts.switchCases += 1 }
                    }
                } else if let p = pending, p.goReceiverPending == false, p.state == .beforeParams,
                          p.nameToken == p.introToken, introWords.contains(tokens[p.introToken].hash), isGo {
                    // Go: name after the receiver `func (r T) Name(`
                    pending?.nameToken = k
                    pending?.name = text(t)
                }
                if current >= 0 && blockWords.contains(h) && !prevIsDot(k) && !(isSwift && isArgumentLabel(k)) {
                    blockAt = parenDepth
                    if h == v.switch_ || (isGo && h == Vocabulary.h("select")) { functions[current].facts.switches += 1 }
                }
                if var p = pending, p.state == .inParams, parenDepth == p.parenBase + 1 {
                    p.paramTokens += 1
                    if isSwift && k > 0 && tokens[k - 1].isPunct(B.hash) && Self.sourceLocationWords.contains(text(t)) {
                        p.sourceLocationParams += 1
                    }
                    pending = p
                }
            case .punct:
                let h = t.hash
                if h == UInt64(B.lparen) || h == UInt64(B.lbracket) {
                    if var p = pending, parenDepth == p.parenBase, h == UInt64(B.lparen) {
                        if p.goReceiverPending {
                            p.goReceiverPending = false
                            p.state = .beforeParams
                            // skip receiver group entirely
                            var depth = 0
                            var j = k
                            while j < n {
                                if tokens[j].isPunct(B.lparen) { depth += 1 }
                                if tokens[j].isPunct(B.rparen) { depth -= 1; if depth == 0 { break } }
                                j += 1
                            }
                            if j + 1 < n && tokens[j + 1].kind == .identifier {
                                p.nameToken = j + 1
                                p.name = text(tokens[j + 1])
                            }
                            pending = p
                            k = j + 1
                            continue
                        } else if p.state == .beforeParams {
                            p.state = .inParams
                            pending = p
                        }
                    }
                    parenDepth += 1
                } else if h == UInt64(B.rparen) || h == UInt64(B.rbracket) {
                    parenDepth = max(0, parenDepth - 1)
                    if var p = pending, p.state == .inParams, parenDepth == p.parenBase {
                        p.state = .afterParams; pending = p
                    }
                } else if h == UInt64(B.comma) {
                    if var p = pending, p.state == .inParams, parenDepth == p.parenBase + 1 {
                        p.commas += 1; pending = p
                    }
                } else if h == UInt64(B.minus) | UInt64(B.gt) << 8 {
                    if var p = pending, p.state == .afterParams { p.returnType = true; pending = p }
                } else if h == UInt64(B.colon) {
                    if var p = pending, p.state == .afterParams, language == .typescript || isKotlin {
                        p.returnType = true; pending = p
                    }
                } else if h == UInt64(B.lbrace) {
                    var opened = false
                    if let p = pending, parenDepth == p.parenBase, p.braceDepth == stack.count,
                       p.state == .afterParams || (p.state == .beforeParams && (isSwift || isGo) && p.name != "(anonymous)") {
                        // Go: a result type sits between the parameters' ')' and '{'
                        let ret = p.returnType || (isGo && p.state == .afterParams && !tokens[k - 1].isPunct(B.rparen))
                        // Swift `init`/`subscript` always take parameters: a `{` before them is not a body.
                        if !(isSwift && p.state == .beforeParams) {
                            openFunction(name: p.name, line: p.line, intro: p.introToken, nameToken: p.nameToken,
                                         params: p.paramTokens == 0 ? 0 : p.commas + 1 - p.sourceLocationParams, returnType: ret,
                                         brace: k, stack: &stack, current: &current)
                            opened = true
                        }
                        pending = nil
                    } else if isSwift, pending == nil || parenDepth != pending!.parenBase,
                              let acc = swiftAccessor(before: k) {
                        openFunction(name: text(tokens[acc]), line: tokens[acc].line, intro: acc, nameToken: acc,
                                     params: 0, returnType: false, brace: k, stack: &stack, current: &current)
                        opened = true
                    } else if isSwift && k > 0 && tokens[k - 1].isIdent(v.deinit_) && !prevIsDot(k - 1) {
                        openFunction(name: "deinit", line: tokens[k - 1].line, intro: k - 1, nameToken: k - 1,
                                     params: 0, returnType: false, brace: k, stack: &stack, current: &current)
                        opened = true
                    } else if genericHeuristic, pending == nil || pending!.state != .inParams,
                              let g = genericFunction(before: k, controlWords: controlWords) {
                        openFunction(name: text(tokens[g.name]), line: tokens[g.name].line, intro: g.name,
                                     nameToken: g.name, params: g.params, returnType: g.returns, brace: k,
                                     stack: &stack, current: &current)
                        opened = true
                        pending = nil
                    }
                    if !opened {
                        // a `{` inside the statement's parentheses (a closure argument) leaves it pending
                        let isBlock = blockAt == parenDepth
                        if isBlock { blockAt = nil }
                        let depth = (stack.last.map { $0.isFunction ? 0 : $0.depthInFunction } ?? 0) + (isBlock || current < 0 ? 1 : 0)
                        let isProto = protocolPending && parenDepth == 0
                        protocolPending = false
                        stack.append(Frame(isFunction: false, isProtocol: isProto, outerFunction: current,
                                           depthInFunction: current >= 0 ? depth : 0))
                        if current >= 0 && depth > functions[current].facts.maxNesting {
                            functions[current].facts.maxNesting = depth
                        }
                    }
                } else if h == UInt64(B.rbrace) {
                    if let f = stack.popLast() {
                        if f.isFunction && current >= 0 {
                            functions[current].facts.endLine = t.line
                            functions[current].bodyEnd = k
                        }
                        current = f.outerFunction
                    }
                    if let p = pending, stack.count < p.braceDepth { pending = nil }
                    parenDepth = 0
                } else if h == UInt64(B.semicolon) {
                    blockAt = nil
                    if let p = pending, parenDepth == p.parenBase { pending = nil }
                } else if h == UInt64(B.eq) {
                    if let p = pending, p.state == .afterParams, parenDepth == p.parenBase, isKotlin || language == .rust {
                        pending = nil
                    }
                } else if current >= 0 {
                    if h == UInt64(B.amp) | UInt64(B.amp) << 8 || h == UInt64(B.pipe) | UInt64(B.pipe) << 8 {
                        functions[current].facts.ccn += 1
                    } else if h == UInt64(B.question) {
                        if (isSwift && t.spaceBefore) || countTernary {
                            functions[current].facts.ccn += 1
                        }
                    }
                }
                if var p = pending, p.state == .inParams, parenDepth == p.parenBase + 1,
                   !(h == UInt64(B.comma) || h == UInt64(B.lparen)) {
                    p.paramTokens += 1; pending = p
                }
            case .directive:
                if current >= 0 && (language == .c || language == .cpp || language == .objc) && isConditionalDirective(t) {
                    functions[current].facts.ccn += 1
                }
            default:
                if var p = pending, p.state == .inParams, parenDepth == p.parenBase + 1 {
                    p.paramTokens += 1; pending = p
                }
            }
            k += 1
        }
        // Unclosed functions (truncated file) end at the last token.
        let lastLine = tokens.last?.endLine ?? 1
        for idx in functions.indices where functions[idx].bodyEnd < 0 {
            functions[idx].facts.endLine = lastLine
            functions[idx].bodyEnd = n
        }
    }

    private mutating func openFunction(name: String, line: Int32, intro: Int, nameToken: Int, params: Int32,
                                       returnType: Bool, brace: Int, stack: inout [Frame], current: inout Int) {
        var sig = StableHash()
        sig.add(name)
        sig.add(word: UInt64(UInt32(bitPattern: params)))
        let facts = FunctionFacts(name: name, startLine: line, endLine: line, ccn: 1, params: params, maxNesting: 0,
                                  signatureHash: sig.value, isTest: false, hasAssertion: false)
        functions.append(Built(facts: facts, nameToken: nameToken, introToken: intro, bodyStart: brace,
                               hasReturnType: returnType))
        stack.append(Frame(isFunction: true, isProtocol: false, outerFunction: current, depthInFunction: 0))
        current = functions.count - 1
    }

    /// Swift: `(if: x)` and `, for: y` use keywords as argument labels; they are not decisions.
    private func isArgumentLabel(_ k: Int) -> Bool {
        guard k > 0, k + 1 < tokens.count else { return false }
        let prev = tokens[k - 1]
        return tokens[k + 1].isPunct(B.colon) && (prev.isPunct(B.lparen) || prev.isPunct(B.comma))
    }

    private func nameText(from k: Int) -> String {
        let t = tokens[k]
        if t.kind == .punct {
            // operator functions: join adjacent punctuation
            var s = ""
            var j = k
            while j < tokens.count && tokens[j].kind == .punct && !tokens[j].isPunct(B.lparen)
                    && !tokens[j].isPunct(B.lt) && (j == k || !tokens[j].spaceBefore) {
                s += text(tokens[j]); j += 1
            }
            return s
        }
        return text(t)
    }

    private func isConditionalDirective(_ t: Token) -> Bool {
        var j = Int(t.start) + 1
        let end = Int(t.end)
        while j < end && B.isSpace(buf[j]) { j += 1 }
        guard j + 1 < end, buf[j] == 105 /* i */ || buf[j] == 101 /* e */ else { return false }
        // #if, #ifdef, #ifndef, #elif
        if buf[j] == 105 && buf[j + 1] == 102 { return true }
        if j + 3 < end && buf[j] == 101 && buf[j + 1] == 108 && buf[j + 2] == 105 && buf[j + 3] == 102 { return true }
        return false
    }

    /// Swift accessors: `get {`, `set {`, `set(v) {`, `willSet {`, `didSet {`, `get async throws {`.
    private func swiftAccessor(before k: Int) -> Int? {
        var j = k - 1
        guard j >= 0 else { return nil }
        // effects after get
        var sawEffects = false
        while j >= 0 && (tokens[j].isIdent(v.async_) || tokens[j].isIdent(v.throws_)) { j -= 1; sawEffects = true }
        if j >= 0 && tokens[j].isPunct(B.rparen) && !sawEffects {
            // set(newValue) {
            guard j >= 2, tokens[j - 1].kind == .identifier, tokens[j - 2].isPunct(B.lparen), j >= 3 else { return nil }
            let a = tokens[j - 3]
            guard a.isIdent(v.set) || a.isIdent(v.willSet) || a.isIdent(v.didSet) else { return nil }
            return (j - 3 > 0 && tokens[j - 4].isPunct(B.dot)) ? nil : j - 3
        }
        guard j >= 0 else { return nil }
        let a = tokens[j]
        guard a.kind == .identifier else { return nil }
        let ok = sawEffects ? a.isIdent(v.get)
            : (a.isIdent(v.get) || a.isIdent(v.set) || a.isIdent(v.willSet) || a.isIdent(v.didSet))
        guard ok else { return nil }
        if j > 0 && (tokens[j - 1].isPunct(B.dot) || tokens[j - 1].isPunct(B.comma) || tokens[j - 1].isPunct(B.lparen)) {
            return nil
        }
        // must be inside a declaration body: previous token is `{`, `}`, or a modifier/attribute
        if j > 0 {
            let p = tokens[j - 1]
            if !(p.isPunct(B.lbrace) || p.isPunct(B.rbrace) || p.kind == .identifier || p.kind == .comment
                 || p.isPunct(B.rparen)) {
                return nil
            }
        }
        return j
    }

    struct Generic { var name: Int; var params: Int32; var returns: Bool }

    /// C, C++, Java, C#, JS/TS: `name(params) qualifiers {` where name is not a control word.
    private func genericFunction(before k: Int, controlWords: Set<UInt64>) -> Generic? {
        var j = k - 1
        var steps = 0
        while j >= 0 && steps < 24 {
            let t = tokens[j]
            if t.isPunct(B.rparen) { break }
            if t.kind == .comment { j -= 1; continue }
            if t.kind == .identifier || t.isPunct(B.colon) || t.isPunct2(B.colon, B.colon) || t.isPunct(B.star)
                || t.isPunct(B.amp) || t.isPunct(B.lt) || t.isPunct(B.gt) || t.isPunct(B.comma) || t.isPunct(B.dot)
                || t.isPunct(B.lbracket) || t.isPunct(B.rbracket) || t.isPunct(B.question) || t.isPunct(B.pipe) {
                if t.isPunct2(B.eq, B.gt) { return nil }
                j -= 1; steps += 1; continue
            }
            if t.isPunct2(B.minus, B.gt) && language == .cpp { j -= 1; steps += 1; continue }
            return nil
        }
        guard j >= 0, tokens[j].isPunct(B.rparen) else { return nil }
        // match back to '('
        var depth = 0
        var commas: Int32 = 0
        var inner: Int32 = 0
        var m = j
        while m >= 0 {
            let t = tokens[m]
            if t.isPunct(B.rparen) { depth += 1 } else if t.isPunct(B.lparen) {
                depth -= 1
                if depth == 0 { break }
            } else if depth == 1 {
                if t.isPunct(B.comma) { commas += 1 } else if t.kind != .comment { inner += 1 }
            } else if t.isPunct(B.lbrace) || t.isPunct(B.rbrace) || t.isPunct(B.semicolon) {
                return nil
            }
            m -= 1
        }
        guard m > 0 else { return nil }
        var nameIdx = m - 1
        // Java generic method `<T> void name(`; C++ templates `name<T>(`
        if tokens[nameIdx].isPunct(B.gt) {
            var d = 0
            var q = nameIdx
            while q >= 0 {
                if tokens[q].isPunct(B.gt) { d += 1 } else if tokens[q].isPunct(B.lt) { d -= 1; if d == 0 { break } }
                q -= 1
            }
            nameIdx = q - 1
            guard nameIdx >= 0 else { return nil }
        }
        let name = tokens[nameIdx]
        if name.isIdent(v.function) {
            return Generic(name: nameIdx, params: inner == 0 ? 0 : commas + 1, returns: false)
        }
        guard name.kind == .identifier, !controlWords.contains(name.hash) else { return nil }
        if nameIdx > 0 {
            let before = tokens[nameIdx - 1]
            if before.isIdent(v.new_) || before.isPunct(B.eq) || before.isPunct(B.lparen) || before.isPunct(B.comma)
                || before.isPunct(B.question) || before.isPunct(B.colon) && language != .cpp
                || before.isIdent(v.return_) || before.isPunct2(B.eq, B.gt) {
                return nil
            }
            if before.isPunct(B.dot) && language != .javascript && language != .typescript { return nil }
            if before.isPunct(B.dot) { return nil }
        }
        var returns = false
        if nameIdx > 0 {
            let before = tokens[nameIdx - 1]
            if before.kind == .identifier && !v.nonReturningModifiers.contains(before.hash) { returns = true }
            if before.isPunct(B.star) || before.isPunct(B.amp) || before.isPunct(B.gt) { returns = true }
        }
        if language == .javascript || language == .typescript {
            returns = false
            if language == .typescript, j + 1 < k, tokens[j + 1].isPunct(B.colon) {
                let rt = tokens[j + 2]
                returns = !(rt.isIdent(v.void_) || rt.isIdent(Vocabulary.h("Promise")))
            }
        }
        return Generic(name: nameIdx, params: inner == 0 ? 0 : commas + 1, returns: returns)
    }
}
