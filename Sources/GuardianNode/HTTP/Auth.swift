import Foundation
import GuardianCrypto
import HTTPTypes
import GuardianStore
import Hummingbird
import Synchronization

/// An error the API returns as `{"error": {"code", "message"}}` with an HTTP status.
public struct APIError: Error, HTTPResponseError, CustomStringConvertible, Sendable {
    public var status: HTTPResponse.Status
    public var code: String
    public var message: String

    public init(_ status: HTTPResponse.Status, _ code: String, _ message: String) {
        self.status = status; self.code = code; self.message = message
    }

    public var description: String { message }

    public func response(from request: Request, context: some RequestContext) throws -> Response {
        APIError.json(status: status, code: code, message: message)
    }

    static func json(status: HTTPResponse.Status, code: String, message: String) -> Response {
        let e = JSONEncoder()
        e.outputFormatting = [.sortedKeys, .withoutEscapingSlashes]
        let body = try! e.encode(["error": ["code": code, "message": message]]) // strings always encode
        return Response(status: status, headers: [.contentType: "application/json"], body: .init(byteBuffer: ByteBuffer(bytes: body)))
    }
}

/// Who made a request.
public struct Principal: Sendable, Equatable {
    public typealias Role = TokenRole
    public var role: Role
    public var team: String?
    public var tokenId: String

    public init(role: Role, team: String?, tokenId: String) { self.role = role; self.team = team; self.tokenId = tokenId }

    func canRead(team t: String) -> Bool { role == .admin || team == t }
    func canWrite(team t: String) -> Bool { role == .admin || (role == .maintainer && team == t) }
    var isAdmin: Bool { role == .admin }
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

    static func authenticate(_ request: Request, store: Store, cache: TokenCache? = nil) throws -> Principal {
        guard let header = request.headers[.authorization] else {
            throw APIError(.unauthorized, "unauthorized", "missing bearer token (Authorization: Bearer <token>)")
        }
        let parts = header.split(separator: " ", maxSplits: 1)
        guard parts.count == 2, parts[0].lowercased() == "bearer" else {
            throw APIError(.unauthorized, "unauthorized", "the Authorization header must be 'Bearer <token>'")
        }
        let h = Data(hash(String(parts[1]).trimmingCharacters(in: .whitespaces)))
        if let p = cache?.get(h) { return p }
        guard let rec = try store.token(hash: h), let role = Principal.Role(rawValue: rec.role) else {
            throw APIError(.unauthorized, "unauthorized", "unknown or revoked token")
        }
        let p = Principal(role: role, team: rec.team, tokenId: rec.id)
        cache?.put(h, p)
        return p
    }
}

/// Token lookups by hash, remembered until any token is revoked.
final class TokenCache: Sendable {
    private let entries = Mutex<[Data: Principal]>([:])
    func get(_ hash: Data) -> Principal? { entries.withLock { $0[hash] } }
    func put(_ hash: Data, _ p: Principal) { entries.withLock { if $0.count > 10_000 { $0.removeAll() }; $0[hash] = p } }
    func clear() { entries.withLock { $0.removeAll() } }
}
