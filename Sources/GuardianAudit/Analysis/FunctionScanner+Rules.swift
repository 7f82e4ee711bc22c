/// What the function scanner looks for in one language: the words that introduce a function, the
/// decisions that add to cyclomatic complexity, the statements whose `{` nests a block, and the
/// punctuation that ends a signature. Built once per language.
struct ScanRules: Sendable {
    let language: Language
    let isSwift: Bool
    let isGo: Bool
    /// C-like languages where `name(params) {` is a definition (no introducing keyword).
    let genericHeuristic: Bool
    /// `a ? b : c` adds a decision (Swift's counts only with a space before `?`, not an optional).
    let countTernary: Bool
    /// TypeScript and Kotlin: `): Type {` declares a return type.
    let colonReturnType: Bool
    /// Kotlin and Rust: `fun f() = expr` has no block body.
    let expressionBody: Bool
    /// C, C++, Objective-C: `#if`/`#elif` add a decision.
    let conditionalDirectives: Bool
    let introWords: WordSet
    let decision: WordSet
    /// Statements whose `{` opens a nested block; any other `{` in a function (a closure, a
    /// trailing closure, a `defer`) nests nothing a reader follows, as ESLint's max-depth counts.
    /// Only each language's keywords: `loop`, `match`, `with` … are plain names elsewhere.
    let blockWords: WordSet
    let controlWords: WordSet
    let select = Vocabulary.h("select")

    static let all: [Language: ScanRules] = Dictionary(uniqueKeysWithValues: Language.allCases.map { ($0, ScanRules($0)) })

    static func of(_ language: Language) -> ScanRules { all[language] ?? ScanRules(language) }

    private init(_ language: Language) {
        let v = Vocabulary.shared
        self.language = language
        isSwift = language == .swift
        isGo = language == .go
        let cLike: Set<Language> = [.c, .cpp, .objc, .java, .csharp, .javascript, .typescript]
        genericHeuristic = cLike.contains(language)
        countTernary = cLike.contains(language)
        colonReturnType = language == .typescript || language == .kotlin
        expressionBody = language == .kotlin || language == .rust
        conditionalDirectives = [.c, .cpp, .objc].contains(language)
        controlWords = v.controlWords
        introWords = WordSet(Self.introWords(language, v))
        decision = WordSet(Self.decisions(language, v))
        blockWords = WordSet(Self.blockWords(language, v))
    }

    private static func introWords(_ language: Language, _ v: Vocabulary) -> Set<UInt64> {
        switch language {
        case .swift, .go: [v.func_]
        case .rust: [v.fn]
        case .kotlin: [v.fun]
        case .javascript, .typescript: [v.function]
        default: []
        }
    }

    private static func decisions(_ language: Language, _ v: Vocabulary) -> Set<UInt64> {
        var decision: Set<UInt64> = [v.if_, v.for_, v.while_, v.case_]
        switch language {
        case .swift: decision.formUnion([v.catch_, v.guard_])
        case .rust: decision.remove(v.case_)
        case .kotlin: decision.formUnion([v.catch_, v.when]); decision.remove(v.case_)
        case .go: break
        default: decision.insert(v.catch_)
        }
        return decision
    }

    private static func blockWords(_ language: Language, _ v: Vocabulary) -> Set<UInt64> {
        let finally = Vocabulary.h("finally")
        var words: Set<UInt64> = [v.if_, v.else_, v.for_, v.while_, v.switch_]
        switch language {
        case .swift: words.formUnion([v.do_, v.guard_, v.catch_, Vocabulary.h("repeat")])
        case .go: words.insert(Vocabulary.h("select"))
        case .rust: words.formUnion([v.loop, v.match])
        case .kotlin: words.formUnion([v.do_, v.when, v.try_, v.catch_, finally])
        case .java: words.formUnion([v.do_, v.try_, v.catch_, finally, v.synchronized])
        case .csharp: words.formUnion([v.do_, v.try_, v.catch_, finally, v.foreach, v.lock, v.using])
        case .javascript, .typescript: words.formUnion([v.do_, v.try_, v.catch_, finally, v.with])
        default: words.formUnion([v.do_, v.try_, v.catch_])
        }
        return words
    }
}
