import Foundation
import GuardianCore

/// Skipped tests: only a skip that always happens is a skipped test. A skip under a condition (an
/// `if`, a `guard … else`, a `switch` case, a `catch`, a `#if` build, `XCTSkipIf`, `skipif`,
/// `.disabled(if:)`) says the test does not apply somewhere, which is not a defect; an enum case
/// named `.disabled` passed as an argument is not a skip at all. Counted forms:
/// `@Test(.disabled(…))`/`@Suite(.disabled(…))`, `throw XCTSkip(…)` in a test's own body,
/// `@pytest.mark.skip`, `@unittest.skip`, `pytest.skip(…)`/`self.skipTest(…)`/`raise SkipTest` at a
/// test's body level, `it.skip`/`describe.skip`/`test.skip`/`xit`/`xdescribe`/`xtest`, `t.Skip…()`
/// outside any condition, `#[ignore]`, `@Disabled`/`@Ignore`, `[Ignore]`/`Skip = "…"`,
/// `GTEST_SKIP()` and `DISABLED_` test names; `withKnownIssue(isIntermittent: true)` is info.
extension FileAnalyzer {
    mutating func skippedTests(_ tokens: [Token]) {
        if facts.language == .python { return pythonSkips(tokens) }
        var reported = Set<Int32>()
        func report(_ line: Int32, _ severity: Severity = .low, _ what: String = "skipped test") {
            guard reported.insert(line).inserted else { return }
            add("tdd/skipped-test", severity, line: line, "\(what): \(lineText(line).trimmed.prefix(120))")
        }
        let cFamily = facts.language == .c || facts.language == .cpp || facts.language == .objc
        let skipWords = Self.skipWords, disabledPrefix = Self.disabledPrefix // read once, not per token
        var blocks: [Bool] = [] // is each open block conditional?
        var preprocessor = 0    // #if depth
        for k in tokens.indices {
            let t = tokens[k]
            if t.kind == .directive {
                if directive(t, startsWith: Self.hashIf) {
                    preprocessor += 1
                } else if directive(t, startsWith: Self.hashEndif) {
                    preprocessor = max(0, preprocessor - 1)
                }
                continue
            }
            if t.isPunct(B.lbrace) { blocks.append(opensConditionalBlock(tokens, at: k)); continue }
            if t.isPunct(B.rbrace) { _ = blocks.popLast(); continue }
            // only the words below matter: the rest are passed over without making their text
            guard t.kind == .identifier,
                  skipWords.contains(t.hash) || (cFamily && startsWith(t, disabledPrefix, caseInsensitive: false)) else { continue }
            let conditional = preprocessor > 0 || blocks.contains(true)
            let prev = k > 0 ? tokens[k - 1] : nil, next = k + 1 < tokens.count ? tokens[k + 1] : nil
            let word = text(t)
            switch facts.language {
            case .swift:
                // a trait of its own (`(.disabled` or `, .disabled`), not `Mode.disabled` nor an element of an argument list
                if word == "disabled", prev?.isPunct(B.dot) == true, k >= 2, tokens[k - 2].isPunct(B.lparen) || tokens[k - 2].isPunct(B.comma),
                   insideTestAttribute(tokens, at: k) {
                    // .disabled(if: …) and .disabled("why") { condition } are conditions
                    let ifLabel = next?.isPunct(B.lparen) == true && k + 2 < tokens.count && text(tokens[k + 2]) == "if"
                    if !ifLabel && !conditionClosureFollows(tokens, afterParenAt: k + 1) { report(t.line, .low, "disabled test") }
                } else if word == "XCTSkip", prev.map({ text($0) == "throw" }) == true, !conditional {
                    report(t.line)
                } else if word == "withKnownIssue", next?.isPunct(B.lparen) == true, k + 2 < tokens.count, text(tokens[k + 2]) == "isIntermittent" {
                    report(t.line, .info, "known intermittent issue")
                }
            case .javascript, .typescript:
                if ["xit", "xdescribe", "xtest", "xcontext"].contains(word), next?.isPunct(B.lparen) == true, prev?.isPunct(B.dot) != true {
                    report(t.line)
                } else if word == "skip", prev?.isPunct(B.dot) == true, next?.isPunct(B.lparen) == true, k >= 2,
                          ["it", "describe", "test", "context", "suite"].contains(text(tokens[k - 2])) {
                    report(t.line)
                }
            case .go:
                if ["Skip", "Skipf", "SkipNow"].contains(word), prev?.isPunct(B.dot) == true, next?.isPunct(B.lparen) == true, !conditional {
                    report(t.line)
                }
            case .rust:
                // #[ignore] or #[ignore = "…"]; cfg_attr(…, ignore) is conditional
                if word == "ignore", prev?.isPunct(B.lbracket) == true, k >= 2, tokens[k - 2].isPunct(B.hash) { report(t.line, .low, "ignored test") }
            case .java, .kotlin:
                if (word == "Disabled" || word == "Ignore"), prev?.isPunct(B.at) == true { report(t.line, .low, "disabled test") }
            case .csharp:
                if word == "Ignore", prev?.isPunct(B.lbracket) == true { report(t.line, .low, "ignored test") }
                if word == "Skip", next?.isPunct(B.eq) == true, insideBrackets(tokens, at: k) { report(t.line) }
            case .c, .cpp, .objc:
                if word == "GTEST_SKIP", !conditional { report(t.line) }
                if word.hasPrefix("DISABLED_") { report(t.line, .low, "disabled test") }
            default:
                break
            }
        }
    }

