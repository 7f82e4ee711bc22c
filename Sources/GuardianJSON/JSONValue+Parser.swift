#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// The byte-level parser under `JSONValue.parse` and `JSONValue.Reader`.
extension JSONValue {
    @usableFromInline struct Parser {
        @usableFromInline let b: UnsafeBufferPointer<UInt8>
        @usableFromInline var i = 0
        @usableFromInline init(b: UnsafeBufferPointer<UInt8>) { self.b = b }

        /// Passes over one value without building it.
        @usableFromInline mutating func skip(depth: Int) throws {
            guard depth < 64 else { throw fail("nested too deeply") }
            guard i < b.count else { throw fail("unexpected end") }
            switch b[i] {
            case UInt8(ascii: "{"), UInt8(ascii: "["):
                let close = b[i] == UInt8(ascii: "{") ? UInt8(ascii: "}") : UInt8(ascii: "]")
                let isObject = close == UInt8(ascii: "}")
                i += 1
                skipSpace()
                if i < b.count, b[i] == close { i += 1; return }
                while true {
                    skipSpace()
                    if isObject {
                        guard i < b.count, b[i] == UInt8(ascii: "\"") else { throw fail("expected a member name") }
                        try skipString()
                        skipSpace()
                        guard i < b.count, b[i] == UInt8(ascii: ":") else { throw fail("expected ':'") }
                        i += 1
                        skipSpace()
                    }
                    try skip(depth: depth + 1)
                    skipSpace()
                    guard i < b.count else { throw fail("unexpected end") }
                    if b[i] == UInt8(ascii: ",") { i += 1; continue }
                    if b[i] == close { i += 1; return }
                    throw fail("expected ',' or a closing bracket")
                }
            case UInt8(ascii: "\""): try skipString()
            case UInt8(ascii: "t"): try literal(Self.trueWord)
            case UInt8(ascii: "f"): try literal(Self.falseWord)
            case UInt8(ascii: "n"): try literal(Self.nullWord)
            default: _ = try number()
            }
        }

        /// Passes over a string, checking its escapes.
        @usableFromInline mutating func skipString() throws {
            i += 1
            while i < b.count {
                let c = b[i]
                if c == UInt8(ascii: "\"") { i += 1; return }
                guard c >= 0x20 else { throw fail("a control character in a string") }
                if c == UInt8(ascii: "\\") {
                    guard i + 1 < b.count else { throw fail("unterminated escape") }
                    switch b[i + 1] {
                    case UInt8(ascii: "\""), UInt8(ascii: "\\"), UInt8(ascii: "/"), UInt8(ascii: "b"), UInt8(ascii: "f"), UInt8(ascii: "n"), UInt8(ascii: "r"), UInt8(ascii: "t"): i += 2
                    case UInt8(ascii: "u"):
                        i += 2
                        let scalar = try hex4()
                        if (0xD800...0xDBFF).contains(scalar) {
                            guard i + 6 <= b.count, b[i] == UInt8(ascii: "\\"), b[i + 1] == UInt8(ascii: "u") else { throw fail("a lone surrogate") }
                            i += 2
                            guard (0xDC00...0xDFFF).contains(try hex4()) else { throw fail("a bad surrogate pair") }
                        } else if (0xDC00...0xDFFF).contains(scalar) {
                            throw fail("a lone surrogate")
                        }
                    default: throw fail("unknown escape")
                    }
                    continue
                }
                i += 1
            }
            throw fail("unterminated string")
        }

        @usableFromInline func fail(_ reason: String) -> ParseError { ParseError(offset: i, reason: reason) }

        @inlinable mutating func skipSpace() {
            while i < b.count, b[i] == 0x20 || b[i] == 0x0A || b[i] == 0x0D || b[i] == 0x09 { i += 1 }
        }

