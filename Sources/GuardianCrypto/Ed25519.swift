import CSodium
import Foundation

/// Errors from key handling and verification, with what failed and on what input.
public struct CryptoError: Error, CustomStringConvertible, Sendable, Equatable {
    public let description: String
    public init(_ message: String) { description = message }
}

/// An Ed25519 public key (32 bytes).
public struct VerifyingKey: Sendable, Hashable {
    public let bytes: [UInt8]

    public init(bytes: [UInt8]) throws {
        guard bytes.count == Int(crypto_sign_PUBLICKEYBYTES) else {
            throw CryptoError("an Ed25519 public key is 32 bytes, got \(bytes.count)")
        }
        self.bytes = bytes
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

    /// The node id derived from this key.
    public var nodeID: NodeID { NodeID(publicKey: self) }
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
