import Foundation
import Testing
@testable import GuardianCrypto

func hexBytes(_ s: String) -> [UInt8] {
    var out: [UInt8] = []
    var i = s.startIndex
    while i < s.endIndex {
        let j = s.index(i, offsetBy: 2)
        out.append(UInt8(s[i..<j], radix: 16)!)
        i = j
    }
    return out
}

@Suite struct Ed25519Tests {
    /// RFC 8032, section 7.1, test 1.
    @Test func rfc8032Vector() throws {
        let key = try SigningKey(seed: hexBytes("9d61b19deffd5a60ba844af492ec2cc44449c5697b326919703bac031cae7f60"))
        #expect(key.verifyingKey.bytes == hexBytes("d75a980182b10ab7d54bfed3c964073a0ee172f3daa62325af021a68f707511a"))
        let sig = key.sign([])
        #expect(sig == hexBytes("e5564300c360ac729086e2cc806e828a84877f1eb8e5d974d873e065224901555fb8821590a33bacc61e39701cf9b46bd25bf5f0595bbe24655141438e7a100b"))
        #expect(key.verifyingKey.verify(signature: sig, message: []))
    }

    @Test func tamperedMessagesAndWrongKeysFail() {
        let a = SigningKey(), b = SigningKey()
        let msg = Array("guardian".utf8)
        let sig = a.sign(msg)
        #expect(a.verifyingKey.verify(signature: sig, message: msg))
        #expect(!a.verifyingKey.verify(signature: sig, message: Array("guardiaN".utf8)))
        #expect(!b.verifyingKey.verify(signature: sig, message: msg))
        var bad = sig
        bad[10] ^= 1
        #expect(!a.verifyingKey.verify(signature: bad, message: msg))
        #expect(!a.verifyingKey.verify(signature: Array(sig.prefix(10)), message: msg))
    }

    @Test func seedRoundTrip() throws {
        let a = SigningKey()
        let b = try SigningKey(seed: a.exportSeed())
        #expect(a.verifyingKey == b.verifyingKey)
        #expect(throws: CryptoError.self) { try SigningKey(seed: [1, 2, 3]) }
        #expect(throws: CryptoError.self) { try VerifyingKey(base64: "not base64!") }
    }

    @Test func blake2bVectors() {
        #expect(Sodium.hex(Sodium.blake2b([], length: 32)) == "0e5751c026e543b2e8ab2eb06099daa1d1e5df47778f7787faab45cdf12fe3a8")
        #expect(Sodium.hex(Sodium.blake2b(Array("abc".utf8), length: 64)) ==
            "ba80a53f981c4d0d6a2797b69f12f6e94c212f14685ac4b74b12bb6fdbffa2d17d87c5392aab792dc252d5de4533cc9518d38aa8dbf1925ab92386edd4009923")
        #expect(Sodium.hex(Sodium.sha256(Array("abc".utf8))) == "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad")
        #expect(Sodium.constantTimeEqual([1, 2, 3], [1, 2, 3]))
        #expect(!Sodium.constantTimeEqual([1, 2, 3], [1, 2, 4]))
        #expect(!Sodium.constantTimeEqual([1, 2], [1, 2, 3]))
    }
}

@Suite struct NodeIDTests {
    @Test func formatAndRoundTrip() throws {
        let key = SigningKey()
        let id = key.verifyingKey.nodeID
        let groups = id.value.split(separator: "-")
        #expect(groups.count == 8)
        #expect(groups.allSatisfy { $0.count == 7 })
        #expect(try NodeID(parsing: id.value.lowercased().replacingOccurrences(of: "-", with: " ")) == id)
        #expect(id == key.verifyingKey.nodeID) // deterministic
        #expect(id != SigningKey().verifyingKey.nodeID)
    }

    @Test func typosAreDetected() throws {
        let id = SigningKey().verifyingKey.nodeID.value
        var chars = Array(id)
        let i = 3
        chars[i] = chars[i] == "A" ? "B" : "A"
        #expect(throws: CryptoError.self) { try NodeID(parsing: String(chars)) }
        #expect(throws: CryptoError.self) { try NodeID(parsing: "TOO-SHORT") }
    }
}

