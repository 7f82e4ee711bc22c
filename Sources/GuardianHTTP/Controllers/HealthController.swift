import GuardianNode
import GuardianStore
import Hummingbird
import NIOCore

/// Liveness, readiness and Prometheus metrics: outside `/v1` and, but for metrics that are not
/// public, outside authentication.
struct HealthController {
    let api: API

    func register(on router: Router<GuardianContext>) {
        router.get("/livez") { _, _ in API.json(["status": "ok"]) }
        router.get("/readyz", use: ready)
        router.get("/metrics", use: metrics)
    }

    @Sendable func ready(_ request: Request, context: GuardianContext) async throws -> Response {
        _ = try api.node.store.tokenCount()
        return API.json(["status": "ready"])
    }

    @Sendable func metrics(_ request: Request, context: GuardianContext) async throws -> Response {
        let node = api.node
        if !node.config.publicMetrics { _ = try api.auth.authenticate(request, context) }
        let text = AgentMetrics.render(queueDepth: await node.queueDepth, running: await node.runningAudits,
                                       resultsStored: try node.store.resultCount(), findings: try node.store.findingCounts(),
                                       hintsPending: try node.store.hintCounts().values.reduce(0, +), members: await memberCounts())
        return Response(status: .ok, headers: [.contentType: "text/plain; version=0.0.4"], body: .init(byteBuffer: ByteBuffer(bytes: text)))
    }

    /// Members by status in this node's view, itself included (a node alone counts one alive).
    func memberCounts() async -> [String: Int] {
        guard let view = await api.mesh?.view() else { return ["alive": 1] }
        var counts: [String: Int] = [:]
        for m in [view.me] + view.members { counts[m.status.rawValue, default: 0] += 1 }
        return counts
    }
}
