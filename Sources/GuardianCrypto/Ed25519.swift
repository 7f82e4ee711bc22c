import CSodium
import Foundation

/// Errors from key handling and verification, with what failed and on what input.
public struct CryptoError: Error, CustomStringConvertible, Sendable, Equatable {
    public let description: String
    /// The key id of a signer no trusted key matches, when that is what failed.
    public let unknownSigner: String?
    public init(_ message: String, unknownSigner: String? = nil) { description = message; self.unknownSigner = unknownSigner }
}

/// An Ed25519 public key (32 bytes).
public struct VerifyingKey: Sendable, Hashable {
    public let bytes: [UInt8]
    /// The node id derived from this key, computed once (verification checks it on every envelope).
    public let nodeID: NodeID

    public init(bytes: [UInt8]) throws {
        guard bytes.count == Int(crypto_sign_PUBLICKEYBYTES) else {
            throw CryptoError("an Ed25519 public key is 32 bytes, got \(bytes.count)")
        }
        self.bytes = bytes
        nodeID = NodeID(publicKeyBytes: bytes)
    }

    /// Parses standard base64.
    public init(base64: String) throws {
        guard let d = Data(base64Encoded: base64.trimmingCharacters(in: .whitespacesAndNewlines)) else {
            throw CryptoError("public key is not valid base64")
        }
        try self.init(bytes: [UInt8](d))
    }

    public var base64: String { Data(bytes).base64EncodedString() }

    /// Verifies a detached Ed25519 signature (64 bytes) over `message`.
    public func verify(signature: [UInt8], message: [UInt8]) -> Bool {
        guard signature.count == Int(crypto_sign_BYTES), Sodium.ready else { return false }
        return crypto_sign_verify_detached(signature, message, UInt64(message.count), bytes) == 0
    }
}

/// An Ed25519 key pair; the secret half lives in wiped, guarded memory.
public final class SigningKey: Sendable {
    private let secret: SecureBytes // 64 bytes: seed || public key (libsodium layout)
    public let verifyingKey: VerifyingKey

    /// A new random key.
    public convenience init() {
        precondition(Sodium.ready)
        var seed = [UInt8](repeating: 0, count: Int(crypto_sign_SEEDBYTES))
        randombytes_buf(&seed, seed.count)
        defer { sodium_memzero(&seed, seed.count) }
        try! self.init(seed: seed) // a 32-byte seed always yields a key
    }

    /// A key from its 32-byte seed (the form Guardian stores on disk).
    public init(seed: [UInt8]) throws {
        guard seed.count == Int(crypto_sign_SEEDBYTES) else {
            throw CryptoError("an Ed25519 seed is 32 bytes, got \(seed.count)")
        }
        precondition(Sodium.ready)
        let sk = SecureBytes(count: Int(crypto_sign_SECRETKEYBYTES))
        var pk = [UInt8](repeating: 0, count: Int(crypto_sign_PUBLICKEYBYTES))
        let rc = sk.pointer.withMemoryRebound(to: UInt8.self, capacity: sk.count) { crypto_sign_seed_keypair(&pk, $0, seed) }
        guard rc == 0 else { throw CryptoError("crypto_sign_seed_keypair failed") }
        secret = sk
        verifyingKey = try VerifyingKey(bytes: pk)
    }

    /// The 32-byte seed, for writing to a 0600 key file. The caller must wipe it.
    public func exportSeed() -> [UInt8] {
        secret.withUnsafeBytes { Array($0.prefix(Int(crypto_sign_SEEDBYTES))) }
    }

    /// A detached Ed25519 signature (64 bytes).
    public func sign(_ message: [UInt8]) -> [UInt8] {
        var sig = [UInt8](repeating: 0, count: Int(crypto_sign_BYTES))
        var len: UInt64 = 0
        secret.withUnsafeBytes { sk in
            _ = crypto_sign_detached(&sig, &len, message, UInt64(message.count), sk.baseAddress!.assumingMemoryBound(to: UInt8.self))
        }
        return sig
    }
}

extension Sodium {
    public static func sha256(_ input: [UInt8]) -> [UInt8] {
        precondition(ready)
        var out = [UInt8](repeating: 0, count: Int(crypto_hash_sha256_BYTES))
        crypto_hash_sha256(&out, input, UInt64(input.count))
        return out
    }

    /// Constant-time comparison of two byte strings of equal length.
    public static func constantTimeEqual(_ a: [UInt8], _ b: [UInt8]) -> Bool {
        guard a.count == b.count else { return false }
        if a.isEmpty { return true }
        return sodium_memcmp(a, b, a.count) == 0
    }

    public static func randomBytes(_ count: Int) -> [UInt8] {
        precondition(ready)
        var out = [UInt8](repeating: 0, count: count)
        randombytes_buf(&out, count)
        return out
    }
}

/// Authenticated encryption with XChaCha20-Poly1305 (24-byte random nonce prepended).
public struct SecretBox: Sendable {
    private let key: SecureBytes

