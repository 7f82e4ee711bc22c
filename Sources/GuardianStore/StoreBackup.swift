import Foundation
#if canImport(Glibc)
import Glibc
#endif
import GRDB
import GuardianCore

/// A backup of a node is one SQLite file: a copy of the store taken with SQLite's online backup
/// API while the node runs, plus a table `guardianBackupFile` holding the data directory's small
/// files (identity, keys, the admin token) that the store is useless without.
public enum StoreBackup {
    public static let filesTable = "guardianBackupFile"

    public struct Summary: Sendable, Equatable {
        public var results: Int
        public var projects: Int
        public var files: [String]
        public var bytes: Int
    }

    /// Copies the store at `source` into a new file `destination` (which must not exist), in one
    /// backup step: the copy is the snapshot of one read transaction, so every result committed
    /// before the backup began is in it, and no half of a later transaction is. Writers go on (WAL
    /// mode: a reader does not block them). The file is written as `destination.partial` with mode
    /// 0600, synced, and renamed only when complete.
    public static func take(store source: String, files: [String: Data], to destination: String) throws -> Summary {
        guard !FileManager.default.fileExists(atPath: destination) else {
            throw GuardianError.usage("\(destination) exists: a backup never overwrites a file")
        }
        guard FileManager.default.fileExists(atPath: source) else { throw GuardianError.usage("no store at \(source)") }
        let partial = destination + ".partial"
        unlink(partial)
        let fd = Glibc.open(partial, O_WRONLY | O_CREAT | O_EXCL, 0o600)
        guard fd >= 0 else { throw GuardianError.io("cannot create \(partial): \(String(cString: strerror(errno)))") }
        close(fd)
        do {
            var readOnly = Configuration()
            readOnly.readonly = true
            readOnly.busyMode = .timeout(10)
            let from = try DatabaseQueue(path: source, configuration: readOnly)
            let to = try DatabaseQueue(path: partial)
            try from.backup(to: to)
            try to.inDatabase { db in
                try db.execute(sql: "PRAGMA journal_mode=DELETE")
                try db.execute(sql: "CREATE TABLE \(filesTable) (name TEXT PRIMARY KEY NOT NULL, content BLOB NOT NULL)")
                for (name, content) in files {
                    try db.execute(sql: "INSERT INTO \(filesTable) (name, content) VALUES (?, ?)", arguments: [name, content])
                }
            }
            let summary = try Self.summary(to)
            try to.close()
            try from.close()
            try fsyncFile(partial)
            // link, not rename: it fails on a file created at `destination` meanwhile, never replaces it
            guard link(partial, destination) == 0 else {
                throw GuardianError.io("cannot create \(destination): \(String(cString: strerror(errno)))")
            }
            unlink(partial)
            try fsyncFile((destination as NSString).deletingLastPathComponent.isEmpty ? "." : (destination as NSString).deletingLastPathComponent)
            var s = summary
            s.bytes = Int((try? FileManager.default.attributesOfItem(atPath: destination)[.size] as? Int) ?? 0)
            return s
        } catch {
            unlink(partial)
            if let e = error as? GuardianError { throw e }
            throw GuardianError.io("backup failed: \(error)")
        }
    }

    /// A backup file opened to restore: its files, and every stored result's id and envelope for
    /// the caller to verify. The file is only read.
    public struct Opened {
        public let queue: DatabaseQueue
        public let files: [String: Data]
        public let summary: Summary

        /// Each result's id and exact envelope bytes, in id order, `batch` at a time.
        public func forEachResult(batch: Int = 1000, _ body: (String, Data) throws -> Void) throws {
            var after = ""
            while true {
                let rows = try queue.read { db in
                    try Row.fetchAll(db, sql: "SELECT id, envelope FROM result WHERE id > ? ORDER BY id LIMIT ?", arguments: [after, batch])
                }
                guard !rows.isEmpty else { return }
                for row in rows { try body(row["id"], row["envelope"]) }
                after = rows.last!["id"]
            }
        }
    }

    public static func open(_ file: String) throws -> Opened {
        guard FileManager.default.fileExists(atPath: file) else { throw GuardianError.usage("cannot read \(file)") }
        var c = Configuration()
        c.readonly = true
        let queue: DatabaseQueue
        do { queue = try DatabaseQueue(path: file, configuration: c) } catch {
            throw GuardianError.usage("\(file) is not a Guardian backup (\(error))")
        }
        let (files, check): ([String: Data], String) = try queue.read { db in
            guard try db.tableExists(filesTable), try db.tableExists("result") else {
                throw GuardianError.usage("\(file) is not a Guardian backup (no \(filesTable) table)")
            }
            let check = try String.fetchOne(db, sql: "PRAGMA integrity_check") ?? "no answer"
            var files: [String: Data] = [:]
            for row in try Row.fetchAll(db, sql: "SELECT name, content FROM \(filesTable)") { files[row["name"]] = row["content"] }
            return (files, check)
        }
        guard check == "ok" else { throw GuardianError.usage("\(file) is damaged: integrity check says \(check)") }
        return Opened(queue: queue, files: files, summary: try summary(queue))
    }

    /// Copies the backup's database to `destination` (which must not exist) without its files
    /// table, then syncs it. The node opens it as its store and migrates it if it is older.
    public static func restore(_ opened: Opened, to destination: String) throws {
        guard !FileManager.default.fileExists(atPath: destination) else { throw GuardianError.usage("\(destination) exists") }
        let fd = Glibc.open(destination, O_WRONLY | O_CREAT | O_EXCL, 0o600)
        guard fd >= 0 else { throw GuardianError.io("cannot create \(destination): \(String(cString: strerror(errno)))") }
        close(fd)
        do {
            let to = try DatabaseQueue(path: destination)
            try opened.queue.backup(to: to)
            try to.inDatabase { db in
                try db.execute(sql: "DROP TABLE \(filesTable)")
                try db.execute(sql: "VACUUM")
            }
            try to.close()
            try fsyncFile(destination)
        } catch {
            unlink(destination)
            throw GuardianError.io("restore failed: \(error)")
        }
    }

    static func summary(_ q: DatabaseQueue) throws -> Summary {
        try q.read { db in
            let files = try db.tableExists(filesTable) ? try String.fetchAll(db, sql: "SELECT name FROM \(filesTable) ORDER BY name") : []
            return Summary(results: try Int.fetchOne(db, sql: "SELECT COUNT(*) FROM result") ?? 0,
                           projects: try Int.fetchOne(db, sql: "SELECT COUNT(*) FROM project") ?? 0, files: files, bytes: 0)
        }
    }

    static func fsyncFile(_ path: String) throws {
        let fd = Glibc.open(path, O_RDONLY)
        guard fd >= 0 else { throw GuardianError.io("cannot open \(path) to sync it: \(String(cString: strerror(errno)))") }
        defer { close(fd) }
        guard fsync(fd) == 0 else { throw GuardianError.io("cannot sync \(path): \(String(cString: strerror(errno)))") }
    }
}
