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
    let rules: ScanRules
    let v = Vocabulary.shared
    private(set) var functions: [Built] = []

    // The scan's state: the open braces, the function being measured (an index into `functions`,
    // -1 outside any), the parenthesis depth, a signature being read, and the token.
    private var stack: [Frame] = []
    private var current = -1
    private var parenDepth = 0
    private var pending: Pending?
    private var protocolPending = false
    /// The paren depth at which a block statement's `{` is expected.
    private var blockAt: Int?
    private var k = 0

    static let arrow = UInt64(B.minus) | UInt64(B.gt) << 8
    static let and = UInt64(B.amp) | UInt64(B.amp) << 8
    static let or = UInt64(B.pipe) | UInt64(B.pipe) << 8

    init(tokens: [Token], buffer: UnsafeBufferPointer<UInt8>, language: Language) {
        self.tokens = tokens
        self.buf = buffer
        self.language = language
        rules = ScanRules.of(language)
    }

    func text(_ t: Token) -> String {
        String(decoding: UnsafeBufferPointer(rebasing: buf[Int(t.start)..<Int(t.end)]), as: UTF8.self)
    }

    private func prevIsDot(_ k: Int) -> Bool {
        k > 0 && (tokens[k - 1].isPunct(B.dot) || tokens[k - 1].isPunct2(B.question, B.dot))
    }

    mutating func run() {
        let n = tokens.count
        k = 0
        while k < n {
            let t = tokens[k]
            switch t.kind {
            case .identifier: identifier(t)
            case .punct: if punct(t) { continue }
            case .directive:
                if current >= 0 && rules.conditionalDirectives && isConditionalDirective(t) { functions[current].facts.ccn += 1 }
            default: countParameterToken()
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

    // MARK: identifiers

    private mutating func identifier(_ t: Token) {
        let h = t.hash
        word(t, h)
        if current >= 0 && rules.blockWords.contains(h) && !prevIsDot(k) && !(rules.isSwift && isArgumentLabel(k)) {
            blockAt = parenDepth
            if h == v.switch_ || (rules.isGo && h == rules.select) { functions[current].facts.switches += 1 }
        }
        if var p = pending, p.state == .inParams, parenDepth == p.parenBase + 1 {
            p.paramTokens += 1
            if rules.isSwift && k > 0 && tokens[k - 1].isPunct(B.hash) && Self.sourceLocationWords.contains(text(t)) {
                p.sourceLocationParams += 1
            }
            pending = p
        }
    }

    /// What a word starts or counts: a signature (`func`, Swift's `init` and `subscript`), a
    /// protocol body, a decision, or a Go method's name after its receiver.
    private mutating func word(_ t: Token, _ h: UInt64) {
        let inProtocol = stack.last?.isProtocol ?? false
        if rules.introWords.contains(h) && !prevIsDot(k) && !inProtocol && !(k > 0 && tokens[k - 1].isIdent(v.import_)) {
            pending = introduced(t)
        } else if rules.isSwift && (h == v.init_ || h == v.subscript_) && !prevIsDot(k) && !inProtocol
                    && !(k + 1 < tokens.count && tokens[k + 1].isPunct(B.colon)) {
            pending = Pending(introToken: k, nameToken: k, name: text(t), line: t.line, parenBase: parenDepth, braceDepth: stack.count)
        } else if rules.isSwift && h == v.protocol_ && !prevIsDot(k) {
            protocolPending = true
        } else if rules.decision.contains(h) && current >= 0 {
            countDecision(h)
        } else if rules.isGo {
            nameAfterGoReceiver(t)
        }
    }

    /// A signature that `func`, `fn`, `fun` or `function` starts.
    private func introduced(_ t: Token) -> Pending {
        var p = Pending(introToken: k, nameToken: k, name: "(anonymous)", line: t.line, parenBase: parenDepth, braceDepth: stack.count)
        guard k + 1 < tokens.count else { return p }
        let nt = tokens[k + 1]
        if rules.isGo && nt.isPunct(B.lparen) {
            p.goReceiverPending = true
        } else if nt.kind == .identifier || (rules.isSwift && nt.kind == .punct && !nt.isPunct(B.lparen) && !nt.isPunct(B.lt)) {
            p.nameToken = k + 1
            p.name = nameText(from: k + 1)
        }
        return p
    }

    private mutating func countDecision(_ h: UInt64) {
        if (rules.isSwift && isArgumentLabel(k)) || prevIsDot(k) { return }
        functions[current].facts.ccn += 1
        if h == v.case_ { functions[current].facts.switchCases += 1 }
    }

    /// Go: the name after the receiver, `func (r T) Name(`.
    private mutating func nameAfterGoReceiver(_ t: Token) {
        guard let p = pending, !p.goReceiverPending, p.state == .beforeParams, p.nameToken == p.introToken,
              rules.introWords.contains(tokens[p.introToken].hash) else { return }
        let name = text(t)
        pending?.nameToken = k
        pending?.name = name
    }

    // MARK: punctuation

    /// Handles one punctuation token; true when it moved past more tokens itself.
    private mutating func punct(_ t: Token) -> Bool {
        let h = t.hash
        switch h {
        case UInt64(B.lparen), UInt64(B.lbracket):
            if openParen(h) { return true }
        case UInt64(B.rparen), UInt64(B.rbracket):
            parenDepth = max(0, parenDepth - 1)
            if var p = pending, p.state == .inParams, parenDepth == p.parenBase { p.state = .afterParams; pending = p }
        case UInt64(B.comma):
            if var p = pending, p.state == .inParams, parenDepth == p.parenBase + 1 { p.commas += 1; pending = p }
        case Self.arrow:
            if var p = pending, p.state == .afterParams { p.returnType = true; pending = p }
        case UInt64(B.colon):
            if var p = pending, p.state == .afterParams, rules.colonReturnType { p.returnType = true; pending = p }
        case UInt64(B.lbrace):
            if !openFunctionBody() { openBlock() }
        case UInt64(B.rbrace):
            closeBrace(t)
        case UInt64(B.semicolon):
            blockAt = nil
            if let p = pending, parenDepth == p.parenBase { pending = nil }
        case UInt64(B.eq):
            if let p = pending, p.state == .afterParams, parenDepth == p.parenBase, rules.expressionBody { pending = nil }
        case Self.and, Self.or:
            if current >= 0 { functions[current].facts.ccn += 1 }
        case UInt64(B.question):
            if current >= 0 && ((rules.isSwift && t.spaceBefore) || rules.countTernary) { functions[current].facts.ccn += 1 }
        default:
            break
        }
        if h != UInt64(B.comma) && h != UInt64(B.lparen) { countParameterToken() }
        return false
    }

    private mutating func countParameterToken() {
        if var p = pending, p.state == .inParams, parenDepth == p.parenBase + 1 { p.paramTokens += 1; pending = p }
    }

    /// `(` or `[`; true when it skipped a Go receiver group.
    private mutating func openParen(_ h: UInt64) -> Bool {
        if var p = pending, parenDepth == p.parenBase, h == UInt64(B.lparen) {
            if p.goReceiverPending {
                skipGoReceiver(&p)
                return true
            } else if p.state == .beforeParams {
                p.state = .inParams
                pending = p
            }
        }
        parenDepth += 1
        return false
    }

    /// Go: `func (r T) Name(`: the receiver group is skipped whole, and the name after it taken.
    private mutating func skipGoReceiver(_ p: inout Pending) {
        p.goReceiverPending = false
        p.state = .beforeParams
        var depth = 0
        var j = k
        while j < tokens.count {
            if tokens[j].isPunct(B.lparen) { depth += 1 }
            if tokens[j].isPunct(B.rparen) { depth -= 1; if depth == 0 { break } }
            j += 1
        }
        if j + 1 < tokens.count && tokens[j + 1].kind == .identifier {
            p.nameToken = j + 1
            p.name = text(tokens[j + 1])
        }
        pending = p
        k = j + 1
    }

    /// A `{` that opens a function's body: after a signature, a Swift accessor or `deinit`, or a
    /// C-like `name(params) {`.
    private mutating func openFunctionBody() -> Bool {
        if let p = pending, parenDepth == p.parenBase, p.braceDepth == stack.count,
           p.state == .afterParams || (p.state == .beforeParams && (rules.isSwift || rules.isGo) && p.name != "(anonymous)") {
            pending = nil
            // Swift `init`/`subscript` always take parameters: a `{` before them is not a body.
            if rules.isSwift && p.state == .beforeParams { return false }
            // Go: a result type sits between the parameters' ')' and '{'
            let ret = p.returnType || (rules.isGo && p.state == .afterParams && !tokens[k - 1].isPunct(B.rparen))
            openFunction(name: p.name, line: p.line, intro: p.introToken, nameToken: p.nameToken,
                         params: p.paramTokens == 0 ? 0 : p.commas + 1 - p.sourceLocationParams, returnType: ret)
            return true
        }
        if rules.isSwift, pending == nil || parenDepth != pending!.parenBase, let acc = swiftAccessor(before: k) {
            openFunction(name: text(tokens[acc]), line: tokens[acc].line, intro: acc, nameToken: acc, params: 0, returnType: false)
            return true
        }
        if rules.isSwift && k > 0 && tokens[k - 1].isIdent(v.deinit_) && !prevIsDot(k - 1) {
            openFunction(name: "deinit", line: tokens[k - 1].line, intro: k - 1, nameToken: k - 1, params: 0, returnType: false)
            return true
        }
        if rules.genericHeuristic, pending == nil || pending!.state != .inParams, let g = genericFunction(before: k) {
            openFunction(name: text(tokens[g.name]), line: tokens[g.name].line, intro: g.name, nameToken: g.name,
                         params: g.params, returnType: g.returns)
            pending = nil
            return true
        }
        return false
    }

    /// Any other `{`: a block statement's nests one level; a `{` inside the statement's parentheses
    /// (a closure argument) leaves it pending.
    private mutating func openBlock() {
        let isBlock = blockAt == parenDepth
        if isBlock { blockAt = nil }
        let depth = (stack.last.map { $0.isFunction ? 0 : $0.depthInFunction } ?? 0) + (isBlock || current < 0 ? 1 : 0)
        let isProto = protocolPending && parenDepth == 0
        protocolPending = false
        stack.append(Frame(isFunction: false, isProtocol: isProto, outerFunction: current, depthInFunction: current >= 0 ? depth : 0))
        if current >= 0 && depth > functions[current].facts.maxNesting { functions[current].facts.maxNesting = depth }
    }

    private mutating func closeBrace(_ t: Token) {
        if let f = stack.popLast() {
            if f.isFunction && current >= 0 {
                functions[current].facts.endLine = t.line
                functions[current].bodyEnd = k
            }
            current = f.outerFunction
        }
        if let p = pending, stack.count < p.braceDepth { pending = nil }
        parenDepth = 0
    }

    private mutating func openFunction(name: String, line: Int32, intro: Int, nameToken: Int, params: Int32, returnType: Bool) {
        var sig = StableHash()
        sig.add(name)
        sig.add(word: UInt64(UInt32(bitPattern: params)))
        let facts = FunctionFacts(name: name, startLine: line, endLine: line, ccn: 1, params: params, maxNesting: 0,
                                  signatureHash: sig.value, isTest: false, hasAssertion: false)
        functions.append(Built(facts: facts, nameToken: nameToken, introToken: intro, bodyStart: k, hasReturnType: returnType))
        stack.append(Frame(isFunction: true, isProtocol: false, outerFunction: current, depthInFunction: 0))
        current = functions.count - 1
    }
}
