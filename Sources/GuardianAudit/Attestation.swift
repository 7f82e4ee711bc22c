import Foundation
import GuardianCore
import GuardianCrypto

/// An in-toto Statement v1 whose subject is the repository and its `gitCommit` digest and whose
/// predicate is the audit report. Signed in a DSSE envelope, it is Guardian's result record.
public struct AuditStatement: Codable, Sendable, Equatable {
    public static let statementType = "https://in-toto.io/Statement/v1"
    public static let predicateTypeV1 = "https://guardian.dev/audit-report/v1"

    public struct Subject: Codable, Sendable, Equatable {
        public var name: String
        public var digest: [String: String]
    }

    public var type: String
    public var subject: [Subject]
    public var predicateType: String
    public var predicate: AuditReport

    enum CodingKeys: String, CodingKey {
        case type = "_type", subject, predicateType, predicate
    }

    public init(report: AuditReport) {
        type = Self.statementType
        var digest: [String: String] = [:]
        if let c = report.subject.commit { digest["gitCommit"] = c }
        subject = [Subject(name: report.subject.repository, digest: digest)]
        predicateType = Self.predicateTypeV1
        predicate = report
    }
}

public enum Attestation {
    /// Canonical statement bytes: compact JSON with sorted keys (`CanonicalWriter`).
    public static func statementBytes(_ report: AuditReport) throws -> [UInt8] {
        let st = AuditStatement(report: report)
        var w = CanonicalWriter(capacity: 4096)
        w.beginObject()
        w.field("_type", st.type)
        w.key("predicate"); w.raw(report.canonicalBytes)
        w.field("predicateType", st.predicateType)
        w.key("subject")
        w.beginArray()
        for s in st.subject {
            w.beginObject()
            w.key("digest"); w.beginObject(); for k in s.digest.keys.sorted(by: CanonicalJSON.precedes) { w.field(k, s.digest[k]) }; w.endObject()
            w.field("name", s.name)
            w.endObject()
        }
        w.endArray()
        w.endObject()
        return w.out
    }

    /// A signed DSSE envelope over the report's statement.
    public static func sign(_ report: AuditReport, key: SigningKey) throws -> [UInt8] {
        DSSE.sign(payload: try statementBytes(report), payloadType: DSSE.inTotoPayloadType, key: key)
    }

    /// Verifies an envelope and decodes its statement.
    public static func verify(_ envelope: [UInt8], trusted: [String: VerifyingKey]) throws -> (AuditStatement, VerifiedEnvelope) {
        let v = try DSSE.verify(envelope, trusted: trusted)
        guard v.payloadType == DSSE.inTotoPayloadType else {
            throw CryptoError("payload type is \(v.payloadType), expected \(DSSE.inTotoPayloadType)")
        }
        do {
            let st = try JSONDecoder().decode(AuditStatement.self, from: Data(v.payload))
            guard st.type == AuditStatement.statementType else { throw CryptoError("statement type \(st.type) is not in-toto v1") }
            return (st, v)
        } catch let e as CryptoError {
            throw e
        } catch {
            throw CryptoError("signed payload is not a Guardian audit statement: \(error)")
        }
    }
}
