import Foundation
import GRDB
import GuardianCore

/// The node's SQLite store (GRDB, WAL). A write is acknowledged only after a durable commit:
/// `synchronous=FULL` is set explicitly because GRDB's pool defaults to NORMAL.
public final class Store: Sendable {
    let db: DatabasePool
    public let path: String

    public init(path: String) throws {
        self.path = path
        var config = Configuration()
        config.busyMode = .timeout(10)
        config.prepareDatabase { db in
            try db.execute(sql: "PRAGMA synchronous=FULL")
            try db.execute(sql: "PRAGMA foreign_keys=ON")
        }
        do {
            db = try DatabasePool(path: path, configuration: config)
            try Store.migrator.migrate(db)
        } catch {
            throw GuardianError.io("cannot open the store at \(path): \(error)")
        }
    }

    static var migrator: DatabaseMigrator {
        var m = DatabaseMigrator()
        m.registerMigration("v1") { db in
            try db.execute(sql: """
                CREATE TABLE project (
                    id TEXT PRIMARY KEY NOT NULL,
                    name TEXT NOT NULL,
                    repositoryUrl TEXT NOT NULL,
                    team TEXT NOT NULL,
                    branch TEXT,
                    scheduleSeconds INTEGER NOT NULL,
                    profile TEXT NOT NULL,
                    webhookSecret BLOB,
                    credentials BLOB,
                    createdAt DOUBLE NOT NULL,
                    updatedAt DOUBLE NOT NULL,
                    lastAuditAt DOUBLE,
                    nextAuditAt DOUBLE
                );
                CREATE UNIQUE INDEX project_url ON project(repositoryUrl, IFNULL(branch, ''));
                CREATE TABLE result (
                    id TEXT PRIMARY KEY NOT NULL,
                    projectId TEXT NOT NULL,
                    commitId TEXT,
                    createdAt DOUBLE NOT NULL,
                    signer TEXT NOT NULL,
                    health INTEGER NOT NULL,
                    gatePassed BOOLEAN NOT NULL,
                    envelope BLOB NOT NULL
                );
                CREATE INDEX result_project ON result(projectId, createdAt DESC);
                CREATE TABLE finding (
                    resultId TEXT NOT NULL REFERENCES result(id) ON DELETE CASCADE,
                    projectId TEXT NOT NULL,
                    checkName TEXT NOT NULL,
                    ruleId TEXT NOT NULL,
                    severity TEXT NOT NULL,
                    file TEXT,
                    line INTEGER,
                    message TEXT NOT NULL,
                    fingerprint TEXT NOT NULL,
                    isNew BOOLEAN NOT NULL
                );
                CREATE INDEX finding_result ON finding(resultId);
                CREATE INDEX finding_project ON finding(projectId, checkName, severity);
                CREATE TABLE token (
                    id TEXT PRIMARY KEY NOT NULL,
                    hash BLOB NOT NULL UNIQUE,
                    role TEXT NOT NULL,
                    team TEXT,
                    name TEXT NOT NULL,
                    createdAt DOUBLE NOT NULL
                );
                CREATE TABLE team (
                    id TEXT PRIMARY KEY NOT NULL,
                    profile TEXT NOT NULL,
                    updatedAt DOUBLE NOT NULL
                );
                CREATE TABLE delivery (
                    id TEXT PRIMARY KEY NOT NULL,
                    projectId TEXT,
                    receivedAt DOUBLE NOT NULL
                );
                CREATE TABLE repositoryEvent (
                    id TEXT PRIMARY KEY NOT NULL,
                    projectId TEXT NOT NULL,
                    kind TEXT NOT NULL,
                    ref TEXT NOT NULL,
                    actor TEXT,
                    createdAt DOUBLE NOT NULL
                );
                """)
        }
        return m
    }

    func write<T>(_ body: (Database) throws -> T) throws -> T {
        do { return try db.write(body) } catch let e as GuardianError { throw e } catch let e as DatabaseError {
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
