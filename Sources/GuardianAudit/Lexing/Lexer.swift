import GuardianCore

/// One-pass byte lexer for all language families. It knows comments, strings (with escapes,
/// interpolation, raw and multi-line forms), numbers, identifiers and punctuation, so that a
/// `TODO` inside a string or an `if` inside a comment is never mistaken for code.
///
/// Works on raw bytes: invalid UTF-8, NUL bytes and CRLF are harmless. Every loop advances,
/// so hostile input cannot hang it; an unterminated string or comment ends at end of file.
struct Lexer {
    let buf: UnsafeBufferPointer<UInt8>
    let d: Dialect
    var i = 0
    var line: Int32 = 1
    var tokens: [Token] = []
    /// Byte offset where each line starts; index 0 is line 1.
    var lineStarts: [Int32] = [0]
    var sawSpace = true
    /// Only white space seen on this line so far (for C preprocessor directives).
    var atLineStart = true

    init(buffer: UnsafeBufferPointer<UInt8>, dialect: Dialect) {
        buf = buffer
        d = dialect
        tokens.reserveCapacity(buffer.count / 4)
        lineStarts.reserveCapacity(buffer.count / 30)
    }

    @inline(__always) func at(_ k: Int) -> UInt8 { k < buf.count ? buf[k] : 0 }

    @inline(__always) mutating func newline(at k: Int) {
        line += 1
        lineStarts.append(Int32(k + 1))
    }

    mutating func emit(_ kind: Token.Kind, start: Int, startLine: Int32, hash: UInt64) {
        // An escape or a multi-byte step at the very end of the file may overshoot: clamp.
        if i > buf.count { i = buf.count }
        tokens.append(Token(kind: kind, spaceBefore: sawSpace, line: startLine, endLine: line,
                            start: Int32(start), end: Int32(i), hash: hash))
        sawSpace = kind == .comment
        atLineStart = false
    }

    mutating func run() {
        let n = buf.count
        while i < n {
            let b = buf[i]
            if b == B.nl {
                newline(at: i); i += 1; sawSpace = true; atLineStart = true; continue
            }
            if B.isSpace(b) || b == 0 { i += 1; sawSpace = true; continue }
            let start = i, startLine = line
            if b == B.slash && d.slashComments && at(i + 1) == B.slash {
                lineComment()
                emit(.comment, start: start, startLine: startLine, hash: 0)
            } else if b == B.slash && d.slashComments && at(i + 1) == B.star {
                blockComment()
                emit(.comment, start: start, startLine: startLine, hash: 0)
            } else if b == B.hash && d.hashComments {
                lineComment()
                emit(.comment, start: start, startLine: startLine, hash: 0)
            } else if b == B.hash && d.cPreprocessor && atLineStart {
                directive()
                emit(.directive, start: start, startLine: startLine, hash: 0)
            } else if b == B.hash && d.swiftStrings && swiftCompilerDirectiveAhead() {
                // #if / #elseif / #else / #endif: a whole-line directive, not code (lizard does the same)
                lineComment()
                emit(.directive, start: start, startLine: startLine, hash: 0)
            } else if b == B.hash && d.swiftStrings && (at(i + 1) == B.quote || at(i + 1) == B.hash) && rawSwiftAhead() {
                swiftRawString()
                emit(.string, start: start, startLine: startLine, hash: 0)
            } else if b == B.quote {
                doubleQuoted()
                emit(.string, start: start, startLine: startLine, hash: 0)
            } else if b == B.apos {
                if d.rustLifetimes && isLifetime() {
                    i += 1
                    while i < n && B.isIdentChar(buf[i]) { i += 1 }
                    emit(.identifier, start: start, startLine: startLine, hash: 0)
                } else if d.singleQuoteString || d.singleQuoteChar {
                    singleQuoted()
                    emit(.string, start: start, startLine: startLine, hash: 0)
                } else {
                    i += 1; emit(.punct, start: start, startLine: startLine, hash: UInt64(b))
                }
            } else if b == B.backtick && (d.backtickTemplate || d.backtickRaw) {
                backtickString()
                emit(.string, start: start, startLine: startLine, hash: 0)
            } else if b == B.backtick && d.backtickIdentifier {
                i += 1
                let s = i
                while i < n && buf[i] != B.backtick && buf[i] != B.nl { i += 1 }
                let h = StableHash.of(buf, from: s, to: i)
                if i < n && buf[i] == B.backtick { i += 1 }
                emit(.identifier, start: start, startLine: startLine, hash: h)
            } else if B.isDigit(b) {
                number()
                emit(.number, start: start, startLine: startLine, hash: StableHash.of(buf, from: start, to: i))
            } else if B.isIdentStart(b) {
                i += 1
                while i < n && B.isIdentChar(buf[i]) { i += 1 }
                if stringPrefix(start: start) {
                    emit(.string, start: start, startLine: startLine, hash: 0)
                } else {
                    emit(.identifier, start: start, startLine: startLine, hash: StableHash.of(buf, from: start, to: i))
                }
            } else if b == B.at && d.csharpStrings && at(i + 1) == B.quote {
                i += 1; verbatimString()
                emit(.string, start: start, startLine: startLine, hash: 0)
            } else {
                i += 1
                var h = UInt64(b)
                let c = at(i)
                if isTwoBytePunct(b, c) { h |= UInt64(c) << 8; i += 1 }
                emit(.punct, start: start, startLine: startLine, hash: h)
            }
        }
    }

