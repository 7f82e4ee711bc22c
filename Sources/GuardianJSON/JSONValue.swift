#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// A small, strict JSON reader (RFC 8259) for hot paths where `JSONDecoder` costs more than the
/// work around it: verifying and storing replicated or imported results reads a few fields of a
/// signed statement, and the generic decoder spent most of an import's time building the whole
/// report. Objects keep their members in order; numbers are `Double`.
public indirect enum JSONValue: Sendable, Equatable {
    case null
    case bool(Bool)
    case number(Double)
    case string(String)
    case array([JSONValue])
    case object([(String, JSONValue)])

    public static func == (a: JSONValue, b: JSONValue) -> Bool {
        switch (a, b) {
        case (.null, .null): true
        case (.bool(let x), .bool(let y)): x == y
        case (.number(let x), .number(let y)): x == y
        case (.string(let x), .string(let y)): x == y
        case (.array(let x), .array(let y)): x == y
        case (.object(let x), .object(let y)): x.count == y.count && zip(x, y).allSatisfy { $0.0 == $1.0 && $0.1 == $1.1 }
        default: false
        }
    }

    public struct ParseError: Error, CustomStringConvertible {
        public let offset: Int
        public let reason: String
        @usableFromInline init(offset: Int, reason: String) { self.offset = offset; self.reason = reason }
        public var description: String { "invalid JSON at byte \(offset): \(reason)" }
    }

    /// Parses a whole document (nesting at most 64 deep); anything malformed is an error.
    public static func parse(_ bytes: [UInt8]) throws -> JSONValue {
        try bytes.withUnsafeBufferPointer { buf in
            var p = Parser(b: buf)
            p.skipSpace()
            let v = try p.value(depth: 0)
            p.skipSpace()
            guard p.i == buf.count else { throw ParseError(offset: p.i, reason: "trailing characters") }
            return v
        }
    }

    public subscript(key: String) -> JSONValue? {
        guard case .object(let members) = self else { return nil }
        return members.first { $0.0 == key }?.1
    }

    public var string: String? { if case .string(let s) = self { s } else { nil } }
    public var number: Double? { if case .number(let n) = self { n } else { nil } }
    public var bool: Bool? { if case .bool(let b) = self { b } else { nil } }
    public var array: [JSONValue]? { if case .array(let a) = self { a } else { nil } }
    public var members: [(String, JSONValue)]? { if case .object(let m) = self { m } else { nil } }
    public var isNull: Bool { self == .null }

    /// Reads a document without building it: the caller walks objects member by member, takes the
    /// values it needs and skips the rest (skipped values are still checked for syntax, without
    /// allocating). Valid only inside `read`'s closure.
    ///
    /// Inlinable, with the parser's small steps: a statement's reader in another module then runs
    /// as one specialised function instead of a closure call and a `String` per member.
    public struct Reader {
        @usableFromInline var p: Parser
        @usableFromInline init(p: Parser) { self.p = p }

        /// Calls `member` for each member of the object at the current position, with its name; the
        /// callback must consume the value (`value`, `skip`, `string`, another `object`, ...).
        @inlinable public mutating func object(_ member: (String, inout Reader) throws -> Void) throws {
            try members { key, r in try member(key.string, &r) }
        }

        /// `object` with each member's name as a `Key` over the document's bytes, not a `String`:
        /// a name is matched with `switch key { case "name": ... }` (a byte comparison), and only a
        /// name with escapes is decoded. For readers that take a few members of large objects.
        @inlinable public mutating func members(_ member: (Key, inout Reader) throws -> Void) throws {
            try items(UInt8(ascii: "{"), UInt8(ascii: "}"), "an object") { r in
                guard r.p.i < r.p.b.count, r.p.b[r.p.i] == UInt8(ascii: "\"") else { throw r.p.fail("expected a member name") }
                let k = try r.p.key()
                r.p.skipSpace()
                guard r.p.i < r.p.b.count, r.p.b[r.p.i] == UInt8(ascii: ":") else { throw r.p.fail("expected ':'") }
                r.p.i += 1
                r.p.skipSpace()
                try member(k, &r)
            }
        }

        /// Calls `element` for each element of the array at the current position; the callback must
        /// consume the element.
        @inlinable public mutating func array(_ element: (inout Reader) throws -> Void) throws {
            try items(UInt8(ascii: "["), UInt8(ascii: "]"), "an array", element)
        }

        /// The comma-separated items between `open` and `close` (an object's members or an array's
        /// elements), each read by `item` from its first character.
        @inlinable mutating func items(_ open: UInt8, _ close: UInt8, _ what: String, _ item: (inout Reader) throws -> Void) throws {
            p.skipSpace()
            guard p.i < p.b.count, p.b[p.i] == open else { throw p.fail("expected \(what)") }
            p.i += 1
            p.skipSpace()
            if p.i < p.b.count, p.b[p.i] == close { p.i += 1; return }
            while true {
                p.skipSpace()
                try item(&self)
                p.skipSpace()
                guard p.i < p.b.count else { throw p.fail("unexpected end in \(what)") }
                if p.b[p.i] == UInt8(ascii: ",") { p.i += 1; continue }
                if p.b[p.i] == close { p.i += 1; return }
                throw p.fail("expected ',' or '\(Character(Unicode.Scalar(close)))'")
            }
        }

        /// The value at the current position, built.
        @inlinable public mutating func value() throws -> JSONValue { p.skipSpace(); return try p.value(depth: 1) }

        /// Passes over the value at the current position, checking its syntax.
        @inlinable public mutating func skip() throws { p.skipSpace(); try p.skip(depth: 1) }

        /// The string at the current position; any other value is passed over and gives nil (as
        /// `JSONValue.string` does).
        @inlinable public mutating func string() throws -> String? {
            p.skipSpace()
            guard p.i < p.b.count, p.b[p.i] == UInt8(ascii: "\"") else { try p.skip(depth: 1); return nil }
            return try p.string()
        }

        /// The string at the current position where it lies in the document: the byte range between
        /// its quotes when it has no escapes (its bytes are its text, nothing is copied), else its
        /// decoded text. Any other value is passed over and gives nil. For large strings read in
        /// place (a signed envelope's base64 payload).
        public mutating func stringSlice() throws -> StringSlice? {
            p.skipSpace()
            guard p.i < p.b.count, p.b[p.i] == UInt8(ascii: "\"") else { try p.skip(depth: 1); return nil }
            if let range = p.plainString() { return .bytes(range) }
            return .decoded(try p.string())
        }

        /// The number at the current position; any other value is passed over and gives nil.
        @inlinable public mutating func number() throws -> Double? {
            p.skipSpace()
            guard p.i < p.b.count, p.b[p.i] == UInt8(ascii: "-") || (48...57).contains(p.b[p.i]) else { try p.skip(depth: 1); return nil }
            return try p.number()
        }
    }

    /// A string as `Reader.stringSlice` gives it.
    public enum StringSlice: Equatable, Sendable {
        /// Offsets into the document of the text between the quotes (no escapes in it).
        case bytes(Range<Int>)
        /// The text of a string written with escapes.
        case decoded(String)
    }

    /// A member name as `Reader.members` gives it: the raw bytes between the quotes, or the decoded
    /// name when it has escapes. Valid only inside the member's callback.
    public struct Key {
        @usableFromInline let raw: UnsafeBufferPointer<UInt8>
        @usableFromInline let decoded: String?
        @usableFromInline init(raw: UnsafeBufferPointer<UInt8>, decoded: String?) { self.raw = raw; self.decoded = decoded }

        /// The name as a `String`.
        @inlinable public var string: String { decoded ?? String(decoding: raw, as: UTF8.self) }

        @inlinable public static func ~= (pattern: StaticString, key: Key) -> Bool {
            let n = pattern.utf8CodeUnitCount
            if let d = key.decoded { return d.utf8.elementsEqual(UnsafeBufferPointer(start: pattern.utf8Start, count: n)) }
            guard key.raw.count == n else { return false }
            guard let base = key.raw.baseAddress else { return n == 0 }
            return memcmp(base, pattern.utf8Start, n) == 0
        }
    }

    /// Walks a whole document with a `Reader`; trailing characters are an error.
    @inlinable public static func read<T>(_ bytes: [UInt8], _ body: (inout Reader) throws -> T) throws -> T {
        try bytes.withUnsafeBufferPointer { buf in
            var r = Reader(p: Parser(b: buf))
            let v = try body(&r)
            r.p.skipSpace()
            guard r.p.i == buf.count else { throw ParseError(offset: r.p.i, reason: "trailing characters") }
            return v
        }
    }
}
