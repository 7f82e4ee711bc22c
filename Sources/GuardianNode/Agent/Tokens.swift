import Foundation
import GuardianCrypto
import GuardianStore
import Synchronization

/// Who made a request.
public struct Principal: Sendable, Equatable {
    public typealias Role = TokenRole
    public var role: Role
    public var team: String?
    public var tokenId: String

    public init(role: Role, team: String?, tokenId: String) { self.role = role; self.team = team; self.tokenId = tokenId }

    public func canRead(team t: String) -> Bool { role == .admin || team == t }
    public func canWrite(team t: String) -> Bool { role == .admin || (role == .maintainer && team == t) }
    public var isAdmin: Bool { role == .admin }
}

public enum Auth {
    /// A new token: the secret shown once to the caller, and the record stored (hash only).
    public static func newToken(role: Principal.Role, team: String?, name: String) -> (String, TokenRecord) {
        let raw = Sodium.randomBytes(32)
        let secret = "gdn_" + Data(raw).base64EncodedString().replacingOccurrences(of: "+", with: "-")
            .replacingOccurrences(of: "/", with: "_").replacingOccurrences(of: "=", with: "")
        let record = TokenRecord(id: "tok-" + Sodium.hex(Sodium.randomBytes(6)), hash: Data(hash(secret)), role: role.rawValue,
                                 team: team, name: name, createdAt: Date().timeIntervalSince1970)
        return (secret, record)
    }

    /// Tokens are stored as keyed BLAKE2b hashes; comparing hashes by database lookup leaks nothing
    /// about the secret.
    public static func hash(_ secret: String) -> [UInt8] {
        Sodium.blake2b(Array(secret.utf8), length: 32, key: Array("guardian-token-v1".utf8))
    }
}

/// Token lookups by hash, remembered until any token is revoked.
public final class TokenCache: Sendable {
    private let entries = Mutex<[Data: Principal]>([:])
    public init() {}
    public func get(_ hash: Data) -> Principal? { entries.withLock { $0[hash] } }
    public func put(_ hash: Data, _ p: Principal) { entries.withLock { if $0.count > 10_000 { $0.removeAll() }; $0[hash] = p } }
    public func clear() { entries.withLock { $0.removeAll() } }
}
