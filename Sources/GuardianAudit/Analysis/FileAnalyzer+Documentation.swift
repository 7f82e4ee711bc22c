import GuardianCore

/// Public API documentation. A finding is a declaration a library's users call that says nothing
/// about itself. Not counted: members that inherit their documentation (overrides, `@Override`,
/// the members of an `extension T: P` that witness the protocol, default implementations in an
/// extension of a protocol the file declares, well-known witnesses such as `description`,
/// `hash(into:)`, `encode(to:)`, `body`, associated types such as `RawValue`, operators), what is
/// not API (`@_spi`, names starting with `_`, public members of a type that is not public),
/// deprecated declarations, a parameterless `init()`, `init(from:)`, Python `@overload` signatures,
/// property setters, nested functions, code under `if __name__ == "__main__":`, methods of private
/// classes, and code outside any library's API (examples, samples, docs, benchmarks, scripts,
/// tools, plugins, manifests; executable targets are dropped in the sages check).
extension FileAnalyzer {
    mutating func documentation(_ tokens: [Token], built: [FunctionScanner.Built], pyBodyFirst: [Int]) {
        facts.declaresMain = declaresMain(tokens)
        guard !PathRules.isOutsideAPI(path) else { return }
        // an underscored module (`Sources/_NIOFileSystem/`) is not public API by Swift's convention
        if facts.language == .swift && (path.hasPrefix("Sources/_") || path.contains("/Sources/_")) { return }
        switch facts.language {
        case .swift, .java, .csharp, .rust, .javascript, .typescript: markedDeclarations(tokens)
        case .go: goExports(tokens, built: built)
        case .python: pythonDocstrings(tokens, built: built, pyBodyFirst: pyBodyFirst)
        default: break
        }
    }

    /// The word that makes a declaration public in each language.
    var publicMarkers: WordSet {
        switch facts.language {
        case .swift: [v.public_, v.open]
        case .rust: [v.pub]
        case .javascript, .typescript: [v.export]
        default: [v.public_]
        }
    }

    /// Swift, Java, C#, Rust, JavaScript and TypeScript: declarations a marker makes public.
    mutating func markedDeclarations(_ tokens: [Token]) {
        let markers = publicMarkers
        let protocols = facts.language == .swift ? declaredProtocols(tokens) : []
        if facts.language == .swift { facts.protocolRequirements = protocolRequirements(tokens) }
        var blocks: [SwiftBlock] = []
        for k in 0..<tokens.count {
            let t = tokens[k]
            if t.isPunct(B.lbrace) { blocks.append(facts.language == .swift ? swiftBlock(tokens, openingAt: k, protocols: protocols) : .other); continue }
            if t.isPunct(B.rbrace) { _ = blocks.popLast(); continue }
            guard t.kind == .identifier, markers.contains(t.hash) else { continue }
            // witnesses and default implementations inherit the requirement's documentation;
            // public members of an internal type are not API
            if blocks.last == .witnesses || blocks.contains(.hidden) || !isPublicDeclarationMarker(tokens, k) { continue }
            guard let name = declaredName(tokens, markerAt: k), !name.hasPrefix("_"), !overrides(tokens, declarationAt: k),
                  !FileAnalyzer.inheritsDocumentation(name, facts.language),
                  !(name == "init" && (lineText(t.line).contains("from decoder") || lineText(t.line).contains("init()"))) else { continue }
            facts.publicDecls += 1
            if hasDocComment(tokens, before: k) {
                facts.documentedDecls += 1
            } else {
                add("sages/undocumented-public-api", .info, line: t.line, "public declaration '\(name)' has no documentation comment")
                if blocks.last == .conforming || blocks.last == .plainExtension { facts.possibleWitnesses.append(PossibleWitness(line: t.line, name: name)) }
            }
        }
    }

    /// A marker at `k` that starts a public declaration: not `@_spi` or deprecated, not a member
    /// access or an argument, not `pub(crate)`/`public(set)`, not Swift's `open` as a plain word.
    func isPublicDeclarationMarker(_ tokens: [Token], _ k: Int) -> Bool {
        if facts.language == .swift && spiOrDeprecated(tokens, declarationAt: k) { return false }
        if k > 0 && (tokens[k - 1].isPunct(B.dot) || tokens[k - 1].isPunct(B.lparen)) { return false }
        if k + 1 < tokens.count && tokens[k + 1].isPunct(B.lparen) { return false }
        return !(facts.language == .swift && tokens[k].hash == v.open && !(k + 1 < tokens.count && tokens[k + 1].kind == .identifier))
    }