    /// Every word `skippedTests` looks at, in any language but Python (C's `DISABLED_` names aside).
    static let skipWords = WordSet(["disabled", "XCTSkip", "withKnownIssue", "xit", "xdescribe", "xtest", "xcontext", "skip",
                                    "Skip", "Skipf", "SkipNow", "ignore", "Disabled", "Ignore", "GTEST_SKIP"].map(Vocabulary.h))
    static let disabledPrefix = Array("DISABLED_".utf8)
    static let hashIf = Array("#if".utf8), hashEndif = Array("#endif".utf8)

    /// Whether a directive starts with `prefix` once its spaces are left out (`# if` is `#if`).
    func directive(_ t: Token, startsWith prefix: [UInt8]) -> Bool {
        var j = 0, k = Int(t.start)
        while j < prefix.count && k < Int(t.end) {
            if buf[k] != B.sp {
                if buf[k] != prefix[j] { return false }
                j += 1
            }
            k += 1
        }
        return j == prefix.count
    }

    static let conditionWords = WordSet(["if", "guard", "else", "switch", "case", "catch", "for", "while", "when", "select",
                                         "unless", "repeat"].map(Vocabulary.h))

    /// Whether the `{` at `k` opens a block that runs only under a condition: the statement it
    /// belongs to has `if`, `guard`, `else`, `switch`, `case`, `catch`, `for`, `while`, `when` or `select`.
    func opensConditionalBlock(_ tokens: [Token], at k: Int) -> Bool {
        let conditionWords = Self.conditionWords
        var j = k - 1, depth = 0, steps = 0
        while j >= 0, steps < 64 {
            let t = tokens[j]
            if t.isPunct(B.rparen) || t.isPunct(B.rbracket) { depth += 1 } else if t.isPunct(B.lparen) || t.isPunct(B.lbracket) { depth -= 1 }
            if depth == 0 && (t.isPunct(B.semicolon) || t.isPunct(B.lbrace) || t.isPunct(B.rbrace)) {
                // `} else {` and `} catch {`: the word after the closing brace decides
                return false
            }
            if depth <= 0, t.kind == .identifier, conditionWords.contains(t.hash), isPlain(t) {
                return true
            }
            j -= 1
            steps += 1
        }
        return false
    }

    /// Whether the argument list opened at `open` is followed by a trailing closure (`{ … }`): Swift
    /// Testing's `.disabled(_:_:)` takes its condition that way.
    func conditionClosureFollows(_ tokens: [Token], afterParenAt open: Int) -> Bool {
        guard open < tokens.count, tokens[open].isPunct(B.lparen) else { return false }
        var depth = 0, j = open
        while j < tokens.count {
            if tokens[j].isPunct(B.lparen) { depth += 1 } else if tokens[j].isPunct(B.rparen) {
                depth -= 1
                if depth == 0 { break }
            }
            j += 1
        }
        return j + 1 < tokens.count && tokens[j + 1].isPunct(B.lbrace)
    }

