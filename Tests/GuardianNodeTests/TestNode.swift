import Foundation
@testable import GuardianNode
import Logging

/// A node in this process over a fresh data directory: real SQLite, real keys, no sockets.
enum TestNode {
    static func make(_ name: String, localRoots: [String] = [],
                     clock: @escaping @Sendable () -> Double = { Date().timeIntervalSince1970 }) throws -> Node {
        var c = AgentConfig()
        c.dataDir = FileManager.default.temporaryDirectory.appendingPathComponent("guardian-\(name)-\(UUID())").path
        c.name = name
        c.allowedLocalRoots = localRoots
        return try Node(config: c, logger: Logger(label: "test"), clock: clock)
    }

    /// The node's admin token (written on first call, as an agent's first start does).
    static func adminToken(_ node: Node) async throws -> String {
        guard let file = try await node.ensureAdminToken() else { throw CocoaError(.fileNoSuchFile) }
        return try String(contentsOfFile: file, encoding: .utf8).trimmingCharacters(in: .whitespacesAndNewlines)
    }
}
