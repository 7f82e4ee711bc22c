import Foundation
import GuardianCore
import GuardianCrypto
import GuardianTestKit
import Testing
@testable import GuardianAudit

/// The fast reader of signed statements (replication and imports) agrees with the full decoder.
@Suite struct StatementSummaryTests {
    @Test func summaryOfASignedAuditEqualsTheReport() throws {
        let repo = try Planted.make()
        let report = try PlantedAuditTests.audit(repo)
        #expect(!report.allViolations.isEmpty)
        let key = SigningKey()
        let envelope = try Attestation.sign(report.withoutTiming(), key: key)
        let (summary, verified) = try Attestation.verifySummary(envelope, trusted: [key.verifyingKey.nodeID.value: key.verifyingKey])
        let (statement, _) = try Attestation.verify(envelope, trusted: [key.verifyingKey.nodeID.value: key.verifyingKey])
        let expected = StatementSummary(statement.predicate)
        #expect(verified.signers == [key.verifyingKey.nodeID.value])
        #expect(summary.findings == expected.findings && summary.findings.count == report.allViolations.count)
        #expect(summary.commit == report.subject.commit && summary.overallHealthScore == report.overallHealthScore && summary.gatePassed == report.gate.passed)
        // a tampered envelope fails the same way as with the full decoder
        var bad = envelope
        bad[bad.count / 2] ^= 1
        #expect(throws: (any Error).self) { try Attestation.verifySummary(bad, trusted: [key.verifyingKey.nodeID.value: key.verifyingKey]) }
    }

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

    /// A violation in a signed statement needs its rule, a known severity, a message and a
    /// fingerprint; a file or line of another type reads as absent, and the first of repeated members counts.
    @Test func violationsAreReadMemberByMember() throws {
        let key = SigningKey()
        let trusted = [key.verifyingKey.nodeID.value: key.verifyingKey]
        func statement(_ violation: String) -> [UInt8] {
            let payload = #"{"_type":"https://in-toto.io/Statement/v1","subject":[],"predicateType":"x","predicate":{"overallHealthScore":80,"gate":{"passed":true},"subject":{"commit":null},"magicResults":{"#
                + "\"\(Check.allCases[0].rawValue)\":{\"violations\":[\(violation)]}}}}"
            return DSSE.sign(payload: Array(payload.utf8), payloadType: DSSE.inTotoPayloadType, key: key)
        }
        let good = #"{"ruleId":"r1","ruleId":"r2","severity":"high","file":12,"line":"7","message":"m","fingerprint":"f","fix":{"a":[1]}}"#
        let (summary, _) = try Attestation.verifySummary(statement(good), trusted: trusted)
        #expect(summary.findings == [.init(check: Check.allCases[0], ruleId: "r1", severity: .high, file: nil, line: nil, message: "m", fingerprint: "f")])
        // member names are matched as bytes; a name written with escapes is decoded first
        let escaped = #"{"\u0072uleId":"r","sev\u0065rity":"low","line":9,"message":"m","fingerprint":"f","file\"":"x"}"#
        let (named, _) = try Attestation.verifySummary(statement(escaped), trusted: trusted)
        #expect(named.findings == [.init(check: Check.allCases[0], ruleId: "r", severity: .low, file: nil, line: 9, message: "m", fingerprint: "f")])
        for bad in [#"{"severity":"high","message":"m","fingerprint":"f"}"#, #"{"ruleId":"r","severity":"awful","message":"m","fingerprint":"f"}"#,
                    #"{"ruleId":"r","severity":"high","message":"m"}"#, #"{"ruleId":"r","severity":"high","message":7,"fingerprint":"f"}"#, "3"] {
            #expect(throws: CryptoError.self, "\(bad)") { try Attestation.verifySummary(statement(bad), trusted: trusted) }
        }
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
