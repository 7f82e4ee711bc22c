/// The scanner's look-behinds: from a `{`, whether what precedes it is a function's signature.
extension FunctionScanner {
    /// Swift: `(if: x)` and `, for: y` use keywords as argument labels; they are not decisions.
    func isArgumentLabel(_ k: Int) -> Bool {
        guard k > 0, k + 1 < tokens.count else { return false }
        let prev = tokens[k - 1]
        return tokens[k + 1].isPunct(B.colon) && (prev.isPunct(B.lparen) || prev.isPunct(B.comma))
    }

    func nameText(from k: Int) -> String {
        let t = tokens[k]
        guard t.kind == .punct else { return text(t) }
        // operator functions: join adjacent punctuation
        var s = ""
        var j = k
        while j < tokens.count && tokens[j].kind == .punct && !tokens[j].isPunct(B.lparen)
                && !tokens[j].isPunct(B.lt) && (j == k || !tokens[j].spaceBefore) {
            s += text(tokens[j]); j += 1
        }
        return s
    }

    /// `#if`, `#ifdef`, `#ifndef`, `#elif`.
    func isConditionalDirective(_ t: Token) -> Bool {
        var j = Int(t.start) + 1
        let end = Int(t.end)
        while j < end && B.isSpace(buf[j]) { j += 1 }
        guard j + 1 < end else { return false }
        if buf[j] == UInt8(ascii: "i") && buf[j + 1] == UInt8(ascii: "f") { return true }
        return j + 3 < end && buf[j] == UInt8(ascii: "e") && buf[j + 1] == UInt8(ascii: "l") && buf[j + 2] == UInt8(ascii: "i")
            && buf[j + 3] == UInt8(ascii: "f")
    }

    /// Swift accessors: `get {`, `set {`, `set(v) {`, `willSet {`, `didSet {`, `get async throws {`.
    func swiftAccessor(before k: Int) -> Int? {
        var j = k - 1
        guard j >= 0 else { return nil }
        var sawEffects = false
        while j >= 0 && (tokens[j].isIdent(v.async_) || tokens[j].isIdent(v.throws_)) { j -= 1; sawEffects = true }
        if j >= 0 && tokens[j].isPunct(B.rparen) && !sawEffects { return setterWithParameter(closing: j) }
        guard j >= 0, isAccessorWord(tokens[j], afterEffects: sawEffects) else { return nil }
        return accessorStandsAlone(j) ? j : nil
    }

    /// `set(newValue) {`, `willSet(v) {`: the accessor word, given the `)`.
    private func setterWithParameter(closing j: Int) -> Int? {
        guard j >= 3, tokens[j - 1].kind == .identifier, tokens[j - 2].isPunct(B.lparen) else { return nil }
        let a = tokens[j - 3]
        guard a.isIdent(v.set) || a.isIdent(v.willSet) || a.isIdent(v.didSet) else { return nil }
        return (j - 3 > 0 && tokens[j - 4].isPunct(B.dot)) ? nil : j - 3
    }

    private func isAccessorWord(_ a: Token, afterEffects: Bool) -> Bool {
        guard a.kind == .identifier else { return false }
        if afterEffects { return a.isIdent(v.get) }
        return a.isIdent(v.get) || a.isIdent(v.set) || a.isIdent(v.willSet) || a.isIdent(v.didSet)
    }

    /// An accessor sits in a declaration's body: after `{`, `}`, a modifier or an attribute, never
    /// after `.`, `,` or `(` (a member or an argument of that name).
    private func accessorStandsAlone(_ j: Int) -> Bool {
        guard j > 0 else { return true }
        let p = tokens[j - 1]
        if p.isPunct(B.dot) || p.isPunct(B.comma) || p.isPunct(B.lparen) { return false }
        return p.isPunct(B.lbrace) || p.isPunct(B.rbrace) || p.kind == .identifier || p.kind == .comment || p.isPunct(B.rparen)
    }

    struct Generic { var name: Int; var params: Int32; var returns: Bool }

