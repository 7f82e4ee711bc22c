import GuardianCore

/// What makes a matched call dangerous, judged from its arguments and its place. A call whose
/// input is a constant cannot be injected into (`eval("1 + 1")`, `subprocess.run("ls", shell=True)`,
/// `try! NSRegularExpression(pattern: "[a-z]+")`): it is not reported. Code execution and shells
/// are high when their input names outside data (request, argv, input, query …), medium when it is
/// built at run time from anything else. `try!` is not reported where the author wrote down why it
/// cannot fail (a comment on the line or the line above), nor in examples, benchmarks, scripts and
/// tools (executable targets are dropped in the strict check): a crash there stops no service.
extension FileAnalyzer {
    struct JudgedCall {
        var severity: Severity
        var message: String
    }

    static let buildManifests: Set<String> = ["setup.py", "package.swift", "noxfile.py", "fabfile.py", "build.gradle", "build.gradle.kts"]

    static let untrustedNames = ["request", "req", "argv", "input", "query", "params", "body", "payload", "form", "stdin",
                                 "environ", "getenv", "user", "upload", "cookie", "header", "args"]

    func judgeDangerousCall(_ p: CallPattern, _ tokens: [Token], at k: Int, outsideAPI: Bool) -> JudgedCall? {
        let first = text(tokens[k])
        // a build manifest runs the project's own code at build time (`exec` of its `__version__.py`)
        if let name = path.split(separator: "/").last?.lowercased(), FileAnalyzer.buildManifests.contains(name) || name.hasPrefix("package@swift") { return nil }
        // Swift try!
        if facts.language == .swift && first == "try" {
            if outsideAPI { return nil }
            if commentNear(tokens[k].line, at: k, tokens) { return nil }
            var j = k + 2
            while j < tokens.count, tokens[j].kind == .identifier, text(tokens[j]) == "await" { j += 1 }
            // `Type.member(` or `function(`: the call's own arguments
            while j + 1 < tokens.count, tokens[j].kind == .identifier, tokens[j + 1].isPunct(B.dot) { j += 2 }
            // a call without a literal argument reads state (a file, the environment) that can fail
            guard j + 1 < tokens.count, tokens[j].kind == .identifier, tokens[j + 1].isPunct(B.lparen),
                  let close = constantArguments(tokens, open: j + 1),
                  tokens[(j + 2)..<close].contains(where: { $0.kind == .string || $0.kind == .number }) else {
                return JudgedCall(severity: p.severity, message: p.message)
            }
            // the constant call must be the whole expression
            if close + 1 < tokens.count, tokens[close + 1].line == tokens[close].line, tokens[close + 1].isPunct(B.dot) {
                return JudgedCall(severity: p.severity, message: p.message)
            }
            return nil
        }
        guard p.severity >= .medium, isInjectionSink(p) else { return JudgedCall(severity: p.severity, message: p.message) }
        // the call's arguments: after the pattern's `(`, or the call that encloses `shell=True`
        let open: Int?
        if let last = p.parts.last, case .punct(let c) = last, c == B.lparen {
            open = k + p.parts.count - 1
        } else if case .shellString = p.parts.last {
            open = nil // exec.Command("sh", …): the command follows
        } else {
            open = enclosingParen(tokens, before: k)
        }
        if let o = open {
            if constantArguments(tokens, open: o) != nil { return nil }
            let names = argumentIdentifiers(tokens, open: o)
            if let name = names.first(where: { n in FileAnalyzer.words(of: n).contains { FileAnalyzer.untrustedNames.contains($0) } }) {
                return JudgedCall(severity: .high, message: p.message + "; it is called with outside input ('\(name)')")
            }
            return JudgedCall(severity: .medium, message: p.message + "; its input is built at run time: make sure no outside input reaches it")
        }
        return JudgedCall(severity: p.severity, message: p.message)
    }

    /// Code execution and shells: the calls whose danger is their input.
    func isInjectionSink(_ p: CallPattern) -> Bool {
        let m = p.message
        return m.contains("executes") || m.contains("shell") || m.contains("external commands") || m.contains("runs a")
    }

    /// Whether a comment token sits on `line` or ends on the line above it, as a reason the author
    /// wrote down for the call on `line`.
    func commentNear(_ line: Int32, at k: Int, _ tokens: [Token]) -> Bool {
        var j = k
        while j > 0 && tokens[j - 1].endLine >= line - 1 { j -= 1 }
        var i = j
        while i < tokens.count && tokens[i].line <= line {
            if tokens[i].kind == .comment && (tokens[i].line == line || tokens[i].endLine == line - 1) { return true }
            i += 1
        }
        return false
    }

    /// The index of the `)` that closes the argument list opened at `open` when every argument is a
    /// constant (literals without interpolation, labels, `.enumCase`, `true`/`false`/`nil`, arrays of
    /// those); nil otherwise.
    func constantArguments(_ tokens: [Token], open: Int) -> Int? {
        var depth = 0
        var j = open
        while j < tokens.count {
            let t = tokens[j]
            if t.isPunct(B.lparen) || t.isPunct(B.lbracket) { depth += 1 } else if t.isPunct(B.rparen) || t.isPunct(B.rbracket) {
                depth -= 1
                if depth == 0 { return j }
            } else if !isConstantPart(tokens, j) {
                return nil
            }
            j += 1
        }
        return nil
    }

