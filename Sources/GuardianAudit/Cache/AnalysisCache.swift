import CSQLite
import Foundation
import GRDB

/// The per-blob analysis cache and the per-commit history cache, in one SQLite file
/// (`<cache-dir>/analysis.sqlite`, WAL). Keys hash the path with the blob id, so the same blob at the
/// same path in another branch, fork or project is analysed once per node. A corrupt or unwritable cache is never fatal:
/// the audit runs without it and says so.
public final class AnalysisCache: Sendable {
    let db: DatabaseQueue
    public let path: String
    public let directory: String

    public init(directory: String) throws {
        self.directory = directory
        try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)
        path = (directory as NSString).appendingPathComponent("analysis.sqlite")
        var config = Configuration()
        config.busyMode = .timeout(10)
        config.prepareDatabase { db in
            // Switching a new file to WAL commits its header through a rollback journal: not
            // synced (four fsyncs), as a power loss at that instant only costs a cache, which
            // audits do without when it does not open.
            try db.execute(sql: "PRAGMA synchronous=OFF")
            try db.execute(sql: "PRAGMA journal_mode=WAL")
            try db.execute(sql: "PRAGMA synchronous=NORMAL") // a cache: losing the tail on power loss is harmless
            // A one-off audit closes its cache as it ends: a checkpoint there (two fsyncs) was a
            // tenth of a cold audit. Commits checkpoint once the log passes 1,000 pages instead.
            _ = guardian_sqlite_no_checkpoint_on_close(db.sqliteConnection)
            // and once a checkpoint has emptied the log, the next write cuts the file back to this
            try db.execute(sql: "PRAGMA journal_size_limit=\(16 << 20)")
        }
        db = try DatabaseQueue(path: path, configuration: config)
        var migrator = DatabaseMigrator()
        migrator.registerMigration("v1") { db in
            try db.execute(sql: """
                CREATE TABLE blob_facts (key BLOB PRIMARY KEY NOT NULL, data BLOB NOT NULL) WITHOUT ROWID;
                CREATE TABLE commit_facts (key BLOB PRIMARY KEY NOT NULL, data BLOB NOT NULL) WITHOUT ROWID;
                """)
        }
        // Facts in a rowid table: a row of up to ~4 KB stays on its leaf page (a WITHOUT ROWID row
        // spills past ~1 KB into overflow pages), rows written by one audit sit together, and the
        // key index is dense. Keys changed with it (they hash the path), so the old rows are dropped.
        migrator.registerMigration("v2 rowid facts, path keys") { db in
            try db.execute(sql: """
                DROP TABLE blob_facts;
                CREATE TABLE blob_facts (id INTEGER PRIMARY KEY, key BLOB NOT NULL UNIQUE, data BLOB NOT NULL);
                """)
        }
        try migrator.migrate(db)
    }

    /// Raw rows of `table` for `keys`, fetched in chunks (SQLite limits bound parameters).
    private func rows(_ table: String, keys: [[UInt8]]) -> [(Data, Data)] {
        guard !keys.isEmpty else { return [] }
        var rows: [(Data, Data)] = []
        rows.reserveCapacity(keys.count)
        try? db.read { db in
            for chunk in stride(from: 0, to: keys.count, by: 500) {
                let part = keys[chunk..<min(keys.count, chunk + 500)].map { Data($0) }
                let marks = Array(repeating: "?", count: part.count).joined(separator: ",")
                let cursor = try Row.fetchCursor(db, sql: "SELECT key, data FROM \(table) WHERE key IN (\(marks))",
                                                 arguments: StatementArguments(part))
                while let row = try cursor.next() { rows.append((row[0], row[1])) }
            }
        }
        return rows
    }

    private func store(_ table: String, _ items: [(key: [UInt8], data: [UInt8])]) {
        guard !items.isEmpty else { return }
        try? db.write { db in
            let st = try db.makeStatement(sql: "INSERT OR REPLACE INTO \(table)(key, data) VALUES (?, ?)")
            for (k, d) in items { try st.execute(arguments: [Data(k), Data(d)]) }
        }
    }

    func blobFacts(keys: [[UInt8]]) -> [Data: FileFacts] {
        AnalysisCache.decode(encodedBlobFacts(keys: keys).map { ($0.0, $0.1[...]) })
    }

    /// The encoded facts stored for `keys`, by key.
    func encodedBlobFacts(keys: [[UInt8]]) -> [(Data, [UInt8])] {
        rows("blob_facts", keys: keys).map { ($0.0, [UInt8]($0.1)) }
    }

    /// Decoded facts by key; an entry that does not decode is left out (analysed again).
    static func decode(_ rows: [(Data, ArraySlice<UInt8>)]) -> [Data: FileFacts] {
        // Decoding dominates; spread it over the cores.
        let decoded = Auditor.parallelMap(rows.count, jobs: ProcessInfo.processInfo.activeProcessorCount) {
            try? FileFacts.decode(Array(rows[$0].1))
        }
        var out: [Data: FileFacts] = [:]
        out.reserveCapacity(rows.count)
        for (k, row) in rows.enumerated() { if let f = decoded[k] ?? nil { out[row.0] = f } }
        return out
    }

    func store(blobFacts: [(key: [UInt8], facts: FileFacts)]) {
        store("blob_facts", blobFacts.map { ($0.key, $0.facts.encoded()) })
    }

    func store(encodedBlobFacts: [(key: [UInt8], data: [UInt8])]) {
        store("blob_facts", encodedBlobFacts)
    }

    func commitFacts(keys: [[UInt8]]) -> [Data: CommitFacts] {
        var out: [Data: CommitFacts] = [:]
        for (key, data) in rows("commit_facts", keys: keys) {
            if let c = try? CommitFacts.decode([UInt8](data)) { out[key] = c }
        }
        return out
    }

    func store(commitFacts: [(key: [UInt8], facts: CommitFacts)]) {
        store("commit_facts", commitFacts.map { ($0.key, $0.facts.encoded()) })
    }
}