        @usableFromInline mutating func value(depth: Int) throws -> JSONValue {
            guard depth < 64 else { throw fail("nested too deeply") }
            guard i < b.count else { throw fail("unexpected end") }
            switch b[i] {
            case UInt8(ascii: "{"):
                i += 1
                var members: [(String, JSONValue)] = []
                skipSpace()
                if i < b.count, b[i] == UInt8(ascii: "}") { i += 1; return .object(members) }
                while true {
                    skipSpace()
                    guard i < b.count, b[i] == UInt8(ascii: "\"") else { throw fail("expected a member name") }
                    let k = try string()
                    skipSpace()
                    guard i < b.count, b[i] == UInt8(ascii: ":") else { throw fail("expected ':'") }
                    i += 1
                    skipSpace()
                    members.append((k, try value(depth: depth + 1)))
                    skipSpace()
                    guard i < b.count else { throw fail("unexpected end in an object") }
                    if b[i] == UInt8(ascii: ",") { i += 1; continue }
                    if b[i] == UInt8(ascii: "}") { i += 1; return .object(members) }
                    throw fail("expected ',' or '}'")
                }
            case UInt8(ascii: "["):
                i += 1
                var items: [JSONValue] = []
                skipSpace()
                if i < b.count, b[i] == UInt8(ascii: "]") { i += 1; return .array(items) }
                while true {
                    skipSpace()
                    items.append(try value(depth: depth + 1))
                    skipSpace()
                    guard i < b.count else { throw fail("unexpected end in an array") }
                    if b[i] == UInt8(ascii: ",") { i += 1; continue }
                    if b[i] == UInt8(ascii: "]") { i += 1; return .array(items) }
                    throw fail("expected ',' or ']'")
                }
            case UInt8(ascii: "\""): return .string(try string())
            case UInt8(ascii: "t"): try literal(Self.trueWord); return .bool(true)
            case UInt8(ascii: "f"): try literal(Self.falseWord); return .bool(false)
            case UInt8(ascii: "n"): try literal(Self.nullWord); return .null
            default: return .number(try number())
            }
        }

        static let trueWord = Array("true".utf8), falseWord = Array("false".utf8), nullWord = Array("null".utf8)

        mutating func literal(_ word: [UInt8]) throws {
            guard i + word.count <= b.count else { throw fail("unexpected end") }
            for k in word.indices where b[i + k] != word[k] { throw fail("unknown literal") }
            i += word.count
        }

        @usableFromInline mutating func number() throws -> Double {
            let start = i
            if i < b.count, b[i] == UInt8(ascii: "-") { i += 1 }
            guard i < b.count, (48...57).contains(b[i]) else { throw fail("expected a value") }
            let digits = i
            if b[i] == 48 { i += 1 } else { while i < b.count, (48...57).contains(b[i]) { i += 1 } }
            // an integer of up to 15 digits is exact as a Double: no strtod (line numbers, scores)
            if i - digits <= 15, i == b.count || (b[i] != UInt8(ascii: ".") && b[i] | 0x20 != UInt8(ascii: "e")) {
                var v: Int64 = 0
                for k in digits..<i { v = v * 10 + Int64(b[k] &- 48) }
                return digits > start ? -Double(v) : Double(v)
            }
            if i < b.count, b[i] == UInt8(ascii: ".") {
                i += 1
                guard i < b.count, (48...57).contains(b[i]) else { throw fail("expected a digit") }
                while i < b.count, (48...57).contains(b[i]) { i += 1 }
            }
            if i < b.count, b[i] == UInt8(ascii: "e") || b[i] == UInt8(ascii: "E") {
                i += 1
                if i < b.count, b[i] == UInt8(ascii: "+") || b[i] == UInt8(ascii: "-") { i += 1 }
                guard i < b.count, (48...57).contains(b[i]) else { throw fail("expected an exponent") }
                while i < b.count, (48...57).contains(b[i]) { i += 1 }
            }
            guard let d = Double(String(decoding: UnsafeBufferPointer(rebasing: b[start..<i]), as: UTF8.self)) else { throw fail("bad number") }
            return d
        }

        mutating func hex4() throws -> UInt32 {
            guard i + 4 <= b.count else { throw fail("short \\u escape") }
            var v: UInt32 = 0
            for _ in 0..<4 {
                let c = b[i]
                let d: UInt32
                switch c {
                case 48...57: d = UInt32(c - 48)
                case 65...70: d = UInt32(c - 55)
                case 97...102: d = UInt32(c - 87)
                default: throw fail("bad \\u escape")
                }
                v = v << 4 | d
                i += 1
            }
            return v
        }

