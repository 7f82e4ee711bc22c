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

    /// Memory entries are namespaced by the disk cache they mirror, so that two caches in one
    /// process (tests, or an agent with several data directories) never answer for each other.
    private static func memoryKey(_ key: [UInt8], _ namespace: String) -> Data {
        var d = Data(namespace.utf8)
        d.append(0)
        d.append(contentsOf: key)
        return d
    }

    /// Facts for `keys` (result keyed by the disk key): from memory, then from `disk` (then remembered).
    func lookup(_ keys: [[UInt8]], disk: AnalysisCache) -> [Data: FileFacts] {
        var found: [Data: FileFacts] = [:]
        var missing: [[UInt8]] = []
        state.withLock { s in
            for k in keys {
                let m = MemoryFactsCache.memoryKey(k, disk.path)
                if let f = s.current[m] ?? s.previous[m] { found[Data(k)] = f } else { missing.append(k) }
            }
        }
        if !missing.isEmpty {
            let fromDisk = disk.blobFacts(keys: missing)
            insert(fromDisk.map { (key: [UInt8]($0.key), facts: $0.value) }, namespace: disk.path)
            found.merge(fromDisk) { a, _ in a }
        }
        return found
    }

    func insert(_ items: [(key: [UInt8], facts: FileFacts)], namespace: String) {
        state.withLock { s in
            for (k, f) in items { s.current[MemoryFactsCache.memoryKey(k, namespace)] = f }
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