    static let declarationWords: WordSet = {
        let v = Vocabulary.shared
        return [v.func_, v.var_, v.let_, v.class_, v.struct_, v.enum_, v.protocol_, v.init_, v.subscript_, v.typealias_, v.actor, v.macro,
                v.fn, v.trait, v.const_, v.type, v.mod, v.function, v.interface, Vocabulary.h("record"), v.static_]
    }()
    static let notDeclarations: WordSet = {
        let v = Vocabulary.shared
        return [v.extension_, v.import_, v.using, v.use, v.override_]
    }()

    /// The name a public marker at `k` declares, found within a few tokens; nil for what declares
    /// nothing of its own (an extension, an import, an override).
    func declaredName(_ tokens: [Token], markerAt k: Int) -> String? {
        let limit = min(tokens.count, k + 8)
        var j = k + 1
        while j < limit {
            let u = tokens[j]
            if u.kind == .identifier && Self.notDeclarations.contains(u.hash) { return nil }
            if u.kind == .identifier && Self.declarationWords.contains(u.hash) && u.hash != v.static_ {
                if u.hash == v.init_ || u.hash == v.subscript_ { return text(u) }
                if j + 1 < tokens.count { return text(tokens[j + 1]) }
                break
            }
            if u.isPunct(B.lbrace) || u.isPunct(B.semicolon) || u.isPunct(B.eq) { break }
            j += 1
        }
        guard facts.language == .java || facts.language == .csharp else { return nil }
        // Java/C#: `public Type name(` or `public class X`
        var q = k + 1
        while q < limit {
            if tokens[q].isPunct(B.lparen) { return text(tokens[q - 1]) }
            if tokens[q].isPunct(B.lbrace) || tokens[q].isPunct(B.semicolon) || tokens[q].isPunct(B.eq) { break }
            q += 1
        }
        return nil
    }

    /// Go: exported (capitalised) top-level functions and types, documented by a comment just above.
    mutating func goExports(_ tokens: [Token], built: [FunctionScanner.Built]) {
        var depth = 0
        for k in 0..<tokens.count {
            let t = tokens[k]
            if t.isPunct(B.lbrace) || t.isPunct(B.lparen) { depth += 1; continue }
            if t.isPunct(B.rbrace) || t.isPunct(B.rparen) { depth = max(0, depth - 1); continue }
            guard depth == 0, t.kind == .identifier, t.hash == v.func_ || t.hash == v.type else { continue }
            guard let fnIdx = built.firstIndex(where: { $0.introToken == k }) ?? (t.hash == v.type ? -1 : nil) else { continue }
            let nameTok = fnIdx >= 0 ? tokens[built[fnIdx].nameToken] : (k + 1 < tokens.count ? tokens[k + 1] : t)
            guard nameTok.kind == .identifier else { continue }
            let c = buf[Int(nameTok.start)]
            guard c >= 65 && c <= 90 else { continue }
            facts.publicDecls += 1
            if k > 0, tokens[k - 1].kind == .comment, tokens[k - 1].endLine >= t.line - 1 {
                facts.documentedDecls += 1
            } else {
                add("sages/undocumented-public-api", .info, line: t.line, "exported '\(text(nameTok))' has no doc comment")
            }
        }
    }

    /// Python: module-level functions and methods of public module-level classes; not nested
    /// functions, nor code under `if __name__ == "__main__":`, nor overloads and property setters.
    mutating func pythonDocstrings(_ tokens: [Token], built: [FunctionScanner.Built], pyBodyFirst: [Int]) {
        for (i, f) in built.enumerated() {
            guard !f.facts.name.hasPrefix("_") else { continue }
            let intro = tokens[f.introToken]
            let indent = lineText(intro.line).prefix { $0 == " " || $0 == "\t" }.count
            if indent > 0 {
                guard let cls = pythonEnclosingClass(f), cls.indent == 0, !cls.name.hasPrefix("_") else { continue }
            }
            guard !pythonDecorators(of: f).contains(where: { $0.hasSuffix("overload") || $0.hasSuffix(".setter") || $0.hasSuffix(".deleter") }) else { continue }
            facts.publicDecls += 1
            var b = pyBodyFirst[i]
            while b < tokens.count && tokens[b].kind == .comment { b += 1 }
            if b < tokens.count && tokens[b].kind == .string {
                facts.documentedDecls += 1
            } else {
                add("sages/undocumented-public-api", .info, line: intro.line, "public function '\(f.facts.name)' has no docstring")
            }
        }
    }

