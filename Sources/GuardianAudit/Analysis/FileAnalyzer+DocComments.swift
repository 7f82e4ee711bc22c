import GuardianCore

/// Documentation comments before a declaration, and what kind of Swift block a declaration sits in.
extension FileAnalyzer {
    /// Whether a documentation comment (`///`, `/**`, `//!`) precedes the declaration at `k`,
    /// past its attributes, annotations and modifiers.
    func hasDocComment(_ tokens: [Token], before k: Int) -> Bool {
        var j = k - 1
        var steps = 0
        while j >= 0 && steps < 40 {
            let t = tokens[j]
            if t.kind == .comment {
                return startsWith(t, Array("///".utf8)) || startsWith(t, Array("/**".utf8)) || startsWith(t, Array("//!".utf8))
            }
            guard Self.mayPrecedeDeclaration(t) else { return false }
            if t.isPunct(B.rparen) { j = openingParen(tokens, closingAt: j) } // an attribute's argument list
            if t.kind == .identifier && j > 0 && !tokens[j - 1].isPunct(B.at) && !tokens[j - 1].isPunct(B.dot) && steps > 0 && !isModifier(t) {
                return false
            }
            j -= 1; steps += 1
        }
        return false
    }

    /// Tokens of attributes, annotations and modifiers between a comment and its declaration.
    static func mayPrecedeDeclaration(_ t: Token) -> Bool {
        if t.kind == .identifier || t.kind == .string || t.kind == .number { return true }
        return t.isPunct(B.at) || t.isPunct(B.rparen) || t.isPunct(B.lparen) || t.isPunct(B.comma) || t.isPunct(B.dot) || t.isPunct(B.hash)
            || t.isPunct(B.lbracket) || t.isPunct(B.rbracket) || t.isPunct(B.colon) || t.isPunct2(B.colon, B.colon) || t.isPunct(B.star)
            || t.isPunct(B.eq)
    }

    /// The index of the `(` that the `)` at `j` closes (or -1).
    func openingParen(_ tokens: [Token], closingAt j: Int) -> Int {
        var j = j, d = 0
        while j >= 0 {
            if tokens[j].isPunct(B.rparen) { d += 1 } else if tokens[j].isPunct(B.lparen) { d -= 1; if d == 0 { break } }
            j -= 1
        }
        return j
    }

    /// Whether the token at `k` is inside a Swift type declared without `public` or `open`.
    func insideHiddenSwiftType(_ tokens: [Token], before k: Int) -> Bool {
        guard facts.language == .swift else { return false }
        let protocols = declaredProtocols(tokens)
        var blocks: [SwiftBlock] = []
        for j in 0..<min(k, tokens.count) {
            if tokens[j].isPunct(B.lbrace) { blocks.append(swiftBlock(tokens, openingAt: j, protocols: protocols)) } else if tokens[j].isPunct(B.rbrace) { _ = blocks.popLast() }
        }
        return blocks.contains(.hidden)
    }

    enum SwiftBlock: Equatable {
        /// `extension T: P` (its members witness P), or `extension P` of a protocol declared in the
        /// file (default implementations)
        case witnesses
        /// a type declared without `public` or `open`: its members are not API
        case hidden
        /// a public type with a conformance list, or an extension of a type declared elsewhere: a
        /// member may witness a requirement
        case conforming
        case plainExtension
        case other
    }

    /// Classifies the block the `{` at `k` opens from its header: the nearest type keyword before it
    /// within the same statement.
    func swiftBlock(_ tokens: [Token], openingAt k: Int, protocols: Set<String>) -> SwiftBlock {
        var j = k - 1, steps = 0, colonSeen = false
        while j >= 0 && steps < 96 {
            let t = tokens[j]
            if t.isPunct(B.lbrace) || t.isPunct(B.rbrace) || t.isPunct(B.semicolon) { return .other }
            if t.isPunct(B.colon) { colonSeen = true }
            if t.kind == .identifier && t.hash == v.where_ { colonSeen = false }
            let member = j > 0 && tokens[j - 1].isPunct(B.dot)
            if t.kind == .identifier && !member, let block = headerBlock(tokens, wordAt: j, brace: k, colonSeen: colonSeen, protocols: protocols) {
                return block
            }
            j -= 1; steps += 1
        }
        return .other
    }

    static let typeWords: WordSet = {
        let v = Vocabulary.shared
        return [v.struct_, v.class_, v.enum_, v.actor, v.protocol_]
    }()

    /// What a word of a block's header says the block is; nil for a word that says nothing.
    func headerBlock(_ tokens: [Token], wordAt j: Int, brace k: Int, colonSeen: Bool, protocols: Set<String>) -> SwiftBlock? {
        let t = tokens[j]
        if t.hash == v.extension_ {
            if colonSeen { return .witnesses }
            return j + 1 < k && protocols.contains(text(tokens[j + 1])) ? .witnesses : .plainExtension
        }
        if t.hash == v.func_ || t.hash == v.init_ || t.hash == v.var_ || t.hash == v.let_ || t.hash == v.subscript_ { return .other }
        guard Self.typeWords.contains(t.hash) else { return nil }
        // `class func`/`class var` are members, not types
        if t.hash == v.class_ && j + 1 < k && tokens[j + 1].kind == .identifier && isModifierOrDeclarationWord(tokens[j + 1]) { return .other }
        guard declaredPublic(tokens, keywordAt: j) else { return .hidden }
        return colonSeen && t.hash != v.protocol_ ? .conforming : .other
    }

    func isModifierOrDeclarationWord(_ t: Token) -> Bool {
        isModifier(t) || t.hash == v.func_ || t.hash == v.var_ || t.hash == v.let_ || t.hash == v.subscript_
    }
}