    /// Whether the token at `k` is a direct argument of an `@Test(…)` or `@Suite(…)` attribute (not
    /// inside a nested call's parentheses or an array).
    func insideTestAttribute(_ tokens: [Token], at k: Int) -> Bool {
        var j = k - 1, depth = 0
        while j >= 1 {
            let t = tokens[j]
            if t.isPunct(B.rbracket) { depth += 1 } else if t.isPunct(B.lbracket) {
                if depth == 0 { return false }
                depth -= 1
            } else if t.isPunct(B.rparen) { depth += 1 } else if t.isPunct(B.lparen) {
                if depth == 0 {
                    let name = text(tokens[j - 1])
                    return (name == "Test" || name == "Suite") && j >= 2 && tokens[j - 2].isPunct(B.at)
                }
                depth -= 1
            } else if t.isPunct(B.lbrace) || t.isPunct(B.rbrace) || t.isPunct(B.semicolon) {
                return false
            }
            j -= 1
        }
        return false
    }

    /// Whether the token at `k` is inside `[ … ]` (a C# attribute).
    func insideBrackets(_ tokens: [Token], at k: Int) -> Bool {
        var j = k - 1
        while j >= 0 {
            if tokens[j].isPunct(B.lbracket) { return true }
            if tokens[j].isPunct(B.rbracket) || tokens[j].isPunct(B.lbrace) || tokens[j].isPunct(B.rbrace) || tokens[j].isPunct(B.semicolon) { return false }
            j -= 1
        }
        return false
    }

    /// Python: decorators `@pytest.mark.skip` and `@unittest.skip` (not `skipif`, `skipIf`,
    /// `skipUnless`), and `pytest.skip(…)`, `self.skipTest(…)`, `raise SkipTest…` written at the
    /// body level of a function (or at module level): under an `if`, a loop, a `try` or a `with`
    /// they are conditions, indented deeper than the body.
    mutating func pythonSkips(_ tokens: [Token]) {
        var reported = Set<Int32>()
        let lines = (1...max(1, Int(facts.lines))).map { lineText(Int32($0)) }
        func indent(_ s: String) -> Int { s.prefix { $0 == " " || $0 == "\t" }.count }
        /// The indentation of the body of the function (or module) that contains line `l` (1-based).
        func bodyIndent(_ l: Int) -> Int {
            let here = indent(lines[l - 1])
            var i = l - 2
            while i >= 0 {
                let s = lines[i], trimmed = s.trimmingCharacters(in: .whitespaces)
                if !trimmed.isEmpty, !trimmed.hasPrefix("#"), indent(s) < here,
                   trimmed.hasPrefix("def ") || trimmed.hasPrefix("async def ") || trimmed.hasPrefix("class ") {
                    // the first statement after the def
                    var b = i + 1
                    while b < lines.count {
                        let t = lines[b].trimmingCharacters(in: .whitespaces)
                        if !t.isEmpty && !t.hasPrefix("#") && !t.hasPrefix("\"\"\"") && !t.hasPrefix("'''") { return indent(lines[b]) }
                        b += 1
                    }
                    return here
                } else if !trimmed.isEmpty, !trimmed.hasPrefix("#"), indent(s) < here {
                    return -1 // a block of some other statement (if, for, with, try …) encloses the line
                }
                i -= 1
            }
            return 0 // module level
        }
        for (k, t) in tokens.enumerated() where t.kind == .identifier {
            let word = text(t)
            let prev = k > 0 ? tokens[k - 1] : nil, next = k + 1 < tokens.count ? tokens[k + 1] : nil
            var unconditional = false
            if word == "skip", prev?.isPunct(B.dot) == true, k >= 2 {
                let owner = text(tokens[k - 2])
                let decorated = lines[Int(t.line) - 1].trimmingCharacters(in: .whitespaces).hasPrefix("@")
                if decorated && (owner == "mark" || owner == "unittest") {
                    unconditional = true
                } else if !decorated && owner == "pytest" && next?.isPunct(B.lparen) == true {
                    unconditional = bodyIndent(Int(t.line)) == indent(lines[Int(t.line) - 1])
                }
            } else if word == "skipTest", prev?.isPunct(B.dot) == true, next?.isPunct(B.lparen) == true {
                unconditional = bodyIndent(Int(t.line)) == indent(lines[Int(t.line) - 1])
            } else if word == "SkipTest", lines[Int(t.line) - 1].trimmingCharacters(in: .whitespaces).hasPrefix("raise") {
                unconditional = bodyIndent(Int(t.line)) == indent(lines[Int(t.line) - 1])
            }
            if unconditional && reported.insert(t.line).inserted {
                add("tdd/skipped-test", .low, line: t.line, "skipped test: \(lineText(t.line).trimmed.prefix(120))")
            }
        }
    }
}
