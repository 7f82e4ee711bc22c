/// A lexical token. Offsets index the file's bytes; `hash` is the FNV-1a hash of an identifier's
/// bytes, or the one or two punctuation bytes (`b0 | b1 << 8`).
struct Token: Sendable {
    enum Kind: UInt8, Sendable { case identifier, number, string, comment, punct, directive }
    var kind: Kind
    /// White space (or a comment) precedes the token.
    var spaceBefore: Bool
    var line: Int32
    var endLine: Int32
    var start: Int32
    var end: Int32
    var hash: UInt64

    @inline(__always) func isPunct(_ c: UInt8) -> Bool { kind == .punct && hash == UInt64(c) }
    @inline(__always) func isPunct2(_ a: UInt8, _ b: UInt8) -> Bool {
        kind == .punct && hash == UInt64(a) | UInt64(b) << 8
    }
    @inline(__always) func isIdent(_ h: UInt64) -> Bool { kind == .identifier && hash == h }
}

/// Byte constants.
enum B {
    static let nl: UInt8 = 10, cr: UInt8 = 13, sp: UInt8 = 32, tab: UInt8 = 9
    static let quote: UInt8 = 34, apos: UInt8 = 39, backtick: UInt8 = 96, backslash: UInt8 = 92
    static let slash: UInt8 = 47, star: UInt8 = 42, hash: UInt8 = 35, at: UInt8 = 64, dollar: UInt8 = 36
    static let lparen: UInt8 = 40, rparen: UInt8 = 41, lbrace: UInt8 = 123, rbrace: UInt8 = 125
    static let lbracket: UInt8 = 91, rbracket: UInt8 = 93, lt: UInt8 = 60, gt: UInt8 = 62
    static let comma: UInt8 = 44, semicolon: UInt8 = 59, colon: UInt8 = 58, dot: UInt8 = 46
    static let eq: UInt8 = 61, bang: UInt8 = 33, question: UInt8 = 63, amp: UInt8 = 38, pipe: UInt8 = 124
    static let minus: UInt8 = 45, plus: UInt8 = 43

    /// Letters, `_`, `$` and every byte of a multi-byte UTF-8 character; one bit per ASCII byte
    /// in two words, looked up without branches (the lexer asks for every byte of every name).
    @inline(__always) static func isIdentStart(_ b: UInt8) -> Bool {
        bit(b, low: 0x0000_0010_0000_0000, high: 0x07FF_FFFE_87FF_FFFE)
    }
    /// `isIdentStart` or a digit.
    @inline(__always) static func isIdentChar(_ b: UInt8) -> Bool {
        bit(b, low: 0x03FF_0010_0000_0000, high: 0x07FF_FFFE_87FF_FFFE)
    }
    /// Bit `b` of `low` (bytes 0–63) or `high` (64–127); true for bytes from 128.
    @inline(__always) private static func bit(_ b: UInt8, low: UInt64, high: UInt64) -> Bool {
        b >= 0x80 || ((b < 64 ? low : high) >> UInt64(b & 63)) & 1 != 0
    }
    @inline(__always) static func isDigit(_ b: UInt8) -> Bool { b >= 48 && b <= 57 }
    @inline(__always) static func isSpace(_ b: UInt8) -> Bool { b == sp || b == tab || b == cr || b == 11 || b == 12 }
}
