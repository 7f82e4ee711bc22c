import Foundation
import Synchronization

/// Decoded facts kept in memory for long-running processes (the agent): an incremental audit then
/// reads only the changed blobs from SQLite. Bounded; evicts the oldest generation when full.
final class MemoryFactsCache: Sendable {
    static let shared = MemoryFactsCache(limit: 200_000)

    private struct State {
        var current: [Data: FileFacts] = [:]
        var previous: [Data: FileFacts] = [:]
    }
    private let state = Mutex(State())
    private let limit: Int

    init(limit: Int) { self.limit = limit }

    /// Facts for `keys`: from memory, then from the disk cache (which are then remembered).
    func lookup(_ keys: [[UInt8]], fallback: AnalysisCache?) -> [Data: FileFacts] {
        var found: [Data: FileFacts] = [:]
        var missing: [[UInt8]] = []
        state.withLock { s in
            for k in keys {
                let d = Data(k)
                if let f = s.current[d] ?? s.previous[d] { found[d] = f } else { missing.append(k) }
            }
        }
        if let fallback, !missing.isEmpty {
            let disk = fallback.blobFacts(keys: missing)
            insert(disk.map { (key: [UInt8]($0.key), facts: $0.value) })
            found.merge(disk) { a, _ in a }
        }
        return found
    }

    func insert(_ items: [(key: [UInt8], facts: FileFacts)]) {
        state.withLock { s in
            for (k, f) in items { s.current[Data(k)] = f }
            if s.current.count > limit / 2 {
                s.previous = s.current
                s.current = [:]
            }
        }
    }
}

extension MemoryFactsCache {
    func removeAll() { state.withLock { $0 = State() } }
}

extension Auditor {
    /// Forgets facts held in memory (benchmarks and tests).
    public static func resetMemoryCache() { MemoryFactsCache.shared.removeAll() }
}
