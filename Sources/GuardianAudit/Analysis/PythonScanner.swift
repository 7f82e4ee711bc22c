import GuardianCore

/// Finds `def` functions in Python by indentation and measures them like lizard:
/// 1 + if, elif, for, while, except, finally, and, or.
struct PythonScanner {
    let tokens: [Token]
    let buf: UnsafeBufferPointer<UInt8>
    let lineStarts: [Int32]
    let v = Vocabulary.shared
    private(set) var functions: [FunctionScanner.Built] = []
    /// Token index of the first token of the function body, for stub detection.
    private(set) var bodyFirst: [Int] = []

    init(tokens: [Token], buffer: UnsafeBufferPointer<UInt8>, lineStarts: [Int32]) {
        self.tokens = tokens; self.buf = buffer; self.lineStarts = lineStarts
    }

    func column(_ t: Token) -> Int32 { t.start - lineStarts[Int(t.line) - 1] }

    private struct Open { var fn: Int; var indent: Int32; var levels: [Int32] }
    /// The functions whose bodies the scan is in, innermost last.
    private var open: [Open] = []
    private static let decisions: WordSet = {
        let v = Vocabulary.shared
        return [v.if_, v.elif, v.for_, v.while_, v.except, Vocabulary.h("finally"), v.and, v.or]
    }()

    mutating func run() {
        let heads = logicalLineHeads()
        var headPos = 0
        for k in 0..<tokens.count {
            let t = tokens[k]
            let isHead = headPos < heads.count && heads[headPos] == k
            if isHead {
                headPos += 1
                startLine(at: k, indent: column(t))
            }
            // Any line of a function extends it.
            if isHead || t.kind != .comment {
                for o in open { functions[o.fn].facts.endLine = max(functions[o.fn].facts.endLine, t.endLine) }
            }
            guard t.kind == .identifier else { continue }
            if t.hash == v.def && (isHead || (k > 0 && tokens[k - 1].isIdent(v.async_))) && k + 1 < tokens.count {
                define(at: k, head: isHead ? t : tokens[k - 1])
            } else if Self.decisions.contains(t.hash), let o = open.last {
                functions[o.fn].facts.ccn += 1
            }
        }
    }

    /// The first token of each logical line (outside brackets), skipping comments.
    private func logicalLineHeads() -> [Int] {
        var heads: [Int] = []
        var depth = 0
        var lastLine: Int32 = -1
        for (k, t) in tokens.enumerated() where t.kind != .comment {
            if t.line != lastLine && depth == 0 { heads.append(k) }
            lastLine = t.endLine
            guard t.kind == .punct else { continue }
            if t.isPunct(B.lparen) || t.isPunct(B.lbracket) || t.isPunct(B.lbrace) { depth += 1 }
            if t.isPunct(B.rparen) || t.isPunct(B.rbracket) || t.isPunct(B.rbrace) { depth = max(0, depth - 1) }
        }
        return heads
    }

    /// A logical line at `indent`: functions indented as deep or deeper end, and the innermost one's
    /// nesting follows the indentation levels inside it.
    private mutating func startLine(at k: Int, indent: Int32) {
        while let o = open.last, indent <= o.indent {
            functions[o.fn].bodyEnd = k
            open.removeLast()
        }
        guard var o = open.last else { return }
        while let l = o.levels.last, indent <= l { o.levels.removeLast() }
        o.levels.append(indent)
        let nest = Int32(o.levels.count) - 1
        if nest > functions[o.fn].facts.maxNesting { functions[o.fn].facts.maxNesting = nest }
        open[open.count - 1] = o
    }

    /// `def name(params) -> T:` at token `k`; `head` is the line's first token (`def` or `async`).
    private mutating func define(at k: Int, head: Token) {
        let t = tokens[k]
        let nameTok = tokens[k + 1]
        let name = String(decoding: UnsafeBufferPointer(rebasing: buf[Int(nameTok.start)..<Int(nameTok.end)]), as: UTF8.self)
        let (params, afterParams) = parameters(from: k + 2, def: k)
        let (colon, returns) = bodyColon(from: afterParams)
        var sig = StableHash()
        sig.add(name)
        sig.add(word: UInt64(UInt32(bitPattern: params)))
        let facts = FunctionFacts(name: name, startLine: t.line, endLine: t.line, ccn: 1, params: params,
                                  maxNesting: 0, signatureHash: sig.value, isTest: false, hasAssertion: false)
        let n = tokens.count
        functions.append(FunctionScanner.Built(facts: facts, nameToken: k + 1, introToken: k,
                                               bodyStart: min(colon, n), bodyEnd: n, hasReturnType: returns))
        bodyFirst.append(min(colon + 1, n))
        open.append(Open(fn: functions.count - 1, indent: column(head), levels: []))
    }

    /// The parameters a caller passes (not `self` or `cls`), and the token after the list.
    private func parameters(from start: Int, def k: Int) -> (Int32, Int) {
        let n = tokens.count
        var j = start
        var d = 0, commas: Int32 = 0, inner: Int32 = 0
        while j < n {
            let p = tokens[j]
            if p.isPunct(B.lparen) || p.isPunct(B.lbracket) { d += 1 } else if p.isPunct(B.rparen) || p.isPunct(B.rbracket) {
                d -= 1
                if d == 0 { j += 1; break }
            } else if d == 1 {
                if p.isPunct(B.comma) { commas += 1 } else { inner += 1 }
            }
            j += 1
        }
        // trailing comma: `def f(a, b,)`
        if inner > 0 && j >= 2 && tokens[j - 2].isPunct(B.comma) { commas -= 1 }
        var params = inner == 0 ? 0 : commas + 1
        if params > 0, k + 3 < n, tokens[k + 3].kind == .identifier {
            let first = tokens[k + 3]
            if first.hash == v.self_ || first.hash == Vocabulary.h("cls") { params -= 1 }
        }
        return (params, j)
    }

    /// The `:` that opens the body, and whether a return annotation other than `None` comes before it.
    private func bodyColon(from start: Int) -> (Int, Bool) {
        let n = tokens.count
        var colon = start
        var returns = false
        while colon < n && !tokens[colon].isPunct(B.colon) {
            if tokens[colon].isPunct2(B.minus, B.gt) { returns = !(colon + 1 < n && tokens[colon + 1].isIdent(v.none)) }
            colon += 1
        }
        return (colon, returns)
    }
}