    @inline(__always) func isTwoBytePunct(_ a: UInt8, _ b: UInt8) -> Bool {
        switch (a, b) {
        case (B.amp, B.amp), (B.pipe, B.pipe), (B.minus, B.gt), (B.eq, B.gt), (B.colon, B.colon),
             (B.question, B.question), (B.question, B.dot), (B.eq, B.eq), (B.bang, B.eq), (B.lt, B.eq),
             (B.gt, B.eq), (B.plus, B.eq), (B.minus, B.eq), (B.plus, B.plus), (B.minus, B.minus):
            return true
        default:
            return false
        }
    }

    mutating func lineComment() {
        let n = buf.count
        while i < n && buf[i] != B.nl { i += 1 }
    }

    mutating func blockComment() {
        let n = buf.count
        i += 2
        var depth = 1
        while i < n {
            let c = buf[i]
            if c == B.nl { newline(at: i); i += 1; continue }
            if c == B.star && at(i + 1) == B.slash {
                i += 2; depth -= 1
                if depth == 0 || !d.nestedBlockComments { return }
                continue
            }
            if d.nestedBlockComments && c == B.slash && at(i + 1) == B.star { depth += 1; i += 2; continue }
            i += 1
        }
    }

    mutating func directive() {
        let n = buf.count
        while i < n && buf[i] != B.nl {
            if buf[i] == B.backslash && at(i + 1) == B.nl { newline(at: i + 1); i += 2; continue }
            if buf[i] == B.slash && at(i + 1) == B.star { blockComment(); continue }
            if buf[i] == B.slash && at(i + 1) == B.slash { lineComment(); break }
            i += 1
        }
    }

    mutating func number() {
        let n = buf.count
        i += 1
        while i < n {
            let c = buf[i]
            if B.isIdentChar(c) && c < 0x80 {
                i += 1
            } else if c == B.dot && B.isDigit(at(i + 1)) {
                i += 1
            } else if (c == B.plus || c == B.minus) && (buf[i - 1] == 101 || buf[i - 1] == 69)
                        && !(buf[i - 2] == 48 && (at(i - 1) == 120)) {
                // exponent sign: 1e+5
                i += 1
            } else if c == B.apos && d.cppRawStrings && B.isDigit(at(i + 1)) {
                i += 1 // C++14 digit separator
            } else {
                break
            }
        }
    }

