import Foundation
import Synchronization

/// Decoded facts kept in memory for long-running processes (the agent): an incremental audit then
/// reads only the changed blobs from SQLite. Bounded in bytes (each entry's estimated heap size):
/// two generations of at most half the limit each; when the current one fills, the previous one
/// is dropped, and an entry found in the previous one moves to the current one.
final class MemoryFactsCache: Sendable {
    /// 32 MiB: a fleet of a hundred packages analyses to several times that, so the cache holds
    /// the projects audited most recently, not the fleet.
    static let shared = MemoryFactsCache(limitBytes: 32 << 20)

    private struct Generation {
        var entries: [Data: (facts: FileFacts, bytes: Int)] = [:]
        var bytes = 0
    }
    private struct State {
        var current = Generation()
        var previous = Generation()
        var limit: Int
    }
    private let state: Mutex<State>

    init(limitBytes: Int) { state = Mutex(State(limit: limitBytes)) }

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
                if let e = s.current.entries[m] {
                    found[Data(k)] = e.facts
                } else if let e = s.previous.entries.removeValue(forKey: m) {
                    s.previous.bytes -= e.bytes
                    Self.add(m, e, to: &s)
                    found[Data(k)] = e.facts
                } else {
                    missing.append(k)
                }
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
        let sized = items.map { (MemoryFactsCache.memoryKey($0.key, namespace), (facts: $0.facts, bytes: $0.facts.estimatedBytes + $0.key.count + namespace.utf8.count + 64)) }
        state.withLock { s in
            for (m, e) in sized { Self.add(m, e, to: &s) }
        }
    }

    private static func add(_ key: Data, _ entry: (facts: FileFacts, bytes: Int), to s: inout State) {
        guard entry.bytes <= s.limit / 2 else { return } // one entry larger than a generation is not kept
        if let old = s.previous.entries.removeValue(forKey: key) { s.previous.bytes -= old.bytes }
        if let old = s.current.entries.removeValue(forKey: key) { s.current.bytes -= old.bytes }
        // each generation stays within half the limit: the current one turns over before it would pass it
        if s.current.bytes + entry.bytes > s.limit / 2 {
            s.previous = s.current
            s.current = Generation()
        }
        s.current.entries[key] = entry
        s.current.bytes += entry.bytes
    }

    /// Entries and their estimated bytes, both generations.
    var usage: (entries: Int, bytes: Int, limit: Int) {
        state.withLock { ($0.current.entries.count + $0.previous.entries.count, $0.current.bytes + $0.previous.bytes, $0.limit) }
    }

    /// A new limit; entries over it are dropped at once (the older generation first).
    func setLimit(bytes: Int) {
        state.withLock { s in
            s.limit = max(0, bytes)
            if s.current.bytes + s.previous.bytes > s.limit { s.previous = Generation() }
            if s.current.bytes > s.limit { s.current = Generation() }
        }
    }

    func removeAll() { state.withLock { s in s.current = Generation(); s.previous = Generation() } }
}

extension FileFacts {
    /// The heap bytes this value holds, estimated from its arrays' lengths and its strings' sizes
    /// (what bounds the memory cache; not an exact count of allocator bytes).
    var estimatedBytes: Int {
        func text(_ s: String) -> Int { s.utf8.count > 15 ? s.utf8.count + 32 : 0 } // Swift keeps up to 15 bytes inline
        var n = MemoryLayout<FileFacts>.size
        n += functions.reduce(functions.count * MemoryLayout<FunctionFacts>.stride) { $0 + text($1.name) }
        n += findings.reduce(findings.count * MemoryLayout<RawFinding>.stride) {
            $0 + text($1.ruleId) + text($1.message) + ($1.fixOriginal.map(text) ?? 0) + ($1.fixReplacement.map(text) ?? 0)
        }
        n += dupHashes.count * MemoryLayout<UInt64>.stride + dupLines.count * MemoryLayout<Int32>.stride
        n += suppressions.reduce(suppressions.count * MemoryLayout<InlineSuppression>.stride) { $0 + $1.rules.count * 16 + ($1.reason.map(text) ?? 0) }
        n += possibleWitnesses.reduce(possibleWitnesses.count * MemoryLayout<PossibleWitness>.stride) { $0 + text($1.name) }
        n += (protocolRequirements + imports).reduce((protocolRequirements.count + imports.count) * 16) { $0 + text($1) }
        return n + (skipReason.map(text) ?? 0) + 7 * 32 // the arrays' own headers
    }
}

extension Auditor {
    /// Forgets facts held in memory (benchmarks and tests).
    public static func resetMemoryCache() { MemoryFactsCache.shared.removeAll() }

    /// The in-memory facts cache: entries, their estimated bytes, and the limit on those bytes.
    public static var memoryCacheUsage: (entries: Int, bytes: Int, limit: Int) { MemoryFactsCache.shared.usage }

    /// libgit2's object cache: its bytes now (over all repositories) and its limit.
    public static var gitCacheUsage: (bytes: Int, limit: Int) { GitRepository.cachedMemory }

    /// Bounds the in-memory facts cache (the agent's `facts_cache_mb`).
    public static func setMemoryCacheLimit(bytes: Int) { MemoryFactsCache.shared.setLimit(bytes: bytes) }
}
