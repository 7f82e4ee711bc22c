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
}
