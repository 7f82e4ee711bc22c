import Foundation
import GRDB

/// The store's schema, one migration per change, applied in order when the store opens.
extension Store {
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
        m.registerMigration("v2-registry") { db in
            // Replication (docs/mesh.md): every registry row gets a hybrid-logical-clock stamp, and a
            // deleted row keeps its stamp as a tombstone. Rows from before get stamps from their own
            // times, with an empty node id (below every real node in the tie-break).
            try db.execute(sql: """
                CREATE TABLE registryStamp (
                    kind TEXT NOT NULL,
                    id TEXT NOT NULL,
                    wall INTEGER NOT NULL,
                    logical INTEGER NOT NULL,
                    node TEXT NOT NULL,
                    deleted BOOLEAN NOT NULL,
                    PRIMARY KEY (kind, id)
                ) WITHOUT ROWID;
                INSERT INTO registryStamp SELECT 'project', id, CAST(updatedAt * 1000 AS INTEGER), 0, '', 0 FROM project;
                INSERT INTO registryStamp SELECT 'token', id, CAST(createdAt * 1000 AS INTEGER), 0, '', 0 FROM token;
                INSERT INTO registryStamp SELECT 'team', id, CAST(updatedAt * 1000 AS INTEGER), 0, '', 0 FROM team;
                -- two partitions may each register the same repository: the merge keeps both
                DROP INDEX project_url;
                CREATE INDEX project_url ON project(repositoryUrl, IFNULL(branch, ''));
                """)
        }
        m.registerMigration("v3-append-only-results") { db in
            // Results and findings are appended in insertion order. A result gets an explicit
            // integer key (`seq`); its findings point at that key and are indexed by it, so storing a
            // result touches the end of each b-tree instead of random pages (the result id is a
            // BLAKE2b hash: an index keyed by it puts every insert on a random page, and the old
            // finding indexes by result id and by project did that several times per result). Only
            // the unique index on the result id stays random.
            try db.execute(sql: """
                CREATE TABLE result_v3 (
                    seq INTEGER PRIMARY KEY,
                    id TEXT NOT NULL UNIQUE,
                    projectId TEXT NOT NULL,
                    commitId TEXT,
                    createdAt DOUBLE NOT NULL,
                    signer TEXT NOT NULL,
                    health INTEGER NOT NULL,
                    gatePassed BOOLEAN NOT NULL,
                    envelope BLOB NOT NULL
                );
                INSERT INTO result_v3 (seq, id, projectId, commitId, createdAt, signer, health, gatePassed, envelope)
                    SELECT rowid, id, projectId, commitId, createdAt, signer, health, gatePassed, envelope FROM result ORDER BY rowid;
                CREATE TABLE finding_v3 (
                    resultSeq INTEGER NOT NULL,
                    resultId TEXT NOT NULL,
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
                INSERT INTO finding_v3 SELECT r.seq, f.resultId, f.projectId, f.checkName, f.ruleId, f.severity, f.file, f.line,
                    f.message, f.fingerprint, f.isNew FROM finding f JOIN result_v3 r ON r.id = f.resultId ORDER BY f.rowid;
                DROP TABLE finding;
                DROP TABLE result;
                ALTER TABLE result_v3 RENAME TO result;
                ALTER TABLE finding_v3 RENAME TO finding;
                CREATE INDEX result_project ON result(projectId, createdAt DESC);
                CREATE INDEX finding_result ON finding(resultSeq);
                """)
        }
        m.registerMigration("v4-hints") { db in
            // Hinted handoff (docs/mesh.md): a result an owner missed while it was down, kept until
            // the owner takes it or the hint window passes.
            try db.execute(sql: """
                CREATE TABLE hint (
                    owner TEXT NOT NULL,
                    resultId TEXT NOT NULL,
                    createdAt DOUBLE NOT NULL,
                    PRIMARY KEY (owner, resultId)
                ) WITHOUT ROWID;
                """)
        }
        m.registerMigration("v5-dismissals") { db in
            // Findings dismissed by fingerprint, per project; replicated like projects and teams.
            try db.execute(sql: """
                CREATE TABLE dismissal (
                    id TEXT PRIMARY KEY NOT NULL,
                    projectId TEXT NOT NULL,
                    fingerprint TEXT NOT NULL,
                    ruleId TEXT NOT NULL,
                    reason TEXT NOT NULL,
                    comment TEXT,
                    byToken TEXT,
                    createdAt DOUBLE NOT NULL
                );
                CREATE INDEX dismissal_project ON dismissal(projectId);
                """)
        }
        m.registerMigration("v6-summaries") { db in
            // Each project's latest result as the fleet view shows it (ProjectSummary); replicated to every node.
            try db.execute(sql: """
                CREATE TABLE projectSummary (
                    id TEXT PRIMARY KEY NOT NULL,
                    createdAt DOUBLE NOT NULL,
                    value TEXT NOT NULL
                );
                """)
        }
        m.registerMigration("v7-alerts") { db in
            // Alert channels (a registry kind; the value sealed with the node's secret key, for its URL and
            // secret) and the outbox of alert messages with their delivery state.
            try db.execute(sql: """
                CREATE TABLE channel (
                    id TEXT PRIMARY KEY NOT NULL,
                    team TEXT NOT NULL,
                    sealed BLOB NOT NULL
                );
                CREATE INDEX channel_team ON channel(team);
                CREATE TABLE alertOutbox (
                    id TEXT PRIMARY KEY NOT NULL,
                    projectId TEXT,
                    channel TEXT NOT NULL,
                    resultId TEXT,
                    payload TEXT,
                    createdAt INTEGER NOT NULL,
                    state TEXT NOT NULL,
                    attempts INTEGER NOT NULL DEFAULT 0,
                    nextAttemptAt INTEGER,
                    lastAnswer TEXT,
                    updatedAt INTEGER NOT NULL,
                    finishedBy TEXT,
                    digest TEXT,
                    forwardedAt INTEGER,
                    sharedAt INTEGER
                );
                CREATE INDEX alertOutbox_due ON alertOutbox(state, nextAttemptAt);
                CREATE INDEX alertOutbox_created ON alertOutbox(createdAt);
                CREATE INDEX alertOutbox_project ON alertOutbox(projectId, createdAt);
                CREATE INDEX alertOutbox_unpushed ON alertOutbox(finishedBy) WHERE forwardedAt IS NULL;
                CREATE INDEX alertOutbox_unshared ON alertOutbox(createdAt) WHERE sharedAt IS NULL;
                """)
        }
        m.registerMigration("v8-pull-requests") { db in
            // A pull request's results sit beside the branch's (the statement names the request), out of
            // the project's timeline; a project's code host settings are sealed like its credentials.
            try db.execute(sql: """
                ALTER TABLE result ADD COLUMN pullRequest INTEGER;
                CREATE INDEX result_pullRequest ON result(projectId, pullRequest, createdAt) WHERE pullRequest IS NOT NULL;
                ALTER TABLE project ADD COLUMN codeHost BLOB;
                """)
        }
        m.registerMigration("v9-retention") { db in
            // Results removed by the retention rule: they count as held, so that replication, hints and
            // imports do not bring them back; forgotten after `Store.tombstoneSeconds`.
            try db.execute(sql: """
                CREATE TABLE resultTombstone (
                    id TEXT PRIMARY KEY NOT NULL,
                    projectId TEXT NOT NULL,
                    prunedAt DOUBLE NOT NULL
                ) WITHOUT ROWID;
                CREATE INDEX resultTombstone_prunedAt ON resultTombstone(prunedAt);
                """)
        }
        return m
    }
}
