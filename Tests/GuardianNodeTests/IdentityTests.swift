import Foundation
import GuardianAudit
import GuardianCore
import GuardianCrypto
import GuardianTestKit
import Testing
@testable import GuardianNode
@testable import GuardianStore

@Suite struct IdentityTests {
    func tempDir() -> String { FileManager.default.temporaryDirectory.appendingPathComponent("guardian-data-\(UUID())").path }

    @Test func identityIsCreatedOnceWithPrivateMode() throws {
        let path = tempDir()
        defer { try? FileManager.default.removeItem(atPath: path) }
        let dir = try DataDirectory(path: path)
        let a = try NodeIdentity.loadOrCreate(dir)
        let b = try NodeIdentity.loadOrCreate(dir)
        #expect(a.verifyingKey == b.verifyingKey)
        let attrs = try FileManager.default.attributesOfItem(atPath: dir.file("identity.key"))
        #expect((attrs[.posixPermissions] as? Int) == 0o600)
        let dattrs = try FileManager.default.attributesOfItem(atPath: path)
        #expect((dattrs[.posixPermissions] as? Int) == 0o700)
        #expect(NodeIdentity.trustedKeys(dir)[a.verifyingKey.nodeID.value] == a.verifyingKey)
    }

    @Test func malformedKeyFileIsAnErrorAndKept() throws {
        let path = tempDir()
        defer { try? FileManager.default.removeItem(atPath: path) }
        let dir = try DataDirectory(path: path)
        try "garbage".write(toFile: dir.file("identity.key"), atomically: true, encoding: .utf8)
        #expect(throws: GuardianError.self) { try NodeIdentity.loadOrCreate(dir) }
        #expect(try String(contentsOfFile: dir.file("identity.key"), encoding: .utf8) == "garbage")
    }

    @Test func signedAuditResultVerifiesAndTamperingFails() throws {
        let repo = try FixtureRepo()
        try repo.write("a.py", "import os\n\ndef run(c):\n    \"\"\"Run.\"\"\"\n    os.system(c)\n")
        let commit = try repo.commit("feat: run")
        var o = AuditOptions(target: repo.path)
        o.cacheDirectory = nil
        o.reproducible = true
        let report = try Auditor.run(o)
        let key = SigningKey()
        let env = try Attestation.sign(report, key: key)
        let trusted = [key.verifyingKey.nodeID.value: key.verifyingKey]
        let (statement, verified) = try Attestation.verify(env, trusted: trusted)
        #expect(statement.predicate == report)
        #expect(statement.subject.first?.digest["gitCommit"] == commit)
        #expect(statement.predicateType == AuditStatement.predicateTypeV1)
        #expect(verified.signers == [key.verifyingKey.nodeID.value])
        // two signers produce the same statement bytes (deterministic reports)
        let again = try Auditor.run(o)
        #expect(try Attestation.statementBytes(again) == (try Attestation.statementBytes(report)))
        // change the score inside the signed payload
        var e = try JSONDecoder().decode(DSSEEnvelope.self, from: Data(env))
        var payload = String(decoding: Data(base64Encoded: e.payload)!, as: UTF8.self)
        payload = payload.replacingOccurrences(of: "\"overallHealthScore\":", with: "\"overallHealthScore\":1")
        e.payload = Data(payload.utf8).base64EncodedString()
        #expect(throws: CryptoError.self) { try Attestation.verify([UInt8](try JSONEncoder().encode(e)), trusted: trusted) }
    }
}
