import Foundation
import GuardianCore
import GuardianJSON

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

    /// An envelope's members as read in place: the payload's base64 stays in the envelope's bytes
    /// when it has no escapes (as every envelope Guardian writes).
    struct Fields {
        var type: String
        var payload: JSONValue.StringSlice
        var signatures: [DSSEEnvelope.Signature]
    }

    /// Reads an envelope's members with the JSON reader, in any key order and white space; other
    /// members are passed over. Anything that is not such an object is not an envelope.
    static func fields(_ envelope: [UInt8]) throws -> Fields {
        let bad = CryptoError("not a DSSE envelope: the JSON does not have payloadType, payload and signatures")
        do {
            return try JSONValue.read(envelope) { r in
                var type: String?, payload: JSONValue.StringSlice?, signatures: [DSSEEnvelope.Signature]?
                try r.members { key, r in
                    switch key {
                    case "payloadType": type = try r.string()
                    case "payload": payload = try r.stringSlice()
                    case "signatures":
                        var list: [DSSEEnvelope.Signature] = []
                        try r.array { r in
                            var keyid: String?, sig: String?
                            try r.members { key, r in
                                switch key {
                                case "keyid": keyid = try r.string()
                                case "sig": sig = try r.string()
                                default: try r.skip()
                                }
                            }
                            guard let keyid, let sig else { throw bad }
                            list.append(.init(keyid: keyid, sig: sig))
                        }
                        signatures = list
                    default: try r.skip()
                    }
                }
                guard let type, let payload, let signatures else { throw bad }
                return Fields(type: type, payload: payload, signatures: signatures)
            }
        } catch is JSONValue.ParseError {
            throw bad
        }
    }

    /// Reads an envelope.
    public static func parse(_ envelope: [UInt8]) throws -> DSSEEnvelope {
        let f = try fields(envelope)
        let payload: String
        switch f.payload {
        case .bytes(let r): payload = String(decoding: envelope[r], as: UTF8.self)
        case .decoded(let text): payload = text
        }
        return DSSEEnvelope(payloadType: f.type, payload: payload, signatures: f.signatures)
    }

    /// Pre-authentication encoding.
    public static func pae(type: String, body: [UInt8]) -> [UInt8] {
        let t = Array(type.utf8)
        var out: [UInt8] = []
        out.reserveCapacity(body.count + t.count + 32)
        out += Array("DSSEv1 \(t.count) ".utf8)
        out += t
        out += Array(" \(body.count) ".utf8)
        out += body
        return out
    }

    /// Signs `payload` and returns the envelope's bytes (compact JSON, sorted keys).
    public static func sign(payload: [UInt8], payloadType: String, key: SigningKey) -> [UInt8] {
        let sig = key.sign(pae(type: payloadType, body: payload))
        var b64: [UInt8] = []
        b64.reserveCapacity((payload.count + 2) / 3 * 4)
        Sodium.base64Encode(payload, into: &b64)
        return encode(payload: b64, type: payloadType, signatures: [.init(keyid: key.verifyingKey.nodeID.value, sig: Sodium.base64Encode(sig))])
    }

    /// The one canonical form of an envelope: written directly, in the shape JSONEncoder (sorted
    /// keys, unescaped slashes) gives. `payload` is the payload's base64 text.
    static func encode(payload: [UInt8], type: String, signatures: [DSSEEnvelope.Signature]) -> [UInt8] {
        var out: [UInt8] = []
        out.reserveCapacity(payload.count + type.utf8.count + 200 * signatures.count)
        out += Array(#"{"payload":""#.utf8)
        out += payload
        out += tail(type: type, signatures: signatures)
        return out
    }

    /// What follows the payload's base64 in the canonical form.
    static func tail(type: String, signatures: [DSSEEnvelope.Signature]) -> [UInt8] {
        var out = Array(#"","payloadType":"#.utf8)
        CanonicalJSON.writeString(type, into: &out)
        out += Array(#","signatures":["#.utf8)
        for (i, s) in signatures.enumerated() {
            if i > 0 { out.append(44) }
            out += Array(#"{"keyid":"#.utf8)
            CanonicalJSON.writeString(s.keyid, into: &out)
            out += Array(#","sig":"#.utf8)
            CanonicalJSON.writeString(s.sig, into: &out)
            out.append(125)
        }
        out += Array("]}".utf8)
        return out
    }

    /// Record id: BLAKE2b-256 of the envelope bytes, hex.
    public static func recordID(_ envelope: [UInt8]) -> String { Sodium.hex(Sodium.blake2b(envelope, length: 32)) }

    /// Verifies an envelope against trusted keys (node id → key). Every signature must come from a
    /// trusted key whose node id matches the key id, and at least one signature must verify; any
    /// signature that fails is an error (a tampered envelope is never half-accepted). The envelope
    /// must be in the one canonical form `encode` writes (key order, no white space, escapes only
    /// where JSON needs them, canonical base64, one signature): the record id hashes these bytes,
    /// so a signed statement re-wrapped in other bytes would otherwise verify under a second id.
    public static func verify(_ envelope: [UInt8], trusted: [String: VerifyingKey]) throws -> VerifiedEnvelope {
        let notCanonical = CryptoError("not a canonical Guardian envelope: the bytes were re-encoded (white space, key order or"
                                       + " escapes) or re-wrapped; verify the envelope exactly as Guardian served it")
        // The payload is read in place, and only the bytes around it are compared with the one
        // canonical form: the head before it, and the tail (type and signatures) after it. A payload
        // written with escapes is never canonical (base64 needs none).
        let f = try fields(envelope)
        guard case .bytes(let range) = f.payload, range.lowerBound == head.count, envelope.starts(with: head),
              envelope[range.upperBound...].elementsEqual(tail(type: f.type, signatures: f.signatures)) else { throw notCanonical }
        let (type, signatures) = (f.type, f.signatures)
        let decoded = envelope.withUnsafeBufferPointer { Sodium.base64Decode(UnsafeBufferPointer(rebasing: $0[range])) }
        // base64 with spare bits set is refused by the decoder: one payload, one text
        guard let payload = decoded else { throw CryptoError("payload is not valid (canonical) base64") }
        // one signer: with several, reordering or dropping signatures would give the same statement new ids
        guard !signatures.isEmpty else { throw CryptoError("envelope has no signatures") }
        guard signatures.count == 1 else { throw CryptoError("a Guardian envelope carries one signature; this one has \(signatures.count)") }
        let message = pae(type: type, body: payload)
        var signers: [String] = []
        for s in signatures {
            guard let key = trusted[s.keyid] else {
                throw CryptoError("unknown signer \(s.keyid): its public key is not trusted here (pass --key or import it)", unknownSigner: s.keyid)
            }
            guard key.nodeID.value == s.keyid else {
                throw CryptoError("key id \(s.keyid) does not match the public key it names")
            }
            guard let sig = Sodium.base64Decode(s.sig), key.verify(signature: sig, message: message) else {
                throw CryptoError("signature by \(s.keyid) does not verify: the envelope was modified or forged")
            }
            signers.append(s.keyid)
        }
        return VerifiedEnvelope(payloadType: type, payload: payload, signers: signers)
    }

    static let head = Array(#"{"payload":""#.utf8)
}