        /// A member name at the current position (on its opening quote).
        @inlinable mutating func key() throws -> Key {
            let start = i + 1
            var k = start
            while k < b.count, b[k] != UInt8(ascii: "\""), b[k] != UInt8(ascii: "\\"), b[k] >= 0x20 { k += 1 }
            if k < b.count, b[k] == UInt8(ascii: "\"") {
                i = k + 1
                return Key(raw: UnsafeBufferPointer(rebasing: b[start..<k]), decoded: nil)
            }
            // escapes, a control character or the end: the full reader decides
            let s = try string()
            return Key(raw: UnsafeBufferPointer(rebasing: b[start..<start]), decoded: s)
        }

        /// On a string's opening quote: when no escape or control character comes before its
        /// closing quote, moves past it and gives the range between the quotes; else stays and gives
        /// nil. The quote is found with `memchr` and the bytes before it checked in one branch-free
        /// pass (the payload of an envelope is most of its bytes).
        @usableFromInline mutating func plainString() -> Range<Int>? {
            let start = i + 1
            guard start < b.count, let base = b.baseAddress, let quote = memchr(base + start, 34, b.count - start) else { return nil }
            let stop = start + UnsafeRawPointer(base + start).distance(to: UnsafeRawPointer(quote))
            var bad: UInt8 = 0
            for k in start..<stop {
                let c = base[k]
                bad |= (c == 92 ? 1 : 0) | (c < 32 ? 1 : 0)
            }
            guard bad == 0 else { return nil }
            i = stop + 1
            return start..<stop
        }

        @usableFromInline mutating func string() throws -> String {
            i += 1 // the opening quote
            let start = i
            // the common case: no escapes, one copy
            while i < b.count, b[i] != UInt8(ascii: "\""), b[i] != UInt8(ascii: "\\") {
                guard b[i] >= 0x20 else { throw fail("a control character in a string") }
                i += 1
            }
            guard i < b.count else { throw fail("unterminated string") }
            if b[i] == UInt8(ascii: "\"") {
                let s = String(decoding: UnsafeBufferPointer(rebasing: b[start..<i]), as: UTF8.self)
                i += 1
                return s
            }
            var out = Array(b[start..<i])
            while i < b.count {
                let c = b[i]
                if c == UInt8(ascii: "\"") { i += 1; return String(decoding: out, as: UTF8.self) }
                guard c >= 0x20 else { throw fail("a control character in a string") }
                if c != UInt8(ascii: "\\") { out.append(c); i += 1; continue }
                i += 1
                guard i < b.count else { throw fail("unterminated escape") }
                let e = b[i]
                i += 1
                switch e {
                case UInt8(ascii: "\""): out.append(0x22)
                case UInt8(ascii: "\\"): out.append(0x5C)
                case UInt8(ascii: "/"): out.append(0x2F)
                case UInt8(ascii: "b"): out.append(0x08)
                case UInt8(ascii: "f"): out.append(0x0C)
                case UInt8(ascii: "n"): out.append(0x0A)
                case UInt8(ascii: "r"): out.append(0x0D)
                case UInt8(ascii: "t"): out.append(0x09)
                case UInt8(ascii: "u"):
                    var scalar = try hex4()
                    if (0xD800...0xDBFF).contains(scalar) {
                        guard i + 6 <= b.count, b[i] == UInt8(ascii: "\\"), b[i + 1] == UInt8(ascii: "u") else { throw fail("a lone surrogate") }
                        i += 2
                        let low = try hex4()
                        guard (0xDC00...0xDFFF).contains(low) else { throw fail("a bad surrogate pair") }
                        scalar = 0x10000 + ((scalar - 0xD800) << 10) + (low - 0xDC00)
                    }
                    guard let u = Unicode.Scalar(scalar) else { throw fail("not a Unicode scalar") }
                    out.append(contentsOf: Array(String(Character(u)).utf8))
                default: throw fail("unknown escape")
                }
            }
            throw fail("unterminated string")
        }
    }
}
