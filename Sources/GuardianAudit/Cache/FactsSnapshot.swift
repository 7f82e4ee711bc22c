import Foundation
import GuardianCrypto

/// The encoded facts of a repository's last one-off audit, in one file beside the cache database
/// (`<cache>/snapshots/<id>.facts`). A command run again after a small change (a pre-commit hook,
/// a CI step) finds nearly every file's facts here with one read, instead of one SQLite lookup per
/// file; what is not here is looked up in the database as before. A long-running process keeps
/// its facts in memory instead (`MemoryFactsCache`) and writes no snapshot.
///
/// Layout: `GFS1`, then per file its 20-byte cache key, a 4-byte little-endian length and the
/// encoded facts. A file that does not parse is ignored from the first bad entry on: what it held
/// is read from the database, and every entry is decoded with the same checks as any cached facts.
enum FactsSnapshot {
    static let magic: [UInt8] = Array("GFS1".utf8)
    static let keyLength = 20

    /// The snapshot of `repository` (its path on disk) under the cache directory, for one analyzer
    /// version and set of limits (`prefix`: what every blob key starts with).
    static func path(cacheDirectory: String, repository: String, prefix: [UInt8]) -> String {
        let id = Sodium.blake2b(prefix + Array(repository.utf8), length: 16).map { String(format: "%02x", $0) }.joined()
        return (cacheDirectory as NSString).appendingPathComponent("snapshots/\(id).facts")
    }

    /// Each entry's key and the range of its encoded facts in `bytes`; empty for a missing file.
    static func entries(_ bytes: [UInt8]) -> [Data: Range<Int>] {
        guard bytes.starts(with: magic) else { return [:] }
        var out: [Data: Range<Int>] = [:]
        var pos = magic.count
        while pos + keyLength + 4 <= bytes.count {
            let key = Data(bytes[pos..<pos + keyLength])
            var n = 0
            for k in 0..<4 { n |= Int(bytes[pos + keyLength + k]) << (8 * k) }
            let start = pos + keyLength + 4
            guard n <= bytes.count - start else { break }
            out[key] = start..<start + n
            pos = start + n
        }
        return out
    }

    static func read(_ path: String) -> [UInt8] {
        guard let d = FileManager.default.contents(atPath: path) else { return [] }
        return [UInt8](d)
    }

    /// Snapshots kept per cache directory: a CI runner that clones into a new folder each run would
    /// otherwise leave one behind per run. The least recently written go first.
    static let kept = 32

    /// Replaces the snapshot (a new file renamed over the old one: a reader sees one or the
    /// other), then drops the oldest beyond `kept`. Failing to write costs the next audit its
    /// shortcut, nothing else.
    static func write(_ path: String, _ items: [(key: [UInt8], facts: ArraySlice<UInt8>)]) {
        var out = magic
        out.reserveCapacity(magic.count + items.reduce(0) { $0 + keyLength + 4 + $1.facts.count })
        for (key, facts) in items where key.count == keyLength && facts.count <= Int(UInt32.max) {
            out.append(contentsOf: key)
            for k in 0..<4 { out.append(UInt8(truncatingIfNeeded: facts.count >> (8 * k))) }
            out.append(contentsOf: facts)
        }
        let dir = (path as NSString).deletingLastPathComponent
        try? FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true)
        let temp = path + ".\(ProcessInfo.processInfo.processIdentifier).tmp"
        guard FileManager.default.createFile(atPath: temp, contents: Data(out)) else { return }
        if rename(temp, path) != 0 { unlink(temp); return }
        prune(dir)
    }

    static func prune(_ dir: String) {
        let fm = FileManager.default
        guard let names = try? fm.contentsOfDirectory(atPath: dir), names.count > kept else { return }
        let dated = names.filter { $0.hasSuffix(".facts") }.map { name -> (String, Date) in
            let p = (dir as NSString).appendingPathComponent(name)
            return (p, (try? fm.attributesOfItem(atPath: p)[.modificationDate] as? Date) ?? .distantPast)
        }
        for (p, _) in dated.sorted(by: { $0.1 > $1.1 }).dropFirst(kept) { try? fm.removeItem(atPath: p) }
    }
}