    /// C, C++, Java, C#, JS/TS: `name(params) qualifiers {` where name is not a control word.
    func genericFunction(before k: Int) -> Generic? {
        guard let close = closingParen(before: k), let (open, params) = parameters(closedAt: close), open > 0,
              let nameIdx = nameIndex(before: open) else { return nil }
        let name = tokens[nameIdx]
        if name.isIdent(v.function) { return Generic(name: nameIdx, params: params, returns: false) }
        guard name.kind == .identifier, !rules.controlWords.contains(name.hash), !isCallOrExpression(nameIdx) else { return nil }
        return Generic(name: nameIdx, params: params, returns: returnsValue(nameIdx, close: close, brace: k))
    }

    /// The `)` of the parameter list before `{`, past qualifiers (`const`, `throws X`, `-> T` in C++).
    private func closingParen(before k: Int) -> Int? {
        var j = k - 1
        var steps = 0
        while j >= 0 && steps < 24 {
            let t = tokens[j]
            if t.isPunct(B.rparen) { return j }
            if t.kind == .comment { j -= 1; continue }
            if t.isPunct2(B.eq, B.gt) { return nil }
            guard isQualifierToken(t) || (t.isPunct2(B.minus, B.gt) && language == .cpp) else { return nil }
            j -= 1; steps += 1
        }
        return nil
    }

    private func isQualifierToken(_ t: Token) -> Bool {
        t.kind == .identifier || t.isPunct(B.colon) || t.isPunct2(B.colon, B.colon) || t.isPunct(B.star)
            || t.isPunct(B.amp) || t.isPunct(B.lt) || t.isPunct(B.gt) || t.isPunct(B.comma) || t.isPunct(B.dot)
            || t.isPunct(B.lbracket) || t.isPunct(B.rbracket) || t.isPunct(B.question) || t.isPunct(B.pipe)
    }

    /// The matching `(` and the parameter count; nil when a `{`, `}` or `;` sits inside (not a list).
    private func parameters(closedAt j: Int) -> (open: Int, params: Int32)? {
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
        return m < 0 ? nil : (m, inner == 0 ? 0 : commas + 1)
    }

    /// The function's name before `(`, past template or generic arguments (`name<T>(`).
    private func nameIndex(before open: Int) -> Int? {
        let nameIdx = open - 1
        guard tokens[nameIdx].isPunct(B.gt) else { return nameIdx }
        var d = 0
        var q = nameIdx
        while q >= 0 {
            if tokens[q].isPunct(B.gt) { d += 1 } else if tokens[q].isPunct(B.lt) { d -= 1; if d == 0 { break } }
            q -= 1
        }
        return q - 1 >= 0 ? q - 1 : nil
    }

    /// `new X(…) {`, `= f(…) {`, `(f(…) {`, `.f(…) {`, `return f(…) {`: a call with a block or a
    /// lambda argument, not a definition.
    private func isCallOrExpression(_ nameIdx: Int) -> Bool {
        guard nameIdx > 0 else { return false }
        let before = tokens[nameIdx - 1]
        return before.isIdent(v.new_) || before.isPunct(B.eq) || before.isPunct(B.lparen) || before.isPunct(B.comma)
            || before.isPunct(B.question) || (before.isPunct(B.colon) && language != .cpp)
            || before.isIdent(v.return_) || before.isPunct2(B.eq, B.gt) || before.isPunct(B.dot)
    }

    /// Whether the definition declares a return value (a type before the name; TypeScript's `): T`).
    private func returnsValue(_ nameIdx: Int, close: Int, brace k: Int) -> Bool {
        if language == .javascript { return false }
        if language == .typescript {
            guard close + 1 < k, tokens[close + 1].isPunct(B.colon) else { return false }
            let rt = tokens[close + 2]
            return !(rt.isIdent(v.void_) || rt.isIdent(Vocabulary.h("Promise")))
        }
        guard nameIdx > 0 else { return false }
        let before = tokens[nameIdx - 1]
        if before.kind == .identifier && !v.nonReturningModifiers.contains(before.hash) { return true }
        return before.isPunct(B.star) || before.isPunct(B.amp) || before.isPunct(B.gt)
    }
}
