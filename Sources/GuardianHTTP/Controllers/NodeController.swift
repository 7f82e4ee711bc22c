import GuardianNode
import GuardianStore
import Foundation
import GuardianAudit
import GuardianCrypto
import GuardianMesh
import Hummingbird

/// This node and the ring: `GET /v1/node`, `GET /v1/ring`, `GET /v1/ring/owners`.
struct NodeController {
    let api: API

    var routes: RouteCollection<GuardianContext> {
        let r = RouteCollection(context: GuardianContext.self)
        r.get("node", use: info)
        r.get("ring", use: ring)
        r.get("ring/owners", use: owners)
        return r
    }

    @Sendable func info(_ request: Request, context: GuardianContext) async throws -> Response {
        let node = api.node
        var me = Self.member(node)
        // in a mesh, what the node announces: the bound gossip and HTTP addresses, its incarnation and tags
        if let view = await api.mesh?.view() {
            me.address = view.me.meta.address; me.httpAddress = view.me.meta.httpAddress
            me.incarnation = view.me.incarnation; me.tags = view.me.meta.tags; me.status = view.me.status.rawValue
        }
        return try API.encodable(NodeInfo(
            name: me.name, id: me.id, address: me.address, httpAddress: me.httpAddress, status: me.status, incarnation: me.incarnation,
            tags: me.tags, publicKey: me.publicKey ?? "", version: me.version,
            uptimeSeconds: Int(Date().timeIntervalSince(node.startedAt)), queueDepth: await node.queueDepth,
            runningAudits: await node.runningAudits, results: try node.store.resultCount()))
    }

    /// This node as a member: what `GET /v1/members` lists for a node that runs alone.
    static func member(_ node: Node) -> MemberView {
        let c = node.config
        return MemberView(name: c.name, id: node.nodeID, address: c.gossipAddr, httpAddress: node.httpAddress, status: "alive",
                          incarnation: 0, tags: ["team": "", "site": "", "capacity": "1"], version: Auditor.version, rtt: 0,
                          publicKey: node.identity.verifyingKey.base64)
    }

    @Sendable func ring(_ request: Request, context: GuardianContext) async throws -> Response {
        let ring = await api.currentRing()
        let shares = ring.shares()
        return try API.encodable(RingView(replicationFactor: api.node.config.replicationFactor, vnodesPerCapacity: Ring.defaultVnodes,
                                          nodes: ring.nodes.map { .init(name: $0.name, capacity: $0.capacity, share: shares[$0.name] ?? 0) }))
    }

    @Sendable func owners(_ request: Request, context: GuardianContext) async throws -> Response {
        guard let key = request.uri.queryParameters.get("key"), !key.isEmpty else {
            throw APIError(.badRequest, "missing_key", "give ?key=PROJECT or PROJECT/SHARD")
        }
        var view = await api.owners(of: key)
        view.key = key
        return try API.encodable(view)
    }
}
