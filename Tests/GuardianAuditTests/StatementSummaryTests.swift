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