@Suite struct DSSETests {
    /// The example from the DSSE protocol specification.
    @Test func paeVector() {
        let pae = DSSE.pae(type: "http://example.com/HelloWorld", body: Array("hello world".utf8))
        #expect(String(decoding: pae, as: UTF8.self) == "DSSEv1 29 http://example.com/HelloWorld 11 hello world")
    }

    func trusted(_ keys: SigningKey...) -> [String: VerifyingKey] {
        Dictionary(uniqueKeysWithValues: keys.map { ($0.verifyingKey.nodeID.value, $0.verifyingKey) })
    }

    /// The envelope is written by hand for speed; it must be exactly what JSONEncoder (sorted keys,
    /// unescaped slashes) writes, including for a payload type that needs escaping.
    @Test(arguments: ["application/vnd.in-toto+json", "odd \"type\"\\ with\ttabs/and/slashes"])
    func handWrittenEnvelopeMatchesJSONEncoder(type: String) throws {
        let key = SigningKey()
        let env = DSSE.sign(payload: Array("{\"b\":[1,2]}".utf8), payloadType: type, key: key)
        let decoded = try JSONDecoder().decode(DSSEEnvelope.self, from: Data(env))
        let e = JSONEncoder()
        e.outputFormatting = [.sortedKeys, .withoutEscapingSlashes]
        #expect(String(decoding: env, as: UTF8.self) == String(decoding: try e.encode(decoded), as: UTF8.self))
        let v = try DSSE.verify(env, trusted: trusted(key))
        #expect(v.payloadType == type)
        #expect(v.payload == Array("{\"b\":[1,2]}".utf8))
    }

    /// A record id hashes an envelope's bytes, so only the canonical form verifies: the same
    /// signature re-encoded by another JSON encoder (escaped slashes in the base64, white space,
    /// other key order), with spare bits set in the base64, or with a signature repeated, would
    /// otherwise be the same signed statement under a second id. Bytes that are not JSON fail too.
    @Test func onlyTheCanonicalEnvelopeVerifies() throws {
        let key = SigningKey()
        // a payload whose base64 has slashes and plus signs, and ends in padding
        let payload = (0..<601).map { UInt8(truncatingIfNeeded: $0 * 7 + 0xfb) }
        let env = DSSE.sign(payload: payload, payloadType: "application/octet-stream", key: key)
        #expect(try DSSE.verify(env, trusted: trusted(key)).payload == payload)
        let text = String(decoding: env, as: UTF8.self)
        #expect(text.contains("/"))
        func refused(_ variant: [UInt8], _ what: String) {
            #expect(variant != env, "\(what) is a different byte string")
            #expect(throws: CryptoError.self, "\(what)") { try DSSE.verify(variant, trusted: trusted(key)) }
        }
        refused(Array(text.replacingOccurrences(of: "/", with: "\\/").utf8), "escaped slashes")
        refused(Array(text.replacingOccurrences(of: ",", with: ", ").utf8), "white space")
        refused(Array((text + "\n").utf8), "a trailing newline")
        let decoded = try JSONDecoder().decode(DSSEEnvelope.self, from: Data(env))
        let pretty = JSONEncoder()
        pretty.outputFormatting = [.prettyPrinted]
        refused(Array(try pretty.encode(decoded)), "pretty-printed")
        // other key order, same fields
        let reordered = #"{"payloadType":"application/octet-stream","payload":"\#(decoded.payload)","signatures":[{"sig":"\#(decoded.signatures[0].sig)","keyid":"\#(decoded.signatures[0].keyid)"}]}"#
        refused(Array(reordered.utf8), "reordered keys")
        // spare bits: 601 bytes end in one byte of padding-2 base64 ("xx=="); the last character carries 4 unused bits
        var spare = decoded
        var chars = Array(spare.payload)
        let last = chars.count - 3
        let alphabet = Array("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/")
        chars[last] = alphabet[alphabet.firstIndex(of: chars[last])! ^ 1]
        spare.payload = String(chars)
        #expect(Sodium.base64Decode(spare.payload) == nil)
        refused(DSSE.encode(payload: Array(spare.payload.utf8), type: spare.payloadType, signatures: spare.signatures), "base64 with spare bits")
        refused(DSSE.encode(payload: Array(decoded.payload.utf8), type: decoded.payloadType, signatures: decoded.signatures + decoded.signatures),
                "the signature twice")
        // a raw control character inside the payload string is not JSON
        var broken = env
        let at = Array(text.utf8).firstIndex(of: UInt8(ascii: "/"))!
        broken[at] = 0x01
        #expect(throws: (any Error).self) { try DSSE.verify(broken, trusted: trusted(key)) }
        // an unterminated payload string
        let open = Array(text.utf8.prefix(through: text.utf8.firstIndex(of: UInt8(ascii: "/"))!))
        #expect(throws: (any Error).self) { try DSSE.verify(open, trusted: trusted(key)) }
    }

