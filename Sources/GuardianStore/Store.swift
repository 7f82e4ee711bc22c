import Foundation
import GRDB
import Synchronization
import GuardianCore

/// The node's SQLite store (GRDB, WAL). A write is acknowledged only after a durable commit:
/// results through the group committer (committed, then the WAL synced before anyone is woken),
/// everything else with `synchronous=FULL`, set on the writer after the pool is open because GRDB's
/// pool sets NORMAL when it turns WAL on.
public final class Store: Sendable {
    let db: DatabasePool
    public let path: String
    let committer: GroupCommitter
    /// Per-project digests of the stored result ids, for anti-entropy (Store+Replication.swift).
    let digests = DigestCache()
    /// Every project's summary, decoded once and kept until a registry write or merge changes one.
    let summaryCache = Mutex<(generation: UInt64, value: [String: ProjectSummary]?)>((0, nil))
    let checkpointer: Checkpointer
    /// Bulk loads running now (imports), for the writer's cache size.
    private let bulkLoads = Mutex(0)

    /// Runs a bulk load with the background checkpoints held back (Checkpointer.pause) and the
    /// writer's page cache enlarged to `bulkCacheKiB` while it runs.
    public func bulkLoad<T>(_ body: () async throws -> T) async rethrows -> T {
        checkpointer.pause()
        if bulkLoads.withLock({ n in n += 1; return n == 1 }) { setWriterCache(Self.bulkCacheKiB) }
        defer {
            if bulkLoads.withLock({ n in n -= 1; return n == 0 }) { setWriterCache(Self.cacheKiB) }
            checkpointer.resume()
            checkpointer.noteWrite()
        }
        return try await body()
    }

    /// The writer's page cache in KiB. SQLite's default outside bulk loads: at the end of every
    /// transaction SQLite walks the whole page cache's hash table (pcache1 truncation), and with
    /// 64 MiB of cached pages that walk costs more than a small commit's inserts
    /// (docs/benchmarks.md). A bulk load's transactions of thousands of results need the large one:
    /// with 2 MiB they spill dirty index pages to the WAL in the middle of the transaction and write
    /// the same pages again and again.
    static let cacheKiB = 2_000, bulkCacheKiB = 65_536

    private func setWriterCache(_ kib: Int) {
        // a cache that cannot be resized is slower, never wrong
        try? db.writeWithoutTransaction { try $0.execute(sql: "PRAGMA cache_size=-\(kib)") }
    }

    /// Copies the WAL into the database file now and truncates it (waiting for readers and writers
    /// as needed). The background checkpoints make this unnecessary in normal running; a benchmark
    /// uses it so that the checkpoint of its seeding does not run during what it measures.
    public func checkpoint() throws {
        _ = try db.writeWithoutTransaction { try $0.checkpoint(.truncate) }
    }

    /// Transactions the group committer wrote, the WAL syncs that made them durable, and the results
    /// it acknowledged.
    public var commitStats: (commits: Int, syncs: Int, results: Int) { committer.stats }

    /// The size the WAL file is cut back to once a checkpoint has emptied it (SQLite's
    /// `journal_size_limit`). Without it the file keeps the size of the largest transaction batch it
    /// ever held: an import of 100,000 results into a running agent left a 690 MB WAL beside the
    /// database until the next restart.
    public static let walSizeLimit = 64 << 20

    public init(path: String, walSizeLimit: Int = Store.walSizeLimit) throws {
        self.path = path
        committer = GroupCommitter(walPath: path + "-wal")
        var config = Configuration()
        config.busyMode = .timeout(10)
        config.prepareDatabase { db in
            // (`synchronous` is set on the writer below, once GRDB has turned WAL on: set here, GRDB
            // overrode it; readers never commit)
            try db.execute(sql: "PRAGMA foreign_keys=ON")
            // Checkpoints run on their own connection (below), not inside a commit that a caller waits for.
            try db.execute(sql: "PRAGMA wal_autocheckpoint=0")
            try db.execute(sql: "PRAGMA journal_size_limit=\(walSizeLimit)")
            try db.execute(sql: "PRAGMA cache_size=-\(Store.cacheKiB)")
        }
        do {
            db = try DatabasePool(path: path, configuration: config)
            // A commit is durable only when the WAL is synced before it returns: `synchronous=FULL`.
            // GRDB's pool switches its writer to NORMAL when it turns WAL on, after `prepareDatabase`
            // ran, and NORMAL syncs the WAL only at checkpoints: a power cut could lose results that
            // were already acknowledged. So it is set again here, on the writer itself.
            try db.writeWithoutTransaction { try $0.execute(sql: "PRAGMA synchronous=FULL") }
            try Store.migrator.migrate(db)
            // A migration that copies tables leaves a WAL as large as the copy: hand it back.
            _ = try db.writeWithoutTransaction { try $0.checkpoint(.truncate) }
            var c = Configuration()
            c.busyMode = .timeout(10)
            c.prepareDatabase { db in try db.execute(sql: "PRAGMA synchronous=FULL") }
            checkpointer = try Checkpointer(DatabaseQueue(path: path, configuration: c))
        } catch {
            // Say why when it is the common case: a data directory that cannot be written (a
            // read-only mount, or permissions). SQLite itself only says "unable to open database file".
            let directory = (path as NSString).deletingLastPathComponent
            for p in [path, directory] where FileManager.default.fileExists(atPath: p) && access(p, W_OK) != 0 {
                throw GuardianError.io("cannot open the store at \(path): \(p) is read-only (\(String(cString: strerror(errno))));"
                                       + " the store, its -wal and -shm files must be writable")
            }
            throw GuardianError.io("cannot open the store at \(path): \(error)")
        }
    }

