import GuardianCore

/// Hashes of the words the analyzers look for, computed once.
struct Vocabulary: Sendable {
    static func h(_ s: String) -> UInt64 { StableHash.of(s) }

    let func_ = h("func"), fn = h("fn"), fun = h("fun"), function = h("function"), def = h("def")
    let init_ = h("init"), deinit_ = h("deinit"), subscript_ = h("subscript")
    let get = h("get"), set = h("set"), willSet = h("willSet"), didSet = h("didSet")
    let async_ = h("async"), throws_ = h("throws"), protocol_ = h("protocol"), interface = h("interface")
    let if_ = h("if"), for_ = h("for"), while_ = h("while"), catch_ = h("catch"), guard_ = h("guard")
    let case_ = h("case"), elif = h("elif"), except = h("except"), and = h("and"), or = h("or")
    let switch_ = h("switch"), return_ = h("return"), new_ = h("new"), throw_ = h("throw"), raise = h("raise")
    let class_ = h("class"), struct_ = h("struct"), enum_ = h("enum"), extension_ = h("extension")
    let public_ = h("public"), open = h("open"), pub = h("pub"), export = h("export"), import_ = h("import")
    let static_ = h("static"), final_ = h("final"), override_ = h("override"), mutating = h("mutating")
    let nonisolated = h("nonisolated"), convenience = h("convenience"), required = h("required")
    let inline = h("inline"), indirect = h("indirect"), lazy = h("lazy"), weak = h("weak"), unowned = h("unowned")
    let var_ = h("var"), let_ = h("let"), typealias_ = h("typealias"), actor = h("actor"), macro = h("macro")
    let associatedtype_ = h("associatedtype"), const_ = h("const"), type = h("type"), trait = h("trait")
    let mod = h("mod"), abstract = h("abstract"), virtual = h("virtual"), void_ = h("void")
    let private_ = h("private"), protected_ = h("protected"), internal_ = h("internal"), fileprivate_ = h("fileprivate")
    let include = h("include"), using = h("using"), package = h("package"), from = h("from")
    let true_ = h("true"), false_ = h("false"), nil_ = h("nil"), null = h("null"), none = h("None")
    let pyTrue = h("True"), pyFalse = h("False"), undefined = h("undefined"), pass = h("pass")
    let fatalError = h("fatalError"), preconditionFailure = h("preconditionFailure")
    let todo = h("todo"), unimplemented = h("unimplemented"), panic = h("panic"), TODO = h("TODO")
    let NotImplementedError = h("NotImplementedError"), NotImplementedException = h("NotImplementedException")
    let UnsupportedOperationException = h("UnsupportedOperationException"), Error = h("Error")
    let abstractmethod = h("abstractmethod"), overload = h("overload"), Test = h("Test"), test = h("test")
    let try_ = h("try"), do_ = h("do"), else_ = h("else"), when = h("when"), match = h("match"), loop = h("loop")
    let with = h("with"), sizeof = h("sizeof"), typeof = h("typeof"), foreach = h("foreach"), lock = h("lock")
    let synchronized = h("synchronized"), fixed = h("fixed"), delete = h("delete"), await_ = h("await")
    let where_ = h("where"), in_ = h("in"), lambda = h("lambda"), yield_ = h("yield"), assert = h("assert")
    let self_ = h("self"), this = h("this"), go = h("go"), defer_ = h("defer"), unsafe = h("unsafe")
    let constexpr = h("constexpr"), noexcept = h("noexcept"), operator_ = h("operator")

    /// Words that make `name(...) {` a control statement rather than a function (C-like heuristic).
    var controlWords: WordSet {
        [if_, for_, while_, switch_, catch_, return_, sizeof, typeof, foreach, using, lock, synchronized, with,
         fixed, elif, when, match, do_, else_, new_, throw_, await_, delete, function, in_, yield_, defer_, try_]
    }

    /// Words before a C-like function name that do not name a return type.
    let nonReturningModifiers: WordSet = [h("public"), h("private"), h("protected"), h("internal"), h("static"),
                                              h("final"), h("abstract"), h("virtual"), h("inline"), h("override"),
                                              h("void"), h("async"), h("synchronized"), h("constexpr"), h("export")]

    /// Modifiers and attributes that may stand between a doc comment and its declaration.
    let declarationModifiers = WordSet(["public", "open", "static", "final", "override", "mutating", "nonisolated",
        "convenience", "required", "inline", "indirect", "lazy", "private", "internal", "fileprivate", "abstract", "virtual",
        "discardableResult", "inlinable", "usableFromInline", "available", "preconcurrency", "unsafe", "Sendable", "frozen",
        "objc", "MainActor", "async", "sealed", "readonly", "default", "derive", "must_use", "Override", "Deprecated",
        "deprecated"].map(h))

    static let shared = Vocabulary()
}