    /// `parse` reads any JSON shape of an envelope through the JSON reader (key order, white space,
    /// escapes, members it does not know), as JSONDecoder does; `verify` then refuses every one that
    /// is not the canonical form.
    @Test func parseReadsAnyShapeOfAnEnvelope() throws {
        let key = SigningKey()
        let env = DSSE.sign(payload: Array("{\"a\":[1]}".utf8), payloadType: "application/json", key: key)
        let d = try JSONDecoder().decode(DSSEEnvelope.self, from: Data(env))
        let shapes = [
            String(decoding: env, as: UTF8.self),
            #" { "signatures" : [ { "sig" : "\#(d.signatures[0].sig)" , "keyid" : "\#(d.signatures[0].keyid)", "x": [{}] } ] ,"# +
                #" "payloadType" : "application\/json", "extra": {"n": null}, "payload" : "\#(d.payload.replacingOccurrences(of: "/", with: "\\/"))" } "#,
        ]
        for shape in shapes {
            #expect(try DSSE.parse(Array(shape.utf8)) == d, "\(shape)")
            #expect(try JSONDecoder().decode(DSSEEnvelope.self, from: Data(shape.utf8)) == d)
        }
        #expect(throws: CryptoError.self) { try DSSE.verify(Array(shapes[1].utf8), trusted: trusted(key)) }
        for bad in ["[]", "{}", #"{"payloadType":"x","payload":"AQID"}"#, #"{"payloadType":1,"payload":"AQID","signatures":[]}"#,
                    #"{"payloadType":"x","payload":"AQID","signatures":[{"keyid":"k"}]}"#, #"{"payloadType":"x","payload":"AQID","signatures":{}}"#] {
            #expect(throws: CryptoError.self, "\(bad)") { try DSSE.parse(Array(bad.utf8)) }
        }
    }

    @Test func genuineEnvelopeVerifies() throws {
        let key = SigningKey()
        let env = DSSE.sign(payload: Array("{\"a\":1}".utf8), payloadType: "application/json", key: key)
        let v = try DSSE.verify(env, trusted: trusted(key))
        #expect(v.payload == Array("{\"a\":1}".utf8))
        #expect(v.signers == [key.verifyingKey.nodeID.value])
        #expect(DSSE.recordID(env).count == 64)
        #expect(DSSE.recordID(env) == DSSE.recordID(env))
    }

