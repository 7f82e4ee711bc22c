import ServiceLifecycle

/// Runs the audits the node's queue starts, each as a child of one task group: the service owns
/// them while they run. On a graceful shutdown it starts no more and returns once the running ones
/// have finished (their results stored), before the mesh and the HTTP server stop.
public struct AuditService: Service {
    let node: Node

    public init(node: Node) { self.node = node }

    public func run() async {
        node.backfillSummaries()
        await withDiscardingTaskGroup { group in
            for await task in node.startedAudits.cancelOnGracefulShutdown() {
                group.addTask { await node.execute(task) }
            }
        }
    }
}
