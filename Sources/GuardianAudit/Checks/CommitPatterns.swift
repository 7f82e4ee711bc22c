/// The commit-message patterns of the git, flow and sages checks, matched by hand over Unicode
/// scalars. They were `NSRegularExpression`s; ICU's first compile in a process cost a one-off audit
/// about a millisecond and a half, for some fifty short subjects. Each function states the pattern
/// it matches, with ICU's meaning of `\s`, `\S`, `\b` and `$`; a test compares them with those
/// expressions on real and crafted messages.
enum CommitPatterns {
    typealias Scalars = [Unicode.Scalar]

    /// ICU's `\s`: Unicode's White_Space (its documentation says `[\t\n\f\r\p{Z}]`, but it
    /// matches the vertical tab and U+0085 as well).
    static func isSpace(_ c: Unicode.Scalar) -> Bool {
        c.value < 128 ? (c.value >= 9 && c.value <= 13) || c.value == 32 : c.properties.isWhitespace
    }

    /// ICU's `\w` (what `\b` separates): alphabetic, marks, decimal digits, connector punctuation,
    /// and the zero-width (non-)joiner.
    static func isWord(_ c: Unicode.Scalar) -> Bool {
        if c.value < 128 {
            return (c.value >= 48 && c.value <= 57) || (c.value >= 65 && c.value <= 90) || (c.value >= 97 && c.value <= 122) || c.value == 95
        }
        if c.value == 0x200C || c.value == 0x200D { return true }
        let p = c.properties
        if p.isAlphabetic { return true }
        switch p.generalCategory {
        case .nonspacingMark, .spacingMark, .enclosingMark, .decimalNumber, .connectorPunctuation: return true
        default: return false
        }
    }

    /// What ICU's `\b` looks through: a grapheme extender (a combining mark) or a format character
    /// (a zero-width joiner). No boundary falls before one; the character before a position is the
    /// last one that is neither.
    static func isTransparent(_ c: Unicode.Scalar) -> Bool {
        guard c.value >= 0xAD else { return false } // U+00AD, the soft hyphen, is the first format character
        return c.properties.isGraphemeExtend || c.properties.generalCategory == .format
    }

    /// A line terminator that ICU's `$` may stand before at the end of the input.
    static func isLineEnd(_ c: Unicode.Scalar) -> Bool { [0x0A, 0x0B, 0x0C, 0x0D, 0x85, 0x2028, 0x2029].contains(c.value) }

    static func isDigit(_ c: Unicode.Scalar) -> Bool { c.value >= 48 && c.value <= 57 }
    static func isUpper(_ c: Unicode.Scalar) -> Bool { c.value >= 65 && c.value <= 90 }

    static func starts(_ s: Scalars, at i: Int, with p: String) -> Bool {
        var k = i
        for c in p.unicodeScalars {
            guard k < s.count, s[k] == c else { return false }
            k += 1
        }
        return true
    }

    /// The ends `$` matches at: the end, and before a final line terminator (`\r\n` as one).
    static func ends(_ s: Scalars) -> [Int] {
        var out = [s.count]
        if let last = s.last, isLineEnd(last) {
            out.append(s.count - 1)
            if last == "\n", s.count >= 2, s[s.count - 2] == "\r" { out.append(s.count - 2) }
        }
        return out
    }

    /// `(#[0-9]+)` ending exactly at `end`: where it starts, or nil.
    static func numberInParens(_ s: Scalars, endingAt end: Int) -> Int? {
        guard end >= 4, s[end - 1] == ")" else { return nil }
        var i = end - 2
        while i >= 0 && isDigit(s[i]) { i -= 1 }
        guard i < end - 2, i >= 1, s[i] == "#", s[i - 1] == "(" else { return nil }
        return i - 1
    }

    /// `^(feat|fix|docs|style|refactor|perf|test|tests|build|ci|chore|revert)(\([^)]+\))?!?: \S`
    static func isConventional(_ summary: String) -> Bool {
        let s = Scalars(summary.unicodeScalars)
        for type in ["feat", "fix", "docs", "style", "refactor", "perf", "test", "tests", "build", "ci", "chore", "revert"]
        where starts(s, at: 0, with: type) {
            var afters = [type.unicodeScalars.count]
            // the optional scope: `(`, at least one character that is not `)`, then `)`
            var j = afters[0]
            if j < s.count, s[j] == "(" {
                j += 1
                let open = j
                while j < s.count && s[j] != ")" { j += 1 }
                if j < s.count && j > open { afters.append(j + 1) }
            }
            for a in afters {
                for b in [a, a + 1] where b == a || (a < s.count && s[a] == "!") {
                    if b + 2 < s.count, s[b] == ":", s[b + 1] == " ", !isSpace(s[b + 2]) { return true }
                }
            }
        }
        return false
    }

    /// The subject without the ` \(#[0-9]+\)$` a code host appends when it squash-merges.
    static func withoutSquashSuffix(_ summary: String) -> String {
        let s = Scalars(summary.unicodeScalars)
        for end in ends(s) {
            if let start = numberInParens(s, endingAt: end), start >= 1, s[start - 1] == " " {
                var out = String.UnicodeScalarView()
                out.append(contentsOf: s[..<(start - 1)])
                return String(out)
            }
        }
        return summary
    }

    /// `\(#[0-9]+\)\s*$|^Merge (pull request|branch|remote-tracking)|See merge request|^Merged in `
    static func arrivedByReview(_ summary: String) -> Bool {
        let s = Scalars(summary.unicodeScalars)
        // prefixes compared scalar by scalar, as the expression does (not as Characters)
        if ["Merge pull request", "Merge branch", "Merge remote-tracking", "Merged in "].contains(where: { starts(s, at: 0, with: $0) })
            || summary.has("See merge request") {
            return true
        }
        for end in ends(s) {
            var e = end
            while e > 0 && isSpace(s[e - 1]) { e -= 1 }
            if numberInParens(s, endingAt: e) != nil { return true }
        }
        return false
    }

    /// `#[0-9]+|\b[A-Z][A-Z0-9]+-[0-9]+\b|/issues/[0-9]+|/pull/[0-9]+`
    static func referencesIssue(_ message: String) -> Bool {
        let s = Scalars(message.unicodeScalars)
        var i = 0
        while i < s.count {
            let c = s[i]
            if c == "#", i + 1 < s.count, isDigit(s[i + 1]) { return true }
            if c == "/" {
                for p in ["/issues/", "/pull/"] where starts(s, at: i, with: p) {
                    let k = i + p.unicodeScalars.count
                    if k < s.count, isDigit(s[k]) { return true }
                }
            }
            // a tracker key (`PROJ-123`) with a word boundary on both sides, as ICU's `\b` places them
            if isUpper(c) {
                var before = i - 1
                while before >= 0 && isTransparent(s[before]) { before -= 1 }
                if before < 0 || !isWord(s[before]) {
                    var j = i + 1
                    while j < s.count && (isUpper(s[j]) || isDigit(s[j])) { j += 1 }
                    if j > i + 1, j < s.count, s[j] == "-", j + 1 < s.count, isDigit(s[j + 1]) {
                        var k = j + 1
                        while k < s.count && isDigit(s[k]) { k += 1 }
                        if k == s.count || (!isTransparent(s[k]) && !isWord(s[k])) { return true }
                    }
                }
            }
            i += 1
        }
        return false
    }
}
