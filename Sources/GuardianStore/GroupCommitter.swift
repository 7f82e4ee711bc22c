import Foundation
import GRDB
import GuardianCore
import Metrics
import Synchronization

/// Group commit in two stages, each on a thread of its own: a writer and a syncer.
///
/// A caller queues its results and waits. The **writer** takes everything queued and writes it in
/// one transaction, committed without a sync (`synchronous=NORMAL` for that transaction only), and
/// hands those callers to the syncer. The **syncer** takes every caller handed to it, syncs the WAL
/// file once (`fdatasync`), and only then wakes them. So nobody is acknowledged before their
/// results are durable, and a failed commit or sync fails exactly the callers whose results were in
/// it. While the syncer waits for the disk, the writer already writes the next transaction: the
/// fsync and the next commit's inserts overlap, where `synchronous=FULL` made every commit wait for
/// its own sync with the write lock held.
///
/// The price: a committed result is visible to readers of this node (the HTTP API, anti-entropy
/// digests) for the duration of one sync before it is durable; a power cut in that window loses it
/// although someone may have read it. It was never acknowledged: no task has succeeded and no
/// replica was pushed. Every other write of the store (`Store.write`) commits with FULL.
///
/// Each caller is told on its own: a blocking caller by its own semaphore (a shared condition would
/// wake every waiting producer on every commit), an async one by resuming its continuation. The
/// threads start on the first write and end after a second without one, so an idle store holds
/// none. The writer is a thread of its own, never a caller: handing the lead from caller to caller
/// would make each commit wait for the next caller's thread to be scheduled while the disk sits idle.
final class GroupCommitter: Sendable {
    /// A caller's results and how it is told the outcome (called once, from the writer or syncer).
    private struct Ticket: Sendable {
        let results: [(ResultRecord, [FindingRecord])]
        /// Alert messages raised by these results, keyed by result id: written with them or not at all.
        var outbox: [String: [AlertOutboxRow]] = [:]
        let store: Store
        let done: @Sendable (Result<Void, any Error>) -> Void
    }
    private let wal: WALFile
    private let writer = BatchThread<Ticket>(name: "guardian.store.commit")
    private let syncer = BatchThread<Ticket>(name: "guardian.store.sync")
    /// Transactions written, WAL syncs, and results acknowledged, for the store metrics and the benchmark.
    private let counts = Mutex((commits: 0, syncs: 0, results: 0))

    init(walPath: String) {
        wal = WALFile(path: walPath)
        writer.process = { [weak self] in self?.write($0) }
        syncer.process = { [weak self] in self?.sync($0) }
    }

    func commit(_ results: [(ResultRecord, [FindingRecord])], outbox: [String: [AlertOutboxRow]] = [:], store: Store) throws {
        let wake = DispatchSemaphore(value: 0)
        // written once by `done` before the signal, read after the wait
        nonisolated(unsafe) var outcome: Result<Void, any Error>?
        writer.add([Ticket(results: results, outbox: outbox, store: store) { outcome = $0; wake.signal() }])
        wake.wait()
        try outcome!.get()
    }

    /// The same for async callers: they are resumed, not woken, so no thread of Swift's cooperative
    /// pool (two on this machine) is blocked for the length of a commit and its sync.
    func commit(_ results: [(ResultRecord, [FindingRecord])], outbox: [String: [AlertOutboxRow]] = [:], store: Store) async throws {
        try await withCheckedThrowingContinuation { (done: CheckedContinuation<Void, any Error>) in
            writer.add([Ticket(results: results, outbox: outbox, store: store) { done.resume(with: $0) }])
        }
    }

    /// One transaction for everything queued when the writer got to it; the syncer makes it durable.
    private func write(_ group: [Ticket]) {
        counts.withLock { $0.commits += 1 }
        Metrics.Counter(label: "guardian_store_commits_total").increment()
        let outcome = Result { try group[0].store.writeUnsynced { db in for t in group { try Store.insert(results: t.results, outbox: t.outbox, in: db) } } }
        switch outcome {
        case .success: syncer.add(group)
        case .failure: finish(group, outcome)
        }
    }

    /// One WAL sync for every caller whose transaction committed before it began.
    private func sync(_ group: [Ticket]) {
        let started = DispatchTime.now().uptimeNanoseconds
        let outcome = Result { try wal.sync() }
        switch outcome {
        case .success: Metrics.Timer(label: "guardian_store_wal_fsync_duration_seconds").recordNanoseconds(Int64(DispatchTime.now().uptimeNanoseconds - started))
        case .failure: Metrics.Counter(label: "guardian_store_wal_fsync_failures_total").increment()
        }
        counts.withLock { c in
            c.syncs += 1
            if case .success = outcome { c.results += group.reduce(0) { $0 + $1.results.count } }
        }
        finish(group, outcome)
    }

    private func finish(_ group: [Ticket], _ outcome: Result<Void, any Error>) {
        for t in group { t.done(outcome) }
    }

    var stats: (commits: Int, syncs: Int, results: Int) { counts.withLock { ($0.commits, $0.syncs, $0.results) } }
}

/// A thread of its own that takes everything queued so far and processes it as one batch. It starts
/// with the first item and ends after a second without one, so an idle store holds no thread.
// @unchecked: `queue`, `running` and `process` are only touched with `lock` held (`process` is set
// once, before the first item).
final class BatchThread<Item>: @unchecked Sendable {
    private let name: String
    private let lock = NSCondition()
    private var queue: [Item] = []
    private var running = false
    var process: ([Item]) -> Void = { _ in }

    init(name: String) { self.name = name }

    func add(_ items: [Item]) {
        lock.lock()
        queue += items
        if running {
            lock.signal()
        } else {
            running = true
            let thread = Thread { [self] in run() }
            thread.name = name
            thread.start()
        }
        lock.unlock()
    }

    private func run() {
        lock.lock()
        while true {
            while queue.isEmpty {
                if !lock.wait(until: Date().addingTimeInterval(1)), queue.isEmpty {
                    running = false
                    lock.unlock()
                    return
                }
            }
            let batch = queue
            queue.removeAll()
            let process = process
            lock.unlock()
            process(batch)
            lock.lock()
        }
    }
}

/// `fdatasync` of the store's WAL file through a descriptor of its own, opened for each sync: Linux
/// syncs the file's dirty pages whichever descriptor wrote them. (A descriptor kept open would hold
/// the file after SQLite deletes it when the store closes, and keep a read-only remount busy.)
struct WALFile: Sendable {
    let path: String

    func sync() throws {
        let fd = open(path, O_RDONLY | O_CLOEXEC)
        guard fd >= 0 else { throw GuardianError.io("the commit could not be made durable: cannot open the WAL \(path) (\(String(cString: strerror(errno))))") }
        defer { close(fd) }
        guard fdatasync(fd) == 0 else {
            throw GuardianError.io("the commit could not be made durable: syncing the WAL failed (\(String(cString: strerror(errno))))")
        }
    }
}
