import Foundation
import GuardianCore

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

    /// Reads an envelope. JSONSerialization is several times faster than JSONDecoder on Linux,
    /// and verification sits on the import path.
    public static func parse(_ envelope: [UInt8]) throws -> DSSEEnvelope {
        var scanner = EnvelopeScanner(envelope)
        if let fast = scanner.parse() {
            return DSSEEnvelope(payloadType: fast.type, payload: String(decoding: envelope[fast.payload], as: UTF8.self), signatures: fast.signatures)
        }
        return try parseGeneral(envelope)
    }

    /// Any JSON shape (escapes, extra white space the scanner declines).
    static func parseGeneral(_ envelope: [UInt8]) throws -> DSSEEnvelope {
        let bad = CryptoError("not a DSSE envelope: the JSON does not have payloadType, payload and signatures")
        guard let obj = (try? JSONSerialization.jsonObject(with: Data(envelope))) as? [String: Any],
              let type = obj["payloadType"] as? String, let payload = obj["payload"] as? String,
              let sigs = obj["signatures"] as? [[String: Any]] else { throw bad }
        var signatures: [DSSEEnvelope.Signature] = []
        for s in sigs {
            guard let keyid = s["keyid"] as? String, let sig = s["sig"] as? String else { throw bad }
            signatures.append(.init(keyid: keyid, sig: sig))
        }
        return DSSEEnvelope(payloadType: type, payload: payload, signatures: signatures)
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
        // Fast path: the scanner finds the payload in place, and only the bytes after it are compared.
        var scanner = EnvelopeScanner(envelope)
        let type: String, signatures: [DSSEEnvelope.Signature], decoded: [UInt8]?
        if let fast = scanner.parse() {
            guard fast.payload.lowerBound == head.count, envelope.starts(with: head),
                  envelope[fast.payload.upperBound...].elementsEqual(tail(type: fast.type, signatures: fast.signatures)) else { throw notCanonical }
            (type, signatures) = (fast.type, fast.signatures)
            decoded = envelope.withUnsafeBufferPointer { Sodium.base64Decode(UnsafeBufferPointer(rebasing: $0[fast.payload])) }
        } else {
            // strings with escapes (a payload type that needs them): the canonical form is written and compared whole
            let env = try parseGeneral(envelope)
            guard encode(payload: Array(env.payload.utf8), type: env.payloadType, signatures: env.signatures) == envelope else { throw notCanonical }
            (type, signatures) = (env.payloadType, env.signatures)
            decoded = Sodium.base64Decode(env.payload)
        }
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

/// A byte-level reader for envelopes in the plain shape Guardian writes (no escapes inside strings,
/// any white space and key order). Anything else returns nil and the general JSON parser decides.
struct EnvelopeScanner {
    let b: [UInt8]
    var i = 0
    init(_ bytes: [UInt8]) { b = bytes }

    mutating func ws() { while i < b.count, b[i] == 32 || b[i] == 10 || b[i] == 13 || b[i] == 9 { i += 1 } }
    mutating func eat(_ c: UInt8) -> Bool { ws(); guard i < b.count, b[i] == c else { return false }; i += 1; return true }
    /// A string without escapes (escapes: leave to the general parser).
    mutating func string() -> String? { rawString().map { String(decoding: b[$0], as: UTF8.self) } }

    /// The raw string's byte range (no escapes), for the payload.
    /// The closing quote is found with `memchr` and the bytes before it checked in one branch-free
    /// pass: the payload is most of an envelope, and this scan ran once per byte with bounds checks.
    mutating func rawString() -> Range<Int>? {
        guard eat(34) else { return nil }
        let start = i
        let end: Int? = b.withUnsafeBufferPointer { buf in
            guard let base = buf.baseAddress, start < buf.count,
                  let quote = memchr(base + start, 34, buf.count - start) else { return nil }
            let stop = start + UnsafeRawPointer(base + start).distance(to: UnsafeRawPointer(quote))
            var bad: UInt8 = 0
            for k in start..<stop {
                let c = base[k]
                bad |= (c == 92 ? 1 : 0) | (c < 32 ? 1 : 0)
            }
            return bad == 0 ? stop : nil
        }
        guard let end else { return nil }
        i = end + 1
        return start..<end
    }

    mutating func parse() -> (type: String, payload: Range<Int>, signatures: [DSSEEnvelope.Signature])? {
        var type: String?, payload: Range<Int>?, sigs: [DSSEEnvelope.Signature]?
        guard eat(123) else { return nil }
        repeat {
            guard let key = string(), eat(58) else { return nil }
            switch key {
            case "payloadType": type = string()
            case "payload": payload = rawString()
            case "signatures":
                guard eat(91) else { return nil }
                var list: [DSSEEnvelope.Signature] = []
                if !eat(93) {
                    repeat {
                        guard eat(123) else { return nil }
                        var keyid: String?, sig: String?
                        repeat {
                            guard let k = string(), eat(58), let v = string() else { return nil }
                            if k == "keyid" { keyid = v } else if k == "sig" { sig = v }
                        } while eat(44)
                        guard eat(125), let keyid, let sig else { return nil }
                        list.append(.init(keyid: keyid, sig: sig))
                    } while eat(44)
                    guard eat(93) else { return nil }
                }
                sigs = list
            default:
                return nil
            }
        } while eat(44)
        guard eat(125), let type, let payload, let sigs else { return nil }
        ws()
        guard i == b.count else { return nil }
        return (type, payload, sigs)
    }
}