    /// Python (r, b, f, u and pairs), Rust (r#", b", br"), C++ (R", u8R", L"), C# ($", $@") prefixes.
    mutating func stringPrefix(start: Int) -> Bool {
        let len = i - start
        guard len <= 3, i < buf.count else { return false }
        let next = buf[i]
        if d.pythonPrefixes && (next == B.quote || next == B.apos) {
            for k in start..<i {
                switch buf[k] | 0x20 {
                case 114, 98, 102, 117: continue // r b f u
                default: return false
                }
            }
            if next == B.quote { doubleQuoted() } else { singleQuoted() }
            return true
        }
        if d.rustRawStrings {
            let word = Array(buf[start..<i])
            if (word == [114] || word == [98, 114]) && (next == B.hash || next == B.quote) {
                rustRawString(); return true
            }
            if word == [98] && next == B.quote { doubleQuoted(); return true }
            if word == [98] && next == B.apos { singleQuoted(); return true }
        }
        if d.cppRawStrings && next == B.quote {
            let word = Array(buf[start..<i])
            if word.last == 82 && word.count <= 3 { cppRawString(); return true } // R"delim(
            if word == [76] || word == [117] || word == [85] || word == [117, 56] { doubleQuoted(); return true }
        }
        return false
    }

    mutating func doubleQuoted() {
        if (d.tripleQuotes) && at(i + 1) == B.quote && at(i + 2) == B.quote {
            tripleQuoted(B.quote); return
        }
        quoted(B.quote)
    }

    mutating func singleQuoted() {
        if d.tripleQuotes && d.pythonPrefixes && at(i + 1) == B.apos && at(i + 2) == B.apos {
            tripleQuoted(B.apos); return
        }
        quoted(B.apos)
    }

    /// A one-line quoted literal with backslash escapes (and interpolation where the language has it).
    /// Stops at an unescaped newline so an unterminated literal cannot swallow the file.
    mutating func quoted(_ q: UInt8) {
        let n = buf.count
        i += 1
        while i < n {
            let c = buf[i]
            if c == q { i += 1; return }
            if c == B.nl { return }
            skipLiteralByte(c)
        }
    }

    mutating func tripleQuoted(_ q: UInt8) {
        let n = buf.count
        i += 3
        while i < n {
            let c = buf[i]
            if c == q && at(i + 1) == q && at(i + 2) == q {
                i += 3
                while i < n && buf[i] == q { i += 1 }
                return
            }
            if c == B.nl { newline(at: i); i += 1; continue }
            skipLiteralByte(c)
        }
    }

    /// Advances over one byte of a string body: an escape, an interpolation, or a plain byte.
    @inline(__always) mutating func skipLiteralByte(_ c: UInt8) {
        if c == B.backslash {
            if d.swiftStrings && at(i + 1) == B.lparen { i += 2; skipBalanced(B.lparen, B.rparen); return }
            if at(i + 1) == B.nl { newline(at: i + 1) }
            i += 2
        } else if d.dollarInterpolation && c == B.dollar && at(i + 1) == B.lbrace {
            i += 2; skipBalanced(B.lbrace, B.rbrace)
        } else {
            i += 1
        }
    }

    /// Skips interpolated code up to the matching closer, honouring nested literals.
    mutating func skipBalanced(_ open: UInt8, _ close: UInt8) {
        let n = buf.count
        var depth = 1
        while i < n {
            let c = buf[i]
            if c == B.nl { newline(at: i); i += 1; continue }
            if c == B.quote { doubleQuoted(); continue }
            if c == B.apos && d.singleQuoteString { singleQuoted(); continue }
            if c == B.backtick && d.backtickTemplate { backtickString(); continue }
            if c == open { depth += 1 } else if c == close {
                depth -= 1
                if depth == 0 { i += 1; return }
            }
            i += 1
        }
    }

