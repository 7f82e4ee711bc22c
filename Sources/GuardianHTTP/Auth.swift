import GuardianNode
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

extension Auth {
    /// The principal a request's bearer token names.
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