    @Test func tamperingIsDetected() throws {
        let key = SigningKey()
        let env = DSSE.sign(payload: Array("{\"score\":40}".utf8), payloadType: "application/json", key: key)
        var decoded = try JSONDecoder().decode(DSSEEnvelope.self, from: Data(env))
        decoded.payload = Data("{\"score\":99}".utf8).base64EncodedString()
        let forged = [UInt8](try JSONEncoder().encode(decoded))
        #expect(throws: CryptoError.self) { try DSSE.verify(forged, trusted: trusted(key)) }
        // payload type is signed too
        var retyped = try JSONDecoder().decode(DSSEEnvelope.self, from: Data(env))
        retyped.payloadType = "text/plain"
        #expect(throws: CryptoError.self) { try DSSE.verify([UInt8](try JSONEncoder().encode(retyped)), trusted: trusted(key)) }
        // every single flipped byte of the envelope is rejected or changes nothing verifiable
        for i in stride(from: 0, to: env.count, by: 7) {
            var b = env
            b[i] ^= 0x01
            if let v = try? DSSE.verify(b, trusted: trusted(key)) {
                #expect(v.payload == Array("{\"score\":40}".utf8), "byte \(i) flipped and a different payload verified")
            }
        }
    }

    @Test func unknownSignerAndMalformedInput() throws {
        let key = SigningKey(), other = SigningKey()
        let env = DSSE.sign(payload: [1, 2, 3], payloadType: "x", key: key)
        #expect { try DSSE.verify(env, trusted: trusted(other)) } throws: { ($0 as? CryptoError)?.description.contains("unknown signer") == true }
        #expect(throws: CryptoError.self) { try DSSE.verify(Array("not json".utf8), trusted: trusted(key)) }
        #expect(throws: CryptoError.self) { try DSSE.verify(Array("{\"payloadType\":\"x\",\"payload\":\"AQID\",\"signatures\":[]}".utf8), trusted: trusted(key)) }
        // a trusted key under a key id that is not its own
        var env2 = try JSONDecoder().decode(DSSEEnvelope.self, from: Data(env))
        env2.signatures[0].keyid = other.verifyingKey.nodeID.value
        let mixed = [other.verifyingKey.nodeID.value: key.verifyingKey]
        #expect(throws: CryptoError.self) { try DSSE.verify([UInt8](try JSONEncoder().encode(env2)), trusted: mixed) }
    }
}

@Suite struct Base64Tests {
    @Test func matchesFoundation() {
        for n in 0..<70 {
            let bytes = (0..<n).map { UInt8(truncatingIfNeeded: $0 &* 37 &+ 11) }
            let mine = Sodium.base64Encode(bytes)
            #expect(mine == Data(bytes).base64EncodedString())
            #expect(Sodium.base64Decode(mine) == bytes)
        }
        #expect(Sodium.base64Decode("abc") == nil)
        #expect(Sodium.base64Decode("ab!d") == nil)
        #expect(Sodium.base64Decode("Zm9vYmFy") == Array("foobar".utf8))
    }
}

@Suite struct ClusterSealTests {
    static let keyA = ClusterKeyring.generate(), keyB = ClusterKeyring.generate()

    @Test func sealsOpensAndRefusesWhatItShould() throws {
        let ring = try ClusterKeyring(primary: Self.keyA)
        var window = ReplayWindow()
        let packet = ClusterSeal.seal(Array("ping".utf8), keyring: ring, context: .datagram, now: 1_000)
        #expect(packet.count == 4 + ClusterSeal.overhead)
        #expect(try ClusterSeal.open(packet, keyring: ring, context: .datagram, replay: &window, now: 1_010) == Array("ping".utf8))
        // the same packet again is a replay
        #expect(throws: SealRejection.replayed) { try ClusterSeal.open(packet, keyring: ring, context: .datagram, replay: &window, now: 1_020) }
        // every flipped byte is refused, and nothing is accepted
        for i in 0..<packet.count {
            var bad = packet
            bad[i] ^= 0x40
            var w = ReplayWindow()
            #expect(throws: SealRejection.self) { try ClusterSeal.open(bad, keyring: ring, context: .datagram, replay: &w, now: 1_010) }
        }
        // another cluster's key, another context, truncation, size limit, an old packet
        var w = ReplayWindow()
        let other = try ClusterKeyring(primary: Self.keyB)
        #expect(throws: SealRejection.unknownKey) { try ClusterSeal.open(packet, keyring: other, context: .datagram, replay: &w, now: 1_010) }
        #expect(throws: SealRejection.forged) { try ClusterSeal.open(packet, keyring: ring, context: .stream, replay: &w, now: 1_010) }
        #expect(throws: SealRejection.malformed) { try ClusterSeal.open(Array(packet.prefix(20)), keyring: ring, context: .datagram, replay: &w, now: 1_010) }
        #expect(throws: SealRejection.oversized) { try ClusterSeal.open(packet, keyring: ring, context: .datagram, replay: &w, now: 1_010, maxSize: 40) }
        #expect(throws: SealRejection.stale) { try ClusterSeal.open(packet, keyring: ring, context: .datagram, replay: &w, now: 1_000 + 120_000) }
    }

