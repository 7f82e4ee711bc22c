import Foundation
import GuardianJSON
import Testing

/// The reader (`JSONValue.parse`, `JSONValue.read`) against Foundation's parser, and its walking API.
@Suite struct ReaderTests {
    @Test func jsonReaderMatchesFoundation() throws {
        let docs = [
            #"{"a":[1,-2.5e3,true,false,null],"b":{"c":"x\"y\\z\/\b\f\n\r\t\u00e9\ud83d\ude00"},"d":""}"#,
            #"  [ {} , [] , 0 , "" ]  "#,
            #""plain""#,
            // integers take a fast path below 16 digits; longer ones, fractions and exponents go to strtod
            #"[0,-0,7,-42,123456789012345,-999999999999999,1234567890123456,12345678901234567890,1e2,-3.25,0.5E-1]"#,
        ]
        for d in docs {
            let mine = try JSONValue.parse(Array(d.utf8))
            let theirs = try JSONSerialization.jsonObject(with: Data(d.utf8), options: [.fragmentsAllowed])
            #expect(Self.same(mine, theirs), "\(d)")
            try JSONValue.read(Array(d.utf8)) { try $0.skip() } // skipping checks the same syntax
        }
        for bad in ["", "{", "[1,]", "{\"a\" 1}", "01", "1.", "\"\u{01}\"", "\"\\x\"", "\"\\ud800\"", "tru", "[1] x", String(repeating: "[", count: 100)] {
            #expect(throws: JSONValue.ParseError.self, "\(bad)") { try JSONValue.parse(Array(bad.utf8)) }
            #expect(throws: JSONValue.ParseError.self, "\(bad)") { try JSONValue.read(Array(bad.utf8)) { try $0.skip() } }
        }
    }

    /// The reader's arrays, strings and numbers: values of another type give nil and are passed
    /// over, and what follows is still read.
    @Test func readerArraysStringsAndNumbers() throws {
        let doc = #"{"list":[{"s":"a","n":1},{"s":7,"n":"x"},{"s":null,"n":-2.5e1,"extra":[{"deep":[]}]}],"after":"z"}"#
        var seen: [(String?, Double?)] = [], after: String?
        try JSONValue.read(Array(doc.utf8)) { r in
            try r.object { key, r in
                switch key {
                case "list":
                    try r.array { r in
                        var s: String?, n: Double?
                        try r.object { key, r in
                            switch key {
                            case "s": s = try r.string()
                            case "n": n = try r.number()
                            default: try r.skip()
                            }
                        }
                        seen.append((s, n))
                    }
                default: after = try r.string()
                }
            }
        }
        #expect(seen.map(\.0) == ["a", nil, nil] && seen.map(\.1) == [1, nil, -25])
        #expect(after == "z")
        for bad in [#"{"list":[1,]}"#, #"{"list":[1 2]}"#, #"{"list":{}}"#, #"{"list":["#] {
            #expect(throws: JSONValue.ParseError.self, "\(bad)") {
                try JSONValue.read(Array(bad.utf8)) { r in try r.object { _, r in try r.array { r in try r.skip() } } }
            }
        }
    }

    /// A string read in place: its byte range when it has no escapes, its decoded text when it has,
    /// nil (and passed over) when the value is not a string; what follows is still read.
    @Test func stringSlicesAreReadInPlace() throws {
        let doc = Array(#"{"plain":"abc/+=","escaped":"a\"b\u00e9","number":12,"empty":"","next":"z"}"#.utf8)
        var got: [String: JSONValue.StringSlice?] = [:]
        try JSONValue.read(doc) { r in
            try r.object { key, r in got[key] = try r.stringSlice() }
        }
        guard case .bytes(let plain)?? = got["plain"], case .bytes(let empty)?? = got["empty"], case .bytes(let next)?? = got["next"] else {
            Issue.record("plain strings are not byte ranges: \(got)")
            return
        }
        #expect(String(decoding: doc[plain], as: UTF8.self) == "abc/+=")
        #expect(empty.isEmpty && doc[empty.lowerBound - 1] == UInt8(ascii: "\""))
        #expect(String(decoding: doc[next], as: UTF8.self) == "z")
        #expect(got["escaped"] == .some(.decoded("a\"b\u{e9}")))
        #expect(got["number"] == .some(nil))
        // a control character, an unterminated string, a bad escape: errors, as for `string()`
        for bad in ["\"a\u{01}b\"", "\"abc", "\"a\\qb\""] {
            #expect(throws: JSONValue.ParseError.self, "\(bad)") { try JSONValue.read(Array(bad.utf8)) { try $0.stringSlice() } }
        }
    }

    /// Member names matched as bytes (`Key ~=`), and decoded when written with escapes.
    @Test func memberNamesMatchAsBytesOrDecoded() throws {
        let doc = Array(#"{"name":1,"n\u0061me":2,"nam":3,"names":4}"#.utf8)
        var matched: [Double] = []
        try JSONValue.read(doc) { r in
            try r.members { key, r in
                switch key {
                case "name": matched.append(try r.number() ?? -1)
                default: try r.skip()
                }
            }
        }
        #expect(matched == [1, 2])
    }

    static func same(_ v: JSONValue, _ f: Any) -> Bool {
        switch v {
        case .null: return f is NSNull
        case .bool(let b): return (f as? Bool) == b
        case .number(let n): return (f as? NSNumber)?.doubleValue == n
        case .string(let s): return (f as? String) == s
        case .array(let a):
            guard let fa = f as? [Any], fa.count == a.count else { return false }
            return zip(a, fa).allSatisfy { same($0, $1) }
        case .object(let m):
            guard let fo = f as? [String: Any], fo.count == m.count else { return false }
            return m.allSatisfy { k, x in fo[k].map { same(x, $0) } ?? false }
        }
    }
}
