import Foundation
import GuardianCore
import GuardianCrypto
import GuardianJSON

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

/// What a store keeps of a verified statement besides its bytes: the commit, the scores and the
/// findings, read with `JSONValue` (decoding the whole report with `JSONDecoder` was most of the
/// cost of storing a replicated or imported result).
public struct StatementSummary: Sendable {
    public struct Finding: Sendable, Equatable {
        public var check: Check
        public var ruleId: String
        public var severity: Severity
        public var file: String?
        public var line: Int?
        public var message: String
        public var fingerprint: String
        /// Suppressed in the source or dismissed: reported, counted toward nothing, never alerted.
        public var suppressed = false
        /// In a pull request's result: new against the merge base (nil elsewhere).
        public var isNew: Bool?
    }
    public var commit: String?
    /// The repository the statement is about, and the project it was audited for (nil in
    /// statements of `guardian audit` and of versions before results named their project).
    public var repository: String?
    public var project: String?
    /// The pull request the result is for (nil: the project's branch).
    public var pullRequest: Int?
    /// The audit's time from the signed statement (`timing.startedAt`), milliseconds since 1970;
    /// nil when the statement carries none (timing fields zeroed).
    public var signedAtMs: Int64?
    public var overallHealthScore: Int
    public var gatePassed: Bool
    /// In check order, then as listed: the order the store keeps them in.
    public var findings: [Finding]
    /// Each check's status (what alerts compare between results).
    public var checkStatuses: [Check: CheckStatus] = [:]

    /// The summary of a report (what `verifySummary` reads back from its statement).
    public init(_ report: AuditReport) {
        commit = report.subject.commit
        repository = report.subject.repository
        project = report.subject.project
        pullRequest = report.subject.pullRequest
        signedAtMs = Timestamp.parse(report.timing.startedAt).flatMap { $0 > 0 ? $0 : nil }
        overallHealthScore = report.overallHealthScore
        gatePassed = report.gate.passed
        findings = Check.allCases.flatMap { c in
            (report.magicResults[c.rawValue]?.violations ?? []).map {
                Finding(check: c, ruleId: $0.ruleId, severity: $0.severity, file: $0.file, line: $0.line, message: $0.message,
                        fingerprint: $0.fingerprint, suppressed: !$0.isCounted, isNew: $0.isNew)
            }
        }
        for c in Check.allCases { if let r = report.magicResults[c.rawValue] { checkStatuses[c] = r.status } }
    }

    /// Reads the statement, building only the violations (the rest of the report is skipped).
    /// `bytes` is a payload whose signature was checked (`verifySummary` does both).
    public init(statement bytes: [UInt8]) throws {
        func bad(_ what: String) -> CryptoError { CryptoError("signed payload is not a Guardian audit statement: \(what)") }
        var type: String?, score: Double?, passed: Bool?, commit: String?, repository: String?, project: String?, started: String?
        var pullRequest: Int?
        var sawResults = false
        var byCheck: [Check: [Finding]] = [:]
        var statuses: [Check: CheckStatus] = [:]
        do {
            try JSONValue.read(bytes) { r in
                try r.members { key, r in
                    switch key {
                    case "_type": type = try r.value().string
                    case "predicate":
                        try r.members { key, r in
                            switch key {
                            case "overallHealthScore": score = try r.value().number
                            case "gate": try r.members { key, r in if case "passed" = key { passed = try r.value().bool } else { try r.skip() } }
                            case "subject":
                                try r.members { key, r in
                                    switch key {
                                    case "commit":
                                        switch try r.value() {
                                        case .string(let c): commit = c
                                        case .null: commit = nil
                                        default: throw bad("a commit that is not a string")
                                        }
                                    case "repository": repository = try r.string()
                                    case "project": project = try r.string()
                                    case "pullRequest":
                                        guard let n = try r.number(), n >= 1, n <= 1e12, n == n.rounded() else { throw bad("a pull request number that is not one") }
                                        pullRequest = Int(n)
                                    default: try r.skip()
                                    }
                                }
                            case "timing":
                                try r.members { key, r in if case "startedAt" = key { started = try r.string() } else { try r.skip() } }
                            case "magicResults":
                                sawResults = true
                                try r.members { name, r in
                                    guard let check = Check(rawValue: name.string) else { return try r.skip() }
                                    try r.members { key, r in
                                        if case "status" = key {
                                            if let s = try r.value().string.flatMap(CheckStatus.init(rawValue:)) { statuses[check] = s }
                                            return
                                        }
                                        guard case "violations" = key else { return try r.skip() }
                                        var list: [Finding] = []
                                        try r.array { r in list.append(try Self.finding(check, &r, bad)) }
                                        byCheck[check] = list
                                    }
                                }
                            default: try r.skip()
                            }
                        }
                    default: try r.skip()
                    }
                }
            }
        } catch let e as CryptoError { throw e } catch { throw bad("\(error)") }
        guard type == AuditStatement.statementType else { throw CryptoError("statement type is not in-toto v1") }
        guard let score, let passed, sawResults else { throw bad("no scores") }
        self.commit = commit
        self.repository = repository
        self.project = project
        self.pullRequest = pullRequest
        signedAtMs = started.flatMap(Timestamp.parse).flatMap { $0 > 0 ? $0 : nil }
        overallHealthScore = Int(score)
        gatePassed = passed
        findings = Check.allCases.flatMap { byCheck[$0] ?? [] }
        checkStatuses = statuses
    }

    /// One violation, read member by member (building each as a `JSONValue` was most of the time an
    /// import spent reading statements). The first of repeated members counts; a member of another
    /// type than expected counts as missing.
    private static func finding(_ check: Check, _ r: inout JSONValue.Reader, _ bad: (String) -> CryptoError) throws -> Finding {
        var rule: String??, severity: String??, file: String??, line: Double??, message: String??, fingerprint: String??
        var suppressed = false
        var isNew: Bool?
        func string(_ slot: inout String??, _ r: inout JSONValue.Reader) throws {
            if slot == nil { slot = .some(try r.string()) } else { try r.skip() }
        }
        try r.members { key, r in
            switch key {
            case "ruleId": try string(&rule, &r)
            case "severity": try string(&severity, &r)
            case "file": try string(&file, &r)
            case "line": if line == nil { line = .some(try r.number()) } else { try r.skip() }
            case "message": try string(&message, &r)
            case "fingerprint": try string(&fingerprint, &r)
            case "suppression": if case .null = try r.value() {} else { suppressed = true }
            case "isNew": if isNew == nil { isNew = try r.value().bool } else { try r.skip() }
            default: try r.skip()
            }
        }
        guard let rule = rule ?? nil, let severity = (severity ?? nil).flatMap(Severity.init(rawValue:)),
              let message = message ?? nil, let fingerprint = fingerprint ?? nil else { throw bad("a violation without its fields") }
        return Finding(check: check, ruleId: rule, severity: severity, file: file ?? nil, line: (line ?? nil).map { Int($0) },
                       message: message, fingerprint: fingerprint, suppressed: suppressed, isNew: isNew)
    }
}

extension Attestation {
    /// Verifies an envelope and reads what a store keeps of its statement, without decoding the
    /// whole report.
    public static func verifySummary(_ envelope: [UInt8], trusted: [String: VerifyingKey]) throws -> (StatementSummary, VerifiedEnvelope) {
        let v = try DSSE.verify(envelope, trusted: trusted)
        guard v.payloadType == DSSE.inTotoPayloadType else {
            throw CryptoError("payload type is \(v.payloadType), expected \(DSSE.inTotoPayloadType)")
        }
        return (try StatementSummary(statement: v.payload), v)
    }
}