    /// Sealing writes in place and opening reads in place: an empty message and a frame of several
    /// megabytes round-trip, and a box opened into a buffer of the wrong size refuses.
    @Test func emptyAndLargeMessagesRoundTripInPlace() throws {
        let ring = try ClusterKeyring(primary: Self.keyA)
        var w = ReplayWindow()
        let empty = ClusterSeal.seal([], keyring: ring, context: .results, now: 5)
        #expect(empty.count == ClusterSeal.overhead)
        #expect(try ClusterSeal.open(empty, keyring: ring, context: .results, replay: &w, now: 5) == [])
        let big = (0..<(3 << 20)).map { UInt8(truncatingIfNeeded: $0 &* 31) }
        let sealed = ClusterSeal.seal(big, keyring: ring, context: .results, now: 6)
        #expect(try sealed.withUnsafeBytes { p in try Result { () throws(SealRejection) in
            try ClusterSeal.open(p, keyring: ring, context: .results, replay: &w, now: 6) }.get() } == big)
        let box = try SecretBox(key: Sodium.randomBytes(SecretBox.keyBytes))
        let boxed = box.seal([1, 2, 3], associatedData: [9])
        #expect(try box.open(boxed, associatedData: [9]) == [1, 2, 3])
        #expect(throws: CryptoError.self) { try box.open(boxed, associatedData: [8]) }
        var wrongSize = [UInt8](repeating: 0, count: 4)
        #expect(!boxed.withUnsafeBytes { s in wrongSize.withUnsafeMutableBytes { box.open(s, associatedData: [9], into: $0) } })
    }

    /// Rotation with no downtime: while both keys are installed, packets sealed with either open.
    @Test func rotation() throws {
        var old = try ClusterKeyring(primary: Self.keyA)
        var new = try ClusterKeyring(primary: Self.keyA)
        try new.install(Self.keyB)
        try new.use(Self.keyB)
        var w = ReplayWindow()
        let fromNew = ClusterSeal.seal([1], keyring: new, context: .datagram, now: 0)
        #expect(throws: SealRejection.unknownKey) { try ClusterSeal.open(fromNew, keyring: old, context: .datagram, replay: &w, now: 0) }
        try old.install(Self.keyB)
        #expect(try ClusterSeal.open(fromNew, keyring: old, context: .datagram, replay: &w, now: 0) == [1])
        #expect(try ClusterSeal.open(ClusterSeal.seal([2], keyring: old, context: .datagram, now: 0), keyring: new, context: .datagram, replay: &w, now: 0) == [2])
        #expect(throws: CryptoError.self) { try new.remove(Self.keyB) } // the primary stays
        try new.remove(Self.keyA)
        #expect(new.keys.count == 1)
        #expect(throws: CryptoError.self) { try ClusterKeyring(primary: "not a key") }
    }

    @Test func replayWindowForgetsOnlyWhatCanNoLongerBeReplayed() {
        var w = ReplayWindow(window: 1_000)
        #expect(w.accept(nonce: [1], sentAt: 0, now: 0) == nil)
        #expect(w.accept(nonce: [1], sentAt: 0, now: 900) == .replayed)
        #expect(w.accept(nonce: [1], sentAt: 0, now: 1_500) == .stale) // forgotten, but too old to accept
        #expect(w.remembered == 0)
    }
}