    public static let keyBytes = Int(crypto_aead_xchacha20poly1305_ietf_KEYBYTES)

    public init(key: [UInt8]) throws {
        guard key.count == SecretBox.keyBytes else { throw CryptoError("a secret-box key is \(SecretBox.keyBytes) bytes, got \(key.count)") }
        self.key = SecureBytes(copying: key)
    }

    /// Bytes `seal` adds: the nonce and the tag.
    public static let overhead = Int(crypto_aead_xchacha20poly1305_ietf_NPUBBYTES) + Int(crypto_aead_xchacha20poly1305_ietf_ABYTES)

    public func seal(_ plaintext: [UInt8], associatedData: [UInt8] = []) -> [UInt8] {
        [UInt8](unsafeUninitializedCapacity: plaintext.count + Self.overhead) { out, n in
            plaintext.withUnsafeBytes { seal($0, associatedData: associatedData, into: UnsafeMutableRawBufferPointer(out)) }
            n = out.count
        }
    }

    /// Seals into `out`, which must be exactly `plaintext.count + overhead` bytes: nonce | ciphertext
    /// | tag (a multi-megabyte frame is not copied again to assemble it).
    public func seal(_ plaintext: UnsafeRawBufferPointer, associatedData: [UInt8], into out: UnsafeMutableRawBufferPointer) {
        precondition(out.count == plaintext.count + Self.overhead, "a sealed buffer is the plaintext plus \(Self.overhead) bytes")
        if let p = plaintext.baseAddress { (out.baseAddress! + Self.nonceBytes).copyMemory(from: p, byteCount: plaintext.count) }
        sealInPlace(out, associatedData: associatedData)
    }

    /// Seals a buffer laid out as nonce space | plaintext | tag space (`overhead` bytes around the
    /// plaintext): the plaintext is encrypted where it lies (libsodium encrypts in place when the
    /// ciphertext and plaintext are the same bytes), and the nonce and tag are written around it.
    public func sealInPlace(_ out: UnsafeMutableRawBufferPointer, associatedData: [UInt8]) {
        precondition(out.count >= Self.overhead, "a sealed buffer is at least \(Self.overhead) bytes")
        let o = out.baseAddress!.assumingMemoryBound(to: UInt8.self)
        randombytes_buf(o, Self.nonceBytes)
        var len: UInt64 = 0
        key.withUnsafeBytes { k in
            _ = crypto_aead_xchacha20poly1305_ietf_encrypt(o + Self.nonceBytes, &len, o + Self.nonceBytes, UInt64(out.count - Self.overhead),
                                                            associatedData, UInt64(associatedData.count), nil, o,
                                                            k.baseAddress!.assumingMemoryBound(to: UInt8.self))
        }
    }

    /// The nonce at the front of a sealed box.
    public static let nonceBytes = Int(crypto_aead_xchacha20poly1305_ietf_NPUBBYTES)

    public func open(_ sealed: [UInt8], associatedData: [UInt8] = []) throws -> [UInt8] {
        guard sealed.count >= Self.overhead else { throw CryptoError("sealed data is too short") }
        var ok = false
        let out = [UInt8](unsafeUninitializedCapacity: sealed.count - Self.overhead) { out, n in
            ok = sealed.withUnsafeBytes { open($0, associatedData: associatedData, into: UnsafeMutableRawBufferPointer(out)) }
            n = ok ? out.count : 0
        }
        guard ok else { throw CryptoError("decryption failed: wrong key or modified data") }
        return out
    }

    /// Opens `sealed` (nonce | ciphertext | tag) into `out`, which must be exactly
    /// `sealed.count - overhead` bytes; false when the key is wrong or the data was modified.
    public func open(_ sealed: UnsafeRawBufferPointer, associatedData: [UInt8], into out: UnsafeMutableRawBufferPointer) -> Bool {
        let nlen = Int(crypto_aead_xchacha20poly1305_ietf_NPUBBYTES)
        guard sealed.count >= Self.overhead, out.count == sealed.count - Self.overhead else { return false }
        let s = sealed.baseAddress!.assumingMemoryBound(to: UInt8.self)
        var len: UInt64 = 0
        let rc = key.withUnsafeBytes { k in
            crypto_aead_xchacha20poly1305_ietf_decrypt(out.baseAddress?.assumingMemoryBound(to: UInt8.self), &len, nil, s + nlen,
                                                       UInt64(sealed.count - nlen), associatedData, UInt64(associatedData.count), s,
                                                       k.baseAddress!.assumingMemoryBound(to: UInt8.self))
        }
        return rc == 0
    }
}

extension Sodium {
    /// HMAC-SHA256 (RFC 2104) over libsodium's SHA-256, for keys of any length.
    public static func hmacSHA256(key: [UInt8], message: [UInt8]) -> [UInt8] {
        var k = key.count > 64 ? sha256(key) : key
        k += [UInt8](repeating: 0, count: 64 - k.count)
        let inner = sha256(k.map { $0 ^ 0x36 } + message)
        return sha256(k.map { $0 ^ 0x5c } + inner)
    }
}