    func isModifier(_ t: Token) -> Bool { v.declarationModifiers.contains(t.hash) }

    /// Swift `@main`, Go `package main`.
    func declaresMain(_ tokens: [Token]) -> Bool {
        switch facts.language {
        case .swift:
            for k in 1..<max(1, tokens.count) where tokens[k].kind == .identifier && tokens[k - 1].isPunct(B.at) && text(tokens[k]) == "main" { return true }
            return false
        case .go:
            guard let k = tokens.firstIndex(where: { $0.kind != .comment }), k + 1 < tokens.count else { return false }
            return text(tokens[k]) == "package" && text(tokens[k + 1]) == "main"
        default: return false
        }
    }

    /// Swift members a protocol (Equatable, Hashable, Codable, CustomStringConvertible, Sequence,
    /// Collection, View, Error …) documents: a witness inherits the requirement's documentation.
    static let swiftWitnesses: Set<String> = ["description", "debugDescription", "hash", "hashValue", "encode", "body", "makeIterator",
                                              "next", "startIndex", "endIndex", "index", "subscript", "customMirror", "errorDescription",
                                              "failureReason", "recoverySuggestion", "helpAnchor", "localizedDescription", "makeBody",
                                              "playgroundDescription", "rawValue", "allCases", "id", "count", "isEmpty", "distance",
                                              "formIndex", "makeAsyncIterator", "InboundIn", "InboundOut", "OutboundIn", "OutboundOut",
                                              "RawValue", "Element", "Index", "Indices", "Iterator", "SubSequence", "AsyncIterator",
                                              "Failure", "Body", "ID", "Value"]
    static let javaWitnesses: Set<String> = ["toString", "hashCode", "equals", "compareTo", "iterator", "close", "run", "call",
                                             "ToString", "GetHashCode", "Equals", "CompareTo", "Dispose", "GetEnumerator"]

    static func inheritsDocumentation(_ name: String, _ language: Language) -> Bool {
        guard let c = name.first, c == "_" || c.isLetter else { return true } // an operator
        switch language {
        case .swift: return swiftWitnesses.contains(name)
        case .java, .csharp: return javaWitnesses.contains(name)
        default: return false
        }
    }

    /// Whether the modifiers and attributes right before a type keyword include `public` or `open`.
    func declaredPublic(_ tokens: [Token], keywordAt k: Int) -> Bool {
        var j = k - 1
        while j >= 0 {
            let t = tokens[j]
            if t.kind == .comment { j -= 1; continue }
            if t.isPunct(B.rparen) { // an attribute's arguments
                var d = 0
                while j >= 0 {
                    if tokens[j].isPunct(B.rparen) { d += 1 } else if tokens[j].isPunct(B.lparen) { d -= 1; if d == 0 { break } }
                    j -= 1
                }
                j -= 1; continue
            }
            if t.kind == .identifier && j > 0 && tokens[j - 1].isPunct(B.at) {
                if text(t) == "_spi" { return false } // an SPI type is not public API
                j -= 2; continue
            }
            guard t.kind == .identifier, isModifier(t) || text(t) == "indirect" else { return false }
            if t.hash == v.public_ || t.hash == v.open { return true }
            j -= 1
        }
        return false
    }

    /// `@_spi(…)` or a deprecation among the attributes of the declaration whose modifier is at `k`:
    /// an SPI is not public API, and a deprecated declaration is on its way out.
    func spiOrDeprecated(_ tokens: [Token], declarationAt k: Int) -> Bool {
        attributeBefore(tokens, declarationAt: k) { j in
            let t = tokens[j]
            return (j >= 1 && tokens[j - 1].isPunct(B.at) && text(t) == "_spi")
                || (text(t) == "deprecated" && lineText(t.line).contains("@available"))
        }
    }