    static let constantWords: Set<String> = ["true", "false", "nil", "None", "True", "False", "null"]

    /// A token of a constant argument list other than its brackets: a literal without interpolation,
    /// a number, a separator, a comment, a label (`name:`, `name=`), an `.enumCase`, a constant word.
    func isConstantPart(_ tokens: [Token], _ j: Int) -> Bool {
        let t = tokens[j]
        switch t.kind {
        case .string:
            let s = text(t)
            return !(s.contains("\\(") || s.contains("${") || s.hasPrefix("f\"") || s.hasPrefix("f'") || s.hasPrefix("`"))
        case .number, .comment:
            return true
        case .identifier:
            let label = j + 1 < tokens.count && (tokens[j + 1].isPunct(B.colon) || tokens[j + 1].isPunct(B.eq))
            return label || isEnumCase(tokens, j) || Self.constantWords.contains(text(t))
        default:
            // `,` `:` `-`, and `.case`, `name=value` keyword arguments
            return t.isPunct(B.comma) || t.isPunct(B.colon) || t.isPunct(B.minus) || t.isPunct(B.dot) || t.isPunct(B.eq)
        }
    }

    /// `.case` as an argument: after `(`, `,`, `:` or `[`.
    func isEnumCase(_ tokens: [Token], _ j: Int) -> Bool {
        guard j > 1, tokens[j - 1].isPunct(B.dot) else { return false }
        let p = tokens[j - 2]
        return p.isPunct(B.lparen) || p.isPunct(B.comma) || p.isPunct(B.colon) || p.isPunct(B.lbracket)
    }

    /// The identifiers inside the argument list opened at `open`: not argument labels (`name:`,
    /// `name=`), nor the value of an `env=` argument (the environment handed to the child).
    func argumentIdentifiers(_ tokens: [Token], open: Int) -> [String] {
        var out: [String] = []
        var depth = 0, j = open
        var inEnv = false
        while j < tokens.count {
            let t = tokens[j]
            if t.isPunct(B.lparen) || t.isPunct(B.lbracket) { depth += 1 } else if t.isPunct(B.rparen) || t.isPunct(B.rbracket) {
                depth -= 1
                if depth == 0 { break }
            }
            if depth == 1 && t.isPunct(B.comma) { inEnv = false }
            if t.kind == .identifier {
                let label = j + 1 < tokens.count && (tokens[j + 1].isPunct(B.colon) || tokens[j + 1].isPunct(B.eq))
                if label && depth == 1 && text(t) == "env" { inEnv = true }
                if !label && !inEnv { out.append(text(t)) }
            }
            j += 1
        }
        return out
    }

    /// The lower-case words of an identifier (`request_body` → request, body; `userInput` → user, input).
    static func words(of name: String) -> [String] {
        var out: [String] = [], cur = ""
        for ch in name {
            if ch == "_" || ch == "-" { if !cur.isEmpty { out.append(cur) }; cur = ""; continue }
            if ch.isUppercase && !cur.isEmpty && !(cur.last?.isUppercase ?? false) { out.append(cur); cur = "" }
            cur.append(Character(ch.lowercased()))
        }
        if !cur.isEmpty { out.append(cur) }
        return out
    }

    /// The `(` of the call that encloses token `k` (`subprocess.run(cmd, shell=True)`).
    func enclosingParen(_ tokens: [Token], before k: Int) -> Int? {
        var depth = 0, j = k - 1
        while j >= 0 && k - j < 400 {
            let t = tokens[j]
            if t.isPunct(B.rparen) { depth += 1 } else if t.isPunct(B.lparen) {
                if depth == 0 { return j }
                depth -= 1
            }
            j -= 1
        }
        return nil
    }

    // MARK: the patterns

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

    /// The first-token hashes of `patternIndex`, asked first: nearly every token starts no pattern.
    static let patternHeads: [Language: WordSet] = patternIndex.mapValues { WordSet($0.keys) }

    mutating func dangerousCalls(_ tokens: [Token]) {
        guard let list = FileAnalyzer.patterns[facts.language], let index = FileAnalyzer.patternIndex[facts.language],
              let heads = FileAnalyzer.patternHeads[facts.language] else { return }
        let outsideAPI = PathRules.isOutsideAPI(path)
        for k in 0..<tokens.count {
            let t = tokens[k]
            guard t.kind == .identifier || t.kind == .punct, heads.contains(t.hash), let cs = index[t.hash] else { continue }
            for i in cs where matches(list[i], tokens, at: k) {
                let p = list[i]
                guard let judged = judgeDangerousCall(p, tokens, at: k, outsideAPI: outsideAPI) else { break }
                add("strict/dangerous-call", judged.severity, line: t.line, column: t.start - lineStarts[Int(t.line) - 1] + 1,
                    judged.message, fixOriginal: p.fix?.0, fixReplacement: p.fix?.1)
                break
            }
        }
    }
}
