import Foundation
import GuardianAudit
import GuardianCore
import GuardianCrypto
import GuardianStore
import Synchronization

/// Each stored result's check scores, which an audit reads for the project's last 20 results (the
/// predictive check's trend). A result is signed and never changes, so its envelope is decoded
/// once per process, not once per later audit of its project: a push no longer decodes twenty
/// reports. Bounded: the oldest entries go past `limit` results.
final class PastScores: Sendable {
    private struct State {
        var scores: [String: [PastScore]] = [:]
        var order: [String] = []
    }
    private let state = Mutex(State())
    private let limit: Int

    init(limit: Int = 4096) { self.limit = limit }

    /// The scores of `project`'s latest `count` branch results (pull requests' results excluded).
    func recent(project: String, count: Int = 20, store: Store) throws -> [PastScore] {
        var out: [PastScore] = []
        for head in try store.resultHeads(project: project, limit: count) {
            if let known = state.withLock({ $0.scores[head.id] }) {
                out += known
                continue
            }
            guard let r = try store.result(id: head.id) else { continue } // pruned meanwhile
            let scores = Self.decode(r)
            remember(head.id, scores)
            out += scores
        }
        return out
    }

    private func remember(_ id: String, _ scores: [PastScore]) {
        state.withLock { s in
            if s.scores.updateValue(scores, forKey: id) == nil { s.order.append(id) }
            if s.order.count > limit {
                let drop = s.order.count - limit
                for old in s.order.prefix(drop) { s.scores.removeValue(forKey: old) }
                s.order.removeFirst(drop)
            }
        }
    }

    /// A result's scores from the statement it signs; none when the envelope does not read.
    static func decode(_ r: ResultRecord) -> [PastScore] {
        guard let report = Node.report(of: [UInt8](r.envelope)) else { return [] }
        return report.magicResults.compactMap { k, v in Check(rawValue: k).map { PastScore(check: $0, time: Int64(r.createdAt), score: v.score) } }
    }
}
