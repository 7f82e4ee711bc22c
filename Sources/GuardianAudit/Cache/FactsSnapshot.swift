import Foundation
import GuardianCore
import GuardianCrypto

/// The encoded facts of a repository's last one-off audit, in one file beside the cache database
/// (`<cache>/snapshots/<id>.facts`). A command run again after a small change (a pre-commit hook,
/// a CI step) finds nearly every file's facts here with one read, instead of one SQLite lookup per
/// file; what is not here is looked up in the database as before. A long-running process keeps
/// its facts in memory instead (`MemoryFactsCache`) and writes no snapshot.
///
/// Layout: `GFS1`, then per file its 20-byte cache key, a 4-byte little-endian length and the
/// encoded facts; a later entry for a key replaces an earlier one. An audit that changed a few
/// files appends their entries (one write); one that finds the file missing, broken or mostly
/// stale writes it anew. A file that does not parse is ignored from the first bad entry on: what
/// it held is read from the database, and every entry is decoded with the same checks as any
/// cached facts.
enum FactsSnapshot {
    static let magic: [UInt8] = Array("GFS1".utf8)
    static let keyLength = 20

    /// The snapshot of `repository` (its path on disk) under the cache directory, for one analyzer
    /// version and set of limits (`prefix`: what every blob key starts with).
    static func path(cacheDirectory: String, repository: String, prefix: [UInt8]) -> String {
        let id = Sodium.hex(Sodium.blake2b(prefix + Array(repository.utf8), length: 16))
        return (cacheDirectory as NSString).appendingPathComponent("snapshots/\(id).facts")
    }

    /// A snapshot as read: its bytes, each key's latest entry, and whether every byte parsed.
    struct Loaded {
        var path: String
        var bytes: [UInt8]
        var index: [Data: Range<Int>]
        var clean: Bool
    }

    static func load(_ path: String) -> Loaded {
        let bytes = read(path)
        let (index, end) = parse(bytes)
        return Loaded(path: path, bytes: bytes, index: index, clean: !index.isEmpty && end == bytes.count)
    }

    /// Each entry's key and the range of its encoded facts in `bytes`; empty for a missing file.
    static func entries(_ bytes: [UInt8]) -> [Data: Range<Int>] { parse(bytes).index }

    /// The entries, and where parsing stopped (the end of the last whole entry).
    static func parse(_ bytes: [UInt8]) -> (index: [Data: Range<Int>], end: Int) {
        guard bytes.starts(with: magic) else { return ([:], 0) }
        var out: [Data: Range<Int>] = [:]
        var pos = magic.count
        while pos + keyLength + 4 <= bytes.count {
            let key = Data(bytes[pos..<pos + keyLength])
            var length: UInt32 = 0
            for k in 0..<4 { length |= UInt32(bytes[pos + keyLength + k]) << (8 * UInt32(k)) }
            let n = Int(length)
            let start = pos + keyLength + 4
            guard n <= bytes.count - start else { break }
            out[key] = start..<start + n
            pos = start + n
        }
        return (out, pos)
    }

    /// One audit's use of its repository's snapshot: the facts found in it or, for the keys it
    /// lacks, in the database; then, with what the audit analysed, the snapshot brought up to date.
    struct Use {
        let loaded: Loaded
        /// Decoded facts by key (an entry that did not decode is absent: analysed again).
        let facts: [Data: FileFacts]
        /// Encoded facts of every key found, from the snapshot or the database.
        let encoded: [Data: ArraySlice<UInt8>]
        let hits: Int

        init(keys: [[UInt8]], cache: AnalysisCache, repository: String, prefix: [UInt8]) {
            loaded = FactsSnapshot.load(FactsSnapshot.path(cacheDirectory: cache.directory, repository: repository, prefix: prefix))
            var rows: [(Data, ArraySlice<UInt8>)] = []
            rows.reserveCapacity(keys.count)
            var rest: [[UInt8]] = []
            for key in keys {
                let k = Data(key)
                if let r = loaded.index[k] { rows.append((k, loaded.bytes[r])) } else { rest.append(key) }
            }
            Trace.mark("snapshot \(rows.count)")
            hits = rows.count
            for (k, b) in cache.encodedBlobFacts(keys: rest) { rows.append((k, b[...])) }
            let decoded = AnalysisCache.decode(rows)
            facts = decoded
            encoded = Dictionary(rows.filter { decoded[$0.0] != nil }, uniquingKeysWith: { a, _ in a })
        }

        /// Adds what the snapshot lacked (read from the database, or `fresh`: analysed now; a
        /// snapshot entry that did not decode is analysed again and appended, replacing it).
        func finish(keys: [[UInt8]], fresh: [(key: [UInt8], data: [UInt8])]) {
            var all = encoded
            for (k, d) in fresh { all[Data(k)] = d[...] }
            let additions = keys.compactMap { key -> (key: [UInt8], facts: ArraySlice<UInt8>)? in
                let k = Data(key)
                guard let e = all[k], loaded.index[k] == nil || facts[k] == nil else { return nil }
                return (key, e)
            }
            FactsSnapshot.update(loaded, live: keys.count, hits: hits, additions: additions) {
                keys.compactMap { key in all[Data(key)].map { (key: key, facts: $0) } }
            }
        }
    }