    /// A transaction committed with `synchronous=FULL`: durable when this returns.
    func write<T>(_ body: (Database) throws -> T) throws -> T {
        try writing { try db.write(body) }
    }

    /// A transaction committed without a WAL sync (`synchronous=NORMAL` for it alone): only the
    /// group committer writes this way, and it syncs the WAL before it acknowledges anyone.
    func writeUnsynced(_ body: (Database) throws -> Void) throws {
        try writing {
            try db.writeWithoutTransaction { db in
                try db.cachedStatement(sql: "PRAGMA synchronous=NORMAL").execute()
                defer { try? db.cachedStatement(sql: "PRAGMA synchronous=FULL").execute() }
                try db.inTransaction {
                    try body(db)
                    return .commit
                }
            }
        }
    }

    private func writing<T>(_ write: () throws -> T) throws -> T {
        do {
            let value = try write()
            checkpointer.noteWrite()
            return value
        } catch let e as GuardianError { throw e } catch let e as DatabaseError {
            switch e.resultCode {
            case .SQLITE_FULL: throw GuardianError.io("the store is full (disk full): nothing was written")
            case .SQLITE_READONLY: throw GuardianError.io("the store is read-only: nothing was written")
            case .SQLITE_CONSTRAINT: throw StoreConflict(message: e.message ?? "constraint violated")
            default: throw GuardianError.io("store write failed: \(e.message ?? "\(e)")")
            }
        }
    }

    func read<T>(_ body: (Database) throws -> T) throws -> T {
        do { return try db.read(body) } catch let e as DatabaseError {
            throw GuardianError.io("store read failed: \(e.message ?? "\(e)")")
        }
    }
}

/// A write that conflicts with existing data (duplicate id or URL).
public struct StoreConflict: Error, Sendable { public var message: String }

/// Moves committed WAL frames into the database file on a connection of its own, so that no writer
/// waits for a checkpoint (SQLite's automatic checkpoint runs inside the commit that crosses 1,000
/// pages, and on a slow disk that is tens of milliseconds added to someone's ack). It runs once
/// writes have paused for 100 ms, or after a second of writes without a pause, and never when
/// nothing was written. During a burst of commits each checkpoint's writes and its fsync of the
/// database file compete with the commits' own WAL fsyncs on the disk, and the pages a burst
/// rewrites in every commit (the table's last leaf, index pages) are copied once per checkpoint,
/// so checkpointing on a fixed beat during a burst slows durable commits. Passive
/// checkpoints never block writers or readers; one that fails (disk full) is tried again.
// @unchecked: the timer is only touched in init and deinit; the policy is a Mutex.
final class Checkpointer: @unchecked Sendable {
    private let queue: DatabaseQueue
    private let timer: any DispatchSourceTimer
    private let policy = Mutex(CheckpointPolicy())

    init(_ queue: DatabaseQueue) {
        self.queue = queue
        timer = DispatchSource.makeTimerSource(queue: DispatchQueue(label: "guardian.store.checkpoint"))
        timer.schedule(deadline: .now() + .milliseconds(100), repeating: .milliseconds(100), leeway: .milliseconds(20))
        timer.setEventHandler { [weak self] in self?.run() }
        timer.resume()
    }

    func noteWrite() {
        let now = DispatchTime.now().uptimeNanoseconds
        policy.withLock { $0.wrote(at: now) }
    }

    /// Bulk loads (an import) hold checkpoints back while they run: the frames they commit are
    /// durable in the WAL, and one checkpoint afterwards copies them once instead of racing the load
    /// for the same two cores.
    func pause() { policy.withLock { $0.paused += 1 } }
    func resume() { policy.withLock { $0.paused -= 1 } }

    private func run() {
        let now = DispatchTime.now().uptimeNanoseconds
        guard policy.withLock({ $0.take(at: now) }) else { return }
        do { _ = try queue.writeWithoutTransaction { try $0.checkpoint(.passive) } } catch { noteWrite() }
    }

    /// Timer runs that found a checkpoint due but held back by a bulk load (what shows that the
    /// pause, not the timing, kept the database file unchanged).
    var heldBack: Int { policy.withLock { $0.heldBack } }

    deinit { timer.cancel() }
}

/// When the checkpointer copies the WAL into the database (pure; times in nanoseconds): once writes
/// have paused for `quiet`, or `longest` after the first write not yet copied; never while a bulk
/// load holds checkpoints back, and never when nothing was written.
struct CheckpointPolicy: Sendable {
    static let quiet: UInt64 = 100_000_000, longest: UInt64 = 1_000_000_000
    var paused = 0
    private var pending = false
    /// The first write since the last checkpoint, and the latest.
    private var firstWrite: UInt64 = 0, lastWrite: UInt64 = 0

    mutating func wrote(at now: UInt64) {
        if !pending { pending = true; firstWrite = now }
        lastWrite = now
    }

    /// Checks that were due but held back by a pause.
    private(set) var heldBack = 0

    /// Whether a checkpoint is due now; if so, what it copies is no longer pending.
    mutating func take(at now: UInt64) -> Bool {
        guard pending, now &- lastWrite >= Self.quiet || now &- firstWrite >= Self.longest else { return false }
        guard paused == 0 else { heldBack += 1; return false }
        pending = false
        return true
    }
}