    mutating func backtickString() {
        let n = buf.count
        i += 1
        while i < n {
            let c = buf[i]
            if c == B.backtick { i += 1; return }
            if c == B.nl { newline(at: i); i += 1; continue }
            if d.backtickTemplate {
                if c == B.backslash { if at(i + 1) == B.nl { newline(at: i + 1) }; i += 2; continue }
                if c == B.dollar && at(i + 1) == B.lbrace { i += 2; skipBalanced(B.lbrace, B.rbrace); continue }
            }
            i += 1
        }
    }

    func swiftCompilerDirectiveAhead() -> Bool {
        guard at(i + 1) == 105 || at(i + 1) == 101 else { return false } // i, e
        var k = i + 1
        while k < buf.count && B.isIdentChar(buf[k]) { k += 1 }
        let word = Array(buf[(i + 1)..<k])
        return word == Array("if".utf8) || word == Array("elseif".utf8) || word == Array("else".utf8)
            || word == Array("endif".utf8)
    }

    func rawSwiftAhead() -> Bool {
        var k = i
        while k < buf.count && buf[k] == B.hash { k += 1 }
        return k < buf.count && buf[k] == B.quote
    }

    /// `#"…"#`, `##"""…"""##`: no escapes except `\#(`; ends at the quote followed by the same number of #.
    mutating func swiftRawString() {
        let n = buf.count
        var hashes = 0
        while i < n && buf[i] == B.hash { hashes += 1; i += 1 }
        let triple = at(i) == B.quote && at(i + 1) == B.quote && at(i + 2) == B.quote
        i += triple ? 3 : 1
        while i < n {
            let c = buf[i]
            if c == B.nl {
                if !triple { return }
                newline(at: i); i += 1; continue
            }
            if c == B.quote && (!triple || (at(i + 1) == B.quote && at(i + 2) == B.quote)) {
                var k = i + (triple ? 3 : 1)
                var h = 0
                while k < n && buf[k] == B.hash && h < hashes { h += 1; k += 1 }
                if h == hashes { i = k; return }
            }
            i += 1
        }
    }

    mutating func rustRawString() {
        let n = buf.count
        var hashes = 0
        while i < n && buf[i] == B.hash { hashes += 1; i += 1 }
        guard i < n && buf[i] == B.quote else { return }
        i += 1
        while i < n {
            let c = buf[i]
            if c == B.nl { newline(at: i); i += 1; continue }
            if c == B.quote {
                var k = i + 1, h = 0
                while k < n && buf[k] == B.hash && h < hashes { h += 1; k += 1 }
                if h == hashes { i = k; return }
            }
            i += 1
        }
    }

    /// `R"delim( … )delim"`.
    mutating func cppRawString() {
        let n = buf.count
        i += 1
        let ds = i
        while i < n && buf[i] != B.lparen && buf[i] != B.nl && i - ds < 16 { i += 1 }
        guard i < n && buf[i] == B.lparen else { return }
        let delim = Array(buf[ds..<i])
        i += 1
        while i < n {
            let c = buf[i]
            if c == B.nl { newline(at: i); i += 1; continue }
            if c == B.rparen {
                var ok = true
                for (k, x) in delim.enumerated() where at(i + 1 + k) != x { ok = false; break }
                if ok && at(i + 1 + delim.count) == B.quote { i += 2 + delim.count; return }
            }
            i += 1
        }
    }

    /// C# `@"…"` with `""` as the escaped quote.
    mutating func verbatimString() {
        let n = buf.count
        i += 1
        while i < n {
            let c = buf[i]
            if c == B.nl { newline(at: i); i += 1; continue }
            if c == B.quote {
                if at(i + 1) == B.quote { i += 2; continue }
                i += 1; return
            }
            i += 1
        }
    }

    /// Rust `'a` (lifetime) versus `'a'` (char).
    func isLifetime() -> Bool {
        guard B.isIdentStart(at(i + 1)) else { return false }
        var k = i + 2
        while k < buf.count && B.isIdentChar(buf[k]) { k += 1 }
        return at(k) != B.apos
    }
}
