import GuardianNode
import Foundation
import GuardianStore
import GuardianCore
import Hummingbird

/// Team profiles and API tokens: `GET`/`PUT /v1/teams/{id}`, `GET`/`POST /v1/tokens`, `DELETE /v1/tokens/{id}`.
struct TeamsController {
    let api: API
    var node: Node { api.node }

    var routes: RouteCollection<GuardianContext> {
        let r = RouteCollection(context: GuardianContext.self)
        r.get("teams/:id", use: team)
        r.put("teams/:id", use: saveTeam)
        r.get("tokens", use: listTokens)
        r.post("tokens", use: createToken)
        r.delete("tokens/:id", use: revokeToken)
        return r
    }

    @Sendable func team(_ request: Request, context: GuardianContext) async throws -> Response {
        let p = try context.caller()
        let id = try context.parameters.require("id")
        guard p.canRead(team: id) else { throw api.forbidden(id) }
        return try API.encodable(TeamView(id: id, profile: try node.store.teamProfile(id) ?? .standard))
    }

    @Sendable func saveTeam(_ request: Request, context: GuardianContext) async throws -> Response {
        let p = try context.caller()
        let id = try context.parameters.require("id")
        guard p.canWrite(team: id) else { throw api.forbidden(id) }
        let body = try await request.body.collect(upTo: node.config.maxBodyBytes)
        let profile: TeamProfile
        do { profile = try TeamProfile.decode(Data(buffer: body), source: "request body") } catch let e as GuardianError {
            throw APIError(.badRequest, "invalid_profile", e.description)
        }
        let e = JSONEncoder()
        e.outputFormatting = [.sortedKeys]
        try node.registry.save(team: TeamRecord(id: id, profile: String(decoding: try e.encode(profile), as: UTF8.self),
                                                updatedAt: Date().timeIntervalSince1970))
        return try API.encodable(TeamView(id: id, profile: profile))
    }

    @Sendable func createToken(_ request: Request, context: GuardianContext) async throws -> Response {
        let p = try context.caller()
        struct Input: Decodable { var role: String; var team: String?; var name: String? }
        let input: Input = try await api.decode(request)
        guard let role = Principal.Role(rawValue: input.role) else {
            throw APIError(.badRequest, "invalid_role", "role must be admin, maintainer or viewer")
        }
        if role != .admin && input.team == nil { throw APIError(.badRequest, "missing_field", "team is required for maintainer and viewer tokens") }
        guard p.isAdmin || (p.role == .maintainer && role != .admin && input.team == p.team) else {
            throw APIError(.forbidden, "forbidden", "this token cannot create \(role.rawValue) tokens")
        }
        let (secret, record) = Auth.newToken(role: role, team: input.team, name: input.name ?? role.rawValue)
        try node.registry.insert(token: record)
        return try API.encodable(TokenCreated(id: record.id, token: secret, role: role.rawValue, team: input.team ?? ""), status: .created)
    }

    /// Admins see every token; a maintainer sees its team's; a viewer none. Never a secret or hash.
    @Sendable func listTokens(_ request: Request, context: GuardianContext) async throws -> Response {
        let p = try context.caller()
        guard p.isAdmin || (p.role == .maintainer && p.team != nil) else { throw APIError(.forbidden, "forbidden", "viewer tokens cannot list tokens") }
        let records = try node.store.tokens(team: p.isAdmin ? nil : p.team)
        return try API.encodable(TokenList(tokens: records.map {
            TokenView(id: $0.id, role: $0.role, team: $0.team ?? "", name: $0.name, createdAt: $0.createdAt)
        }))
    }

    @Sendable func revokeToken(_ request: Request, context: GuardianContext) async throws -> Response {
        try api.requireAdmin(context, "revoke tokens")
        let id = try context.parameters.require("id")
        guard try node.registry.deleteToken(id: id) else { throw NodeError(.notFound, "not_found", "no token '\(id)'") }
        api.tokenCache.clear()
        return Response(status: .noContent)
    }
}
