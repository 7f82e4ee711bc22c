import GuardianNode
import GuardianStore
import Foundation
import GuardianCrypto
import GuardianMesh
import Hummingbird

/// The mesh's membership and keyring: `GET /v1/members`, and for admins join, force-leave, leave
/// and the keyring.
struct MembersController {
    let api: API

    var routes: RouteCollection<GuardianContext> {
        let r = RouteCollection(context: GuardianContext.self)
        r.get("members", use: list)
        r.post("members/join", use: join)
        r.post("members/:name/force-leave", use: forceLeave)
        r.post("leave", use: leave)
        r.get("keys", use: keys)
        r.post("keys", use: changeKey)
        return r
    }

    /// The mesh, for a route that changes it: admin tokens only, and only when there is a mesh.
    func meshForAdmin(_ context: GuardianContext, _ what: String) throws -> MeshShell {
        try api.requireAdmin(context, what)
        guard let mesh = api.mesh else {
            throw NodeError(.conflict, "no_mesh", "this node runs alone: start it with a cluster key (guardian keygen)")
        }
        return mesh
    }

    @Sendable func list(_ request: Request, context: GuardianContext) async throws -> Response {
        guard let view = await api.mesh?.view() else {
            let digest = Sodium.hex(Sodium.blake2b(Array(api.node.nodeID.utf8), length: 16))
            return try API.encodable(MembersView(members: [NodeController.member(api.node)], digest: digest))
        }
        let members = ([view.me] + view.members).map { m in
            MemberView(name: m.name, id: m.meta.id, address: m.meta.address, httpAddress: m.meta.httpAddress, status: m.status.rawValue,
                       incarnation: m.incarnation, tags: m.meta.tags, version: m.meta.version, rtt: view.rtt[m.name])
        }
        return try API.encodable(MembersView(members: members, digest: String(format: "%016llx", view.digest)))
    }

    @Sendable func join(_ request: Request, context: GuardianContext) async throws -> Response {
        let mesh = try meshForAdmin(context, "join")
        struct Input: Decodable { var address: String }
        let input: Input = try await api.decode(request)
        guard let n = await mesh.join(input.address) else {
            throw APIError(.badGateway, "join_failed", "no push-pull answer from \(input.address) (wrong address, or a different cluster key)")
        }
        return try API.encodable(JoinedView(joined: input.address, members: n))
    }

    @Sendable func forceLeave(_ request: Request, context: GuardianContext) async throws -> Response {
        let mesh = try meshForAdmin(context, "force a member out")
        let name = try context.parameters.require("name")
        try await mesh.forceLeave(name)
        return API.json(["left": name])
    }

    @Sendable func leave(_ request: Request, context: GuardianContext) async throws -> Response {
        let mesh = try meshForAdmin(context, "leave")
        await mesh.leave()
        return API.json(["left": true])
    }

    @Sendable func keys(_ request: Request, context: GuardianContext) async throws -> Response {
        let ids = try await meshForAdmin(context, "see the keyring").keyIDs()
        return try API.encodable(KeysView(primary: ids.primary, keys: ids.all))
    }

    @Sendable func changeKey(_ request: Request, context: GuardianContext) async throws -> Response {
        let mesh = try meshForAdmin(context, "change the keyring")
        struct Input: Decodable { var action: String; var key: String }
        let input: Input = try await api.decode(request)
        guard let action = MeshShell.KeyAction(rawValue: input.action) else {
            throw APIError(.badRequest, "invalid_action", "action must be install, use or remove")
        }
        do { try await mesh.changeKey(action, input.key) } catch let e as CryptoError {
            throw APIError(.badRequest, "invalid_key", e.description)
        }
        let ids = await mesh.keyIDs()
        return try API.encodable(KeysView(primary: ids.primary, keys: ids.all))
    }
}
