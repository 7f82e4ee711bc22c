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
            } else if t.kind == .string {
                let s = text(t)
                if s.contains("\\(") || s.contains("${") || s.hasPrefix("f\"") || s.hasPrefix("f'") || s.hasPrefix("`") { return nil }
            } else if t.kind == .number || t.isPunct(B.comma) || t.isPunct(B.colon) || t.isPunct(B.minus) || t.kind == .comment {
                // constant
            } else if t.kind == .identifier {
                let w = text(t)
                let label = j + 1 < tokens.count && (tokens[j + 1].isPunct(B.colon) || tokens[j + 1].isPunct(B.eq))
                let enumCase = j > 0 && tokens[j - 1].isPunct(B.dot) && j > 1 && (tokens[j - 2].isPunct(B.lparen) || tokens[j - 2].isPunct(B.comma) || tokens[j - 2].isPunct(B.colon) || tokens[j - 2].isPunct(B.lbracket))
                guard label || enumCase || ["true", "false", "nil", "None", "True", "False", "null"].contains(w) else { return nil }
            } else if t.isPunct(B.dot) || t.isPunct(B.eq) {
                // `.case`, `name=value` keyword arguments
            } else {
                return nil
            }
            j += 1
        }
        return nil
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
}
