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
            let (kind, hash) = token(b, start: start)
            emit(kind, start: start, startLine: startLine, hash: hash)
        }
    }

    /// Reads the token that starts with `b` at `i`, leaving `i` after it: its kind and hash.
    @inline(__always) mutating func token(_ b: UInt8, start: Int) -> (Token.Kind, UInt64) {
        if let t = commentOrDirective(b) { return t }
        switch b {
        case B.quote: doubleQuoted(); return (.string, 0)
        case B.apos: return apostrophe()
        case B.backtick where d.backtickTemplate || d.backtickRaw: backtickString(); return (.string, 0)
        case B.backtick where d.backtickIdentifier: return backtickIdentifier()
        case B.at where d.csharpStrings && at(i + 1) == B.quote: i += 1; verbatimString(); return (.string, 0)
        default: break
        }
        if B.isDigit(b) {
            number()
            return (.number, StableHash.of(buf, from: start, to: i))
        }
        if B.isIdentStart(b) {
            // hashed as it is read (StableHash.of over the same bytes): one pass over the name
            var h = StableHash.step(StableHash.offset, b)
            i += 1
            let n = buf.count
            while i < n {
                let c = buf[i]
                guard B.isIdentChar(c) else { break }
                h = StableHash.step(h, c)
                i += 1
            }
            return stringPrefix(start: start) ? (.string, 0) : (.identifier, h)
        }
        i += 1
        var h = UInt64(b)
        let c = at(i)
        if isTwoBytePunct(b, c) { h |= UInt64(c) << 8; i += 1 }
        return (.punct, h)
    }

    /// Comments, preprocessor and Swift compiler directives, and Swift raw strings (`#"…"#`): what a
    /// `/` or a `#` may start. Nil when it starts none of them.
    @inline(__always) mutating func commentOrDirective(_ b: UInt8) -> (Token.Kind, UInt64)? {
        if b == B.slash && d.slashComments {
            if at(i + 1) == B.slash { lineComment(); return (.comment, 0) }
            if at(i + 1) == B.star { blockComment(); return (.comment, 0) }
            return nil
        }
        guard b == B.hash else { return nil }
        if d.hashComments { lineComment(); return (.comment, 0) }
        if d.cPreprocessor && atLineStart { directive(); return (.directive, 0) }
        // #if / #elseif / #else / #endif: a whole-line directive, not code (lizard does the same)
        if d.swiftStrings && swiftCompilerDirectiveAhead() { lineComment(); return (.directive, 0) }
        if d.swiftStrings && (at(i + 1) == B.quote || at(i + 1) == B.hash) && rawSwiftAhead() { swiftRawString(); return (.string, 0) }
        return nil
    }

    /// A Rust lifetime (`'a`), a quoted string or character, or a lone apostrophe.
    mutating func apostrophe() -> (Token.Kind, UInt64) {
        if d.rustLifetimes && isLifetime() {
            i += 1
            while i < buf.count && B.isIdentChar(buf[i]) { i += 1 }
            return (.identifier, 0)
        }
        if d.singleQuoteString || d.singleQuoteChar {
            singleQuoted()
            return (.string, 0)
        }
        i += 1
        return (.punct, UInt64(B.apos))
    }

    /// A backtick-quoted identifier (Swift, Kotlin): hashed without its backticks.
    mutating func backtickIdentifier() -> (Token.Kind, UInt64) {
        i += 1
        let s = i
        while i < buf.count && buf[i] != B.backtick && buf[i] != B.nl { i += 1 }
        let h = StableHash.of(buf, from: s, to: i)
        if i < buf.count && buf[i] == B.backtick { i += 1 }
        return (.identifier, h)
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

    /// To the end of the line (`memchr`: comments are a good part of most files).
    mutating func lineComment() {
        if i < buf.count { i = buf.index(of: B.nl, from: i) ?? buf.count }
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

    /// Rust `'a` (lifetime) versus `'a'` (char).
    func isLifetime() -> Bool {
        guard B.isIdentStart(at(i + 1)) else { return false }
        var k = i + 2
        while k < buf.count && B.isIdentChar(buf[k]) { k += 1 }
        return at(k) != B.apos
    }
}