    /// Brings the snapshot up to date after an audit of `live` files, `hits` of them found in it:
    /// appends `additions` (the entries it lacked) when it is whole and mostly current, else
    /// writes `all()` anew.
    static func update(_ s: Loaded, live: Int, hits: Int, additions: [(key: [UInt8], facts: ArraySlice<UInt8>)],
                       all: () -> [(key: [UInt8], facts: ArraySlice<UInt8>)]) {
        let stale = s.index.count - hits
        if s.clean && stale <= live / 2 && additions.count <= live / 4 {
            if additions.isEmpty {
                utimes(s.path, nil) // read and current: pruning goes by the last use
            } else {
                append(s.path, additions)
            }
        } else {
            write(s.path, all())
        }
    }

    static func encode(_ items: [(key: [UInt8], facts: ArraySlice<UInt8>)], into out: inout [UInt8]) {
        for (key, facts) in items where key.count == keyLength && facts.count <= Int(UInt32.max) {
            out.append(contentsOf: key)
            for k in 0..<4 { out.append(UInt8(truncatingIfNeeded: facts.count >> (8 * k))) }
            out.append(contentsOf: facts)
        }
    }

    /// Adds entries at the end in one write (O_APPEND: two processes' entries never interleave).
    /// A short write (a full disk) is cut back to the size before it, so that no partial entry
    /// is left for a later one to follow.
    static func append(_ path: String, _ items: [(key: [UInt8], facts: ArraySlice<UInt8>)]) {
        var out: [UInt8] = []
        encode(items, into: &out)
        let fd = open(path, O_WRONLY | O_APPEND | O_NOFOLLOW | O_CLOEXEC | O_NONBLOCK)
        guard fd >= 0 else { return }
        defer { close(fd) }
        var st = stat()
        guard fstat(fd, &st) == 0, (st.st_mode & S_IFMT) == S_IFREG else { return }
        let n = out.withUnsafeBytes { Foundation.write(fd, $0.baseAddress, $0.count) }
        if n != out.count { _ = ftruncate(fd, st.st_size) }
    }

    /// Snapshots larger than this are not read (a repository's facts run to a few MB).
    static let maxBytes = 512 << 20

    /// The file's bytes; empty unless it is a regular file (not a link, a FIFO or a device) of at
    /// most `maxBytes`.
    static func read(_ path: String) -> [UInt8] {
        let fd = open(path, O_RDONLY | O_NOFOLLOW | O_CLOEXEC | O_NONBLOCK)
        guard fd >= 0 else { return [] }
        defer { close(fd) }
        var st = stat()
        guard fstat(fd, &st) == 0, (st.st_mode & S_IFMT) == S_IFREG, st.st_size >= 0, st.st_size <= maxBytes else { return [] }
        let size = Int(st.st_size)
        // read into uninitialised memory: zeroing a megabyte first cost as much as reading it
        return [UInt8](unsafeUninitializedCapacity: size) { buffer, initialized in
            var done = 0
            while done < size {
                let n = Foundation.read(fd, buffer.baseAddress! + done, size - done)
                if n < 0 && errno == EINTR { continue }
                if n <= 0 { break }
                done += n
            }
            initialized = done
        }
    }

    /// Snapshots kept per cache directory: a CI runner that clones into a new folder each run would
    /// otherwise leave one behind per run. The least recently used go first.
    static let kept = 32

    /// Replaces the snapshot (a new file renamed over the old one: a reader sees one or the
    /// other), then drops the oldest beyond `kept`. Failing to write costs the next audit its
    /// shortcut, nothing else.
    static func write(_ path: String, _ items: [(key: [UInt8], facts: ArraySlice<UInt8>)]) {
        var out = magic
        out.reserveCapacity(magic.count + items.reduce(0) { $0 + keyLength + 4 + $1.facts.count })
        encode(items, into: &out)
        let dir = (path as NSString).deletingLastPathComponent
        try? FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true)
        let temp = path + ".\(UUID().uuidString).tmp"
        let fd = open(temp, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0o644)
        guard fd >= 0 else { return }
        let written = out.withUnsafeBytes { writeAll(fd, $0) }
        close(fd)
        guard written else { unlink(temp); return }
        if rename(temp, path) != 0 { unlink(temp); return }
        prune(dir)
    }

    static func prune(_ dir: String) {
        let fm = FileManager.default
        guard let names = try? fm.contentsOfDirectory(atPath: dir), names.count > kept else { return }
        let dated = names.filter { $0.hasSuffix(".facts") || $0.hasSuffix(".tmp") }.map { name -> (String, Date) in
            let p = (dir as NSString).appendingPathComponent(name)
            return (p, (try? fm.attributesOfItem(atPath: p)[.modificationDate] as? Date) ?? .distantPast)
        }
        for (p, _) in dated.sorted(by: { $0.1 > $1.1 }).dropFirst(kept) { try? fm.removeItem(atPath: p) }
    }
}