    /// Whether an identifier among the attributes and modifiers before the declaration at `k` (back
    /// to the previous `{`, `}` or `;`, comments skipped) satisfies `match`, given its index.
    func attributeBefore(_ tokens: [Token], declarationAt k: Int, _ match: (Int) -> Bool) -> Bool {
        var j = k - 1, steps = 0
        while j >= 0 && steps < 24 {
            let t = tokens[j]
            if t.isPunct(B.lbrace) || t.isPunct(B.rbrace) || t.isPunct(B.semicolon) { return false }
            if t.kind == .comment { j -= 1; continue }
            if t.kind == .identifier && match(j) { return true }
            j -= 1; steps += 1
        }
        return false
    }

    /// The member names declared directly in the bodies of a Swift file's protocols.
    func protocolRequirements(_ tokens: [Token]) -> [String] {
        var out: [String] = []
        var k = 0
        while k < tokens.count {
            defer { k += 1 }
            guard tokens[k].kind == .identifier, tokens[k].hash == v.protocol_, !(k > 0 && tokens[k - 1].isPunct(B.dot)) else { continue }
            var j = k + 1
            while j < tokens.count && !tokens[j].isPunct(B.lbrace) && !tokens[j].isPunct(B.rbrace) && !tokens[j].isPunct(B.semicolon) { j += 1 }
            guard j < tokens.count, tokens[j].isPunct(B.lbrace) else { continue }
            var depth = 0
            while j < tokens.count {
                let t = tokens[j]
                if t.isPunct(B.lbrace) { depth += 1 } else if t.isPunct(B.rbrace) { depth -= 1; if depth == 0 { break } }
                if depth == 1, t.kind == .identifier, [v.func_, v.var_, v.let_, v.associatedtype_, v.subscript_].contains(t.hash), j + 1 < tokens.count {
                    out.append(t.hash == v.subscript_ ? "subscript" : text(tokens[j + 1]))
                } else if depth == 1, t.kind == .identifier, t.hash == v.init_ {
                    out.append("init")
                }
                j += 1
            }
            k = j
        }
        return out
    }

    /// The names of the protocols a Swift file declares.
    func declaredProtocols(_ tokens: [Token]) -> Set<String> {
        var out = Set<String>()
        for k in 0..<max(0, tokens.count - 1) where tokens[k].kind == .identifier && tokens[k].hash == v.protocol_ && tokens[k + 1].kind == .identifier {
            if k > 0 && tokens[k - 1].isPunct(B.dot) { continue }
            out.insert(text(tokens[k + 1]))
        }
        return out
    }

    /// Whether the declaration whose access modifier is at `k` overrides: `override` among the
    /// modifiers before it, or a Java/Kotlin/C# `@Override` annotation.
    func overrides(_ tokens: [Token], declarationAt k: Int) -> Bool {
        attributeBefore(tokens, declarationAt: k) { j in tokens[j].hash == v.override_ || text(tokens[j]) == "Override" }
    }

    /// A Python method's class (its name and indentation): the nearest less indented line above
    /// the `def`, when that line is a `class`.
    func pythonEnclosingClass(_ f: FunctionScanner.Built) -> (name: String, indent: Int)? {
        func indent(_ s: String) -> Int { s.prefix { $0 == " " || $0 == "\t" }.count }
        let own = indent(lineText(f.facts.startLine))
        var l = f.facts.startLine - 1
        while l >= 1 {
            let s = lineText(l)
            let trimmed = s.drop { $0 == " " || $0 == "\t" }
            if !trimmed.isEmpty, !trimmed.hasPrefix("#"), !trimmed.hasPrefix("@"), !trimmed.hasPrefix(")"), indent(s) < own {
                guard trimmed.hasPrefix("class ") else { return nil }
                let name = trimmed.dropFirst(6).prefix { $0.isLetter || $0.isNumber || $0 == "_" }
                return (String(name), indent(s))
            }
            l -= 1
        }
        return nil
    }

    /// The decorators on the lines right above a Python `def` (`@overload`, `@x.setter` …).
    func pythonDecorators(of f: FunctionScanner.Built) -> [String] {
        var out: [String] = []
        var l = f.facts.startLine - 1
        while l >= 1 {
            let trimmed = lineText(l).trimmed
            guard trimmed.hasPrefix("@") else { break }
            out.append(String(trimmed.dropFirst().prefix { $0 != "(" && $0 != " " }))
            l -= 1
        }
        return out
    }
}
