import Foundation

/// Dead Simple Signing Envelope (DSSE v1): signatures over the pre-authentication encoding
/// `"DSSEv1" SP LEN(type) SP type SP LEN(body) SP body`, so that the payload type is signed too.
/// The envelope's exact bytes are what Guardian stores and ships; nothing is re-serialised to verify.
public struct DSSEEnvelope: Codable, Sendable, Equatable {
    public struct Signature: Codable, Sendable, Equatable {
        public var keyid: String
        public var sig: String
    }
    public var payloadType: String
    /// Standard base64 of the payload bytes.
    public var payload: String
    public var signatures: [Signature]
}

/// The outcome of a successful verification.
public struct VerifiedEnvelope: Sendable {
    public var payloadType: String
    public var payload: [UInt8]
    /// Key ids (node ids) whose signatures verified.
    public var signers: [String]
}

public enum DSSE {
    public static let inTotoPayloadType = "application/vnd.in-toto+json"

    /// Pre-authentication encoding.
    public static func pae(type: String, body: [UInt8]) -> [UInt8] {
        let t = Array(type.utf8)
        var out = Array("DSSEv1 \(t.count) ".utf8)
        out += t
        out += Array(" \(body.count) ".utf8)
        out += body
        return out
    }

    /// Signs `payload` and returns the envelope's bytes (compact JSON, sorted keys).
    public static func sign(payload: [UInt8], payloadType: String, key: SigningKey) -> [UInt8] {
        let sig = key.sign(pae(type: payloadType, body: payload))
        let env = DSSEEnvelope(payloadType: payloadType, payload: Data(payload).base64EncodedString(),
                               signatures: [.init(keyid: key.verifyingKey.nodeID.value, sig: Data(sig).base64EncodedString())])
        let e = JSONEncoder()
        e.outputFormatting = [.sortedKeys, .withoutEscapingSlashes]
        return [UInt8](try! e.encode(env)) // encoding plain strings cannot fail
    }

    /// Record id: BLAKE2b-256 of the envelope bytes, hex.
    public static func recordID(_ envelope: [UInt8]) -> String { Sodium.hex(Sodium.blake2b(envelope, length: 32)) }

    /// Verifies an envelope against trusted keys (node id → key). Every signature must come from a
    /// trusted key whose node id matches the key id, and at least one signature must verify; any
    /// signature that fails is an error (a tampered envelope is never half-accepted).
    public static func verify(_ envelope: [UInt8], trusted: [String: VerifyingKey]) throws -> VerifiedEnvelope {
        let env: DSSEEnvelope
        do { env = try JSONDecoder().decode(DSSEEnvelope.self, from: Data(envelope)) } catch {
            throw CryptoError("not a DSSE envelope: the JSON does not have payloadType, payload and signatures")
        }
        guard let payload = Data(base64Encoded: env.payload) else { throw CryptoError("payload is not valid base64") }
        guard !env.signatures.isEmpty else { throw CryptoError("envelope has no signatures") }
        let message = pae(type: env.payloadType, body: [UInt8](payload))
        var signers: [String] = []
        for s in env.signatures {
            guard let key = trusted[s.keyid] else {
                throw CryptoError("unknown signer \(s.keyid): its public key is not trusted here (pass --key or import it)")
            }
            guard key.nodeID.value == s.keyid else {
                throw CryptoError("key id \(s.keyid) does not match the public key it names")
            }
            guard let sig = Data(base64Encoded: s.sig), key.verify(signature: [UInt8](sig), message: message) else {
                throw CryptoError("signature by \(s.keyid) does not verify: the envelope was modified or forged")
            }
            signers.append(s.keyid)
        }
        return VerifiedEnvelope(payloadType: env.payloadType, payload: [UInt8](payload), signers: signers)
    }
}
