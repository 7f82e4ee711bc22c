import Foundation
import GuardianJSON
import Testing

/// The canonical writer writes what `JSONEncoder` with sorted keys and unescaped slashes writes.
@Suite struct WriterTests {
    static func encoder() -> JSONEncoder {
        let e = JSONEncoder()
        e.outputFormatting = [.sortedKeys, .withoutEscapingSlashes]
        return e
    }

    @Test func stringsAreEscapedAsJSONEncoderDoes() throws {
        func written(_ s: String) -> [UInt8] { var w = CanonicalWriter(); w.string(s); return w.out }
        #expect(String(decoding: written("a\"b\\c\n\u{1}/"), as: UTF8.self) == #""a\"b\\c\n\u0001/""#)
        // every control character, as JSONEncoder writes it
        let controls = String(decoding: (0..<32).map { UInt8($0) } + Array("é/\"\\".utf8), as: UTF8.self)
        #expect(written(controls) == Array(try Self.encoder().encode(controls)))
    }

    @Test func numbersAreWrittenAsJSONEncoderDoes() throws {
        for v in [0, 1, 9, 10, 42, -1, -42, 1_000_000, Int(Int32.max), -999_999_999_999, 123_456_789_012_345] {
            var w = CanonicalWriter()
            w.int(v)
            #expect(w.out == Array(try Self.encoder().encode(v)), "\(v)")
        }
        for v in [0.0, 1.0, -3.0, 0.5, 0.125, 12.75, -0.25, 99.5] {
            var w = CanonicalWriter()
            w.double(v)
            #expect(w.out == Array(try Self.encoder().encode(v)), "\(v)")
        }
    }

    /// Objects and arrays with their commas, keys sorted by UTF-8 bytes (as JSONEncoder sorts),
    /// nil fields left out: the bytes JSONEncoder gives for the same value.
    @Test func objectsMatchJSONEncoder() throws {
        struct Value: Encodable {
            var b: [String: Int] = ["z": 1, "a": 2, "B": 3, "é": 4, "aa": 5]
            var a: String? = "x/y"
            var c: Int? = nil
            var d = true
            var e: [Int] = [3, 1, 2]
        }
        var w = CanonicalWriter()
        w.beginObject()
        w.field("a", "x/y")
        w.field("b", ["z": 1, "a": 2, "B": 3, "é": 4, "aa": 5])
        w.field("c", Int?.none)
        w.field("d", true)
        w.key("e")
        w.beginArray()
        for x in [3, 1, 2] { w.int(x) }
        w.endArray()
        w.endObject()
        #expect(String(decoding: w.out, as: UTF8.self) == String(decoding: try Self.encoder().encode(Value()), as: UTF8.self))
        #expect(["b", "B", "aa", "a", "é"].sorted(by: CanonicalJSON.precedes) == ["B", "a", "aa", "b", "é"])
    }

    /// Indented canonical JSON is what JSONEncoder with `.prettyPrinted` writes: nesting, empty
    /// containers, and strings holding brackets, commas, colons and escaped quotes left as they are.
    @Test func indentedMatchesPrettyPrintingEncoder() throws {
        struct Inner: Encodable { var s = "a, b: {c} [d] \"e\" \\"; var none: [Int] = []; var empty: [String: Int] = [:] }
        struct Value: Encodable {
            var a: [Inner] = [Inner(), Inner()]
            var b: [[Int]] = [[], [1, 2], [3]]
            var c: [String: [String]] = ["k": ["x", "y\n"], "l": []]
            var d = 0.5
            var e: [Inner] = []
        }
        let pretty = JSONEncoder()
        pretty.outputFormatting = [.sortedKeys, .prettyPrinted, .withoutEscapingSlashes]
        let canonical = try Self.encoder().encode(Value())
        #expect(String(decoding: PrettyJSON.indent(Array(canonical)), as: UTF8.self)
                == String(decoding: try pretty.encode(Value()), as: UTF8.self))
        #expect(PrettyJSON.indent(Array("[]".utf8)) == Array(try pretty.encode([Int]())))
    }

    /// What the writer writes, the reader reads back.
    @Test func readerReadsWhatTheWriterWrites() throws {
        var w = CanonicalWriter()
        w.beginObject()
        w.field("k", "v\u{0}\t\"")
        w.field("n", -17)
        w.endObject()
        #expect(try JSONValue.parse(w.out) == .object([("k", .string("v\u{0}\t\"")), ("n", .number(-17))]))
    }
}
