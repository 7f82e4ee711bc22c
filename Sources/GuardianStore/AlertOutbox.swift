import Foundation
import GRDB
import GuardianMesh

/// One alert message in a node's outbox (docs/alerts.md): the events one result raised for one
/// channel, with its delivery state. Every owner of the project writes the same row, with the same
/// id, in the transaction that stores the result; the sender's final record (sent or dead) reaches
/// the other owners, which then never send it.
public struct AlertOutboxRow: Codable, Sendable, Equatable, FetchableRecord, PersistableRecord {
    public static let databaseTableName = "alertOutbox"
    /// The delivery id (`OutboxEntry.deliveryID`), the receiver's key for dropping a repeat.
    public var id: String
    public var projectId: String?
    /// The channel's id, `TEAM.NAME`.
    public var channel: String
    public var resultId: String?
    /// What the message says, as JSON (`AlertPayload` in GuardianNode); nil in a final record that
    /// reached this node before the result that raised it.
    public var payload: String?
    /// Milliseconds since 1970, as `OutboxEntry` counts.
    public var createdAt: Int64
    public var state: String
    public var attempts: Int
    public var nextAttemptAt: Int64?
    /// The receiver's last answer ("HTTP 429", "250 OK", "connection refused").
    public var lastAnswer: String?
    public var updatedAt: Int64
    /// The node that recorded the final state.
    public var finishedBy: String?
    /// A held event's digest period (`DigestPeriod`); its `nextAttemptAt` is the period's end.
    public var digest: String?
    /// When a held event reached the channel's owners, or this node's final record reached the
    /// project's other owners (nil: not yet).
    public var forwardedAt: Int64?
    /// When a row raised here reached every other owner (nil: not yet). Owners do not raise rows
    /// from the results they receive: the node that stored a result first shares its rows, so that
    /// every owner holds the same ones whatever order the results arrive in.
    public var sharedAt: Int64?

    public init(id: String, projectId: String?, channel: String, resultId: String?, payload: String?, createdAt: Int64,
                state: DeliveryState = .queued, attempts: Int = 0, nextAttemptAt: Int64? = nil, lastAnswer: String? = nil,
                updatedAt: Int64, finishedBy: String? = nil, digest: String? = nil, forwardedAt: Int64? = nil) {
        self.id = id; self.projectId = projectId; self.channel = channel; self.resultId = resultId; self.payload = payload
        self.createdAt = createdAt; self.state = state.rawValue; self.attempts = attempts; self.nextAttemptAt = nextAttemptAt
        self.lastAnswer = lastAnswer; self.updatedAt = updatedAt; self.finishedBy = finishedBy; self.digest = digest; self.forwardedAt = forwardedAt
    }

    /// Writes rows raised here: a row already here is kept, except that one holding only another
    /// owner's final record (it arrived before the result) gets its message, and keeps its state.
    static func write(_ rows: [AlertOutboxRow], _ db: Database) throws {
        for r in rows {
            try db.execute(sql: """
                INSERT INTO alertOutbox (id, projectId, channel, resultId, payload, createdAt, state, attempts, nextAttemptAt, lastAnswer, updatedAt,
                                         finishedBy, digest, forwardedAt, sharedAt)
                VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)
                ON CONFLICT(id) DO UPDATE SET projectId = excluded.projectId, resultId = excluded.resultId, payload = excluded.payload,
                    createdAt = excluded.createdAt, digest = excluded.digest
                WHERE alertOutbox.payload IS NULL
                """, arguments: [r.id, r.projectId, r.channel, r.resultId, r.payload, r.createdAt, r.state, r.attempts, r.nextAttemptAt,
                                 r.lastAnswer, r.updatedAt, r.finishedBy, r.digest, r.forwardedAt, r.sharedAt])
        }
    }

    /// Holds the row for its channel's digest: due at the end of the period its time falls in.
    public mutating func hold(for period: DigestPeriod) {
        state = DeliveryState.held.rawValue
        digest = period.rawValue
        nextAttemptAt = period.start(containing: createdAt) + period.length
    }

    public var deliveryState: DeliveryState { DeliveryState(rawValue: state) ?? .queued }

    /// The pure core's view of the row.
    public var entry: OutboxEntry {
        var e = OutboxEntry(deliveryID: id, channel: channel, createdAt: createdAt)
        e.state = deliveryState
        e.attempts = attempts
        e.nextAttemptAt = nextAttemptAt
        e.lastAnswer = lastAnswer
        return e
    }

    /// The row after `entry` (an attempt's outcome) at `now`.
    public func with(_ e: OutboxEntry, now: Int64, by node: String) -> AlertOutboxRow {
        var r = self
        r.state = e.state.rawValue
        r.attempts = e.attempts
        r.nextAttemptAt = e.nextAttemptAt
        r.lastAnswer = e.lastAnswer.map { String($0.prefix(500)) }
        r.updatedAt = now
        if e.isFinished { r.finishedBy = node }
        return r
    }
}

/// A final delivery state as one owner tells the others: enough to stop them sending, and to show
/// the history on every owner.
public struct AlertFinalRecord: Codable, Sendable, Equatable {
    public var id: String
    public var projectId: String?
    public var channel: String
    public var state: String
    public var attempts: Int
    public var lastAnswer: String?
    public var updatedAt: Int64
    public var finishedBy: String?

    public init(_ row: AlertOutboxRow) {
        id = row.id; projectId = row.projectId; channel = row.channel; state = row.state; attempts = row.attempts
        lastAnswer = row.lastAnswer; updatedAt = row.updatedAt; finishedBy = row.finishedBy
    }
}

extension Store {
    /// Rows raised by no result (a failed audit, a test): each written once by its id.
    public func insert(alerts rows: [AlertOutboxRow]) throws {
        try write { db in try AlertOutboxRow.write(rows, db) }
    }

    /// Entries this node may have to send: not final, due by `now`, oldest first, at most
    /// `perChannel` of each channel (one channel's backlog does not hide the others').
    public func dueAlerts(now: Int64, perChannel: Int = 1_000_000, limit: Int) throws -> [AlertOutboxRow] {
        try read { db in
            try AlertOutboxRow.fetchAll(db, sql: """
                SELECT * FROM (
                    SELECT *, ROW_NUMBER() OVER (PARTITION BY channel ORDER BY createdAt, id) AS position FROM alertOutbox
                    WHERE state IN ('queued', 'retrying') AND payload IS NOT NULL AND IFNULL(nextAttemptAt, 0) <= ?)
                WHERE position <= ? ORDER BY createdAt, id LIMIT ?
                """, arguments: [now, perChannel, limit])
        }
    }

    /// The earliest time an unfinished entry falls due (nil: nothing waits).
    public func nextAlertDue() throws -> Int64? {
        try read { db in
            try Int64.fetchOne(db, sql: "SELECT MIN(IFNULL(nextAttemptAt, 0)) FROM alertOutbox WHERE state IN ('queued', 'retrying') AND payload IS NOT NULL")
        }
    }

    /// Records an attempt's outcome. A final state already recorded (by another owner) is kept.
    public func update(alert row: AlertOutboxRow) throws {
        try write { db in
            try db.execute(sql: """
                UPDATE alertOutbox SET state = ?, attempts = ?, nextAttemptAt = ?, lastAnswer = ?, updatedAt = ?, finishedBy = ?
                WHERE id = ? AND state NOT IN ('sent', 'dead')
                """, arguments: [row.state, row.attempts, row.nextAttemptAt, row.lastAnswer, row.updatedAt, row.finishedBy, row.id])
        }
    }

    /// Final records from another owner: they finish the entries here (a final state is never
    /// undone), and one for an entry not yet written here waits for it as a row without a payload.
    /// Returns how many changed something.
    @discardableResult
    public func apply(finals: [AlertFinalRecord]) throws -> Int {
        try write { db in
            var changed = 0
            let now = Int64(Date().timeIntervalSince1970 * 1000)
            for f in finals where (f.state == DeliveryState.sent.rawValue || f.state == DeliveryState.dead.rawValue)
                && abs(f.updatedAt - now) <= 8 * 86_400_000 && f.id.utf8.count <= 200 {
                try db.execute(sql: """
                    INSERT INTO alertOutbox (id, projectId, channel, resultId, payload, createdAt, state, attempts, nextAttemptAt, lastAnswer, updatedAt, finishedBy)
                    VALUES (?, ?, ?, NULL, NULL, ?, ?, ?, NULL, ?, ?, ?)
                    ON CONFLICT(id) DO UPDATE SET state = excluded.state, attempts = MAX(alertOutbox.attempts, excluded.attempts),
                        nextAttemptAt = NULL, lastAnswer = excluded.lastAnswer, updatedAt = excluded.updatedAt, finishedBy = excluded.finishedBy
                    WHERE alertOutbox.state NOT IN ('sent', 'dead')
                    """, arguments: [f.id, f.projectId, String(f.channel.prefix(300)), f.updatedAt, f.state, min(max(0, f.attempts), 1_000),
                                     f.lastAnswer.map { String($0.prefix(500)) }, f.updatedAt, f.finishedBy.map { String($0.prefix(200)) }])
                changed += db.changesCount
            }
            return changed
        }
    }

    /// Rows raised here that have not reached every other owner yet (newer than `since`).
    public func unsharedAlerts(since: Int64, limit: Int) throws -> [AlertOutboxRow] {
        try read { db in
            try AlertOutboxRow.fetchAll(db, sql: "SELECT * FROM alertOutbox WHERE sharedAt IS NULL AND createdAt >= ? AND payload IS NOT NULL ORDER BY createdAt LIMIT ?",
                                        arguments: [since, limit])
        }
    }

    public func markShared(_ ids: [String], at time: Int64) throws {
        try write { db in
            for id in ids { try db.execute(sql: "UPDATE alertOutbox SET sharedAt = ? WHERE id = ? AND sharedAt IS NULL", arguments: [time, id]) }
        }
    }

    /// Held events this node has not forwarded to their channel's owners yet.
    public func unforwardedHeld(limit: Int) throws -> [AlertOutboxRow] {
        try read { db in
            try AlertOutboxRow.fetchAll(db, sql: "SELECT * FROM alertOutbox WHERE state = 'held' AND forwardedAt IS NULL ORDER BY createdAt, id LIMIT ?",
                                        arguments: [limit])
        }
    }

    public func markForwarded(_ ids: [String], at time: Int64) throws {
        try write { db in
            for id in ids { try db.execute(sql: "UPDATE alertOutbox SET forwardedAt = ? WHERE id = ? AND forwardedAt IS NULL", arguments: [time, id]) }
        }
    }

    /// Final records this node made that have not reached every other owner yet (newer than `since`).
    public func unpushedFinals(by node: String, since: Int64, limit: Int) throws -> [AlertOutboxRow] {
        try read { db in
            try AlertOutboxRow.fetchAll(db, sql: """
                SELECT * FROM alertOutbox WHERE finishedBy = ? AND forwardedAt IS NULL AND state IN ('sent', 'dead') AND updatedAt >= ?
                ORDER BY updatedAt LIMIT ?
                """, arguments: [node, since, limit])
        }
    }

    /// Forgets finished messages and digested events older than `before` (the history's length).
    @discardableResult
    public func pruneAlerts(before: Int64) throws -> Int {
        try write { db in
            try db.execute(sql: "DELETE FROM alertOutbox WHERE createdAt < ? AND state IN ('sent', 'dead', 'expired', 'digested')", arguments: [before])
            return db.changesCount
        }
    }

    /// Held events whose period ended by `before`, oldest first.
    public func heldDue(before: Int64, limit: Int) throws -> [AlertOutboxRow] {
        try read { db in
            try AlertOutboxRow.fetchAll(db, sql: "SELECT * FROM alertOutbox WHERE state = 'held' AND nextAttemptAt <= ? ORDER BY nextAttemptAt, createdAt, id LIMIT ?",
                                        arguments: [before, limit])
        }
    }

    /// Writes a channel's digest and marks the events in it digested, in one transaction; events
    /// whose digest was already written (they arrived late) move to the next period instead.
    /// Returns whether the digest is new here.
    @discardableResult
    public func digest(_ row: AlertOutboxRow, items: [String], late: [(id: String, nextEnd: Int64)], now: Int64) throws -> Bool {
        try write { db in
            // a row without its message is another owner's final record of this digest: it gets the message
            let exists = try Bool.fetchOne(db, sql: "SELECT 1 FROM alertOutbox WHERE id = ? AND payload IS NOT NULL", arguments: [row.id]) ?? false
            if !exists { try AlertOutboxRow.write([row], db) }
            for id in items {
                try db.execute(sql: "UPDATE alertOutbox SET state = 'digested', lastAnswer = ?, updatedAt = ? WHERE id = ? AND state = 'held'",
                               arguments: ["in \(row.id)", now, id])
            }
            for l in late {
                try db.execute(sql: "UPDATE alertOutbox SET nextAttemptAt = ?, updatedAt = ? WHERE id = ? AND state = 'held'", arguments: [l.nextEnd, now, l.id])
            }
            return !exists
        }
    }

    /// Held events this node does not send a digest for, once their period is over: they went to the
    /// channel's owners, which do.
    public func markDigested(_ ids: [String], answer: String, now: Int64) throws {
        try finish(ids, as: .digested, from: [.held], answer: answer, now: now)
    }

    /// Rows this node holds but will never send or forward (it is none of their owners): finished
    /// here once they reached their owners.
    public func handOff(_ ids: [String], answer: String, now: Int64) throws {
        try finish(ids, as: .expired, from: [.queued, .retrying, .held], answer: answer, now: now)
    }

    func finish(_ ids: [String], as state: DeliveryState, from states: [DeliveryState], answer: String, now: Int64) throws {
        let from = states.map { "'\($0.rawValue)'" }.joined(separator: ", ")
        try write { db in
            for id in ids {
                try db.execute(sql: "UPDATE alertOutbox SET state = ?, lastAnswer = ?, updatedAt = ? WHERE id = ? AND state IN (\(from))",
                               arguments: [state.rawValue, answer, now, id])
            }
        }
    }

    /// Whether a row (a digest) is here with its message (not only another owner's final record of it).
    public func hasAlert(id: String) throws -> Bool {
        try read { db in try Bool.fetchOne(db, sql: "SELECT 1 FROM alertOutbox WHERE id = ? AND payload IS NOT NULL", arguments: [id]) ?? false }
    }

    /// Whether an owner's final record for the entry is here.
    public func alertFinished(id: String) throws -> Bool {
        try read { db in try Bool.fetchOne(db, sql: "SELECT state IN ('sent', 'dead', 'digested') FROM alertOutbox WHERE id = ?", arguments: [id]) ?? false }
    }

    /// The history, newest first: entries with a payload (those raised here), filtered.
    public func alerts(project: String? = nil, channels: [String]? = nil, state: String? = nil, before: Int64? = nil, limit: Int) throws -> [AlertOutboxRow] {
        try read { db in
            var clauses = ["payload IS NOT NULL"]
            var args: [(any DatabaseValueConvertible)?] = []
            if let project { clauses.append("projectId = ?"); args.append(project) }
            if let channels {
                guard !channels.isEmpty else { return [] }
                clauses.append("channel IN (\(channels.map { _ in "?" }.joined(separator: ", ")))")
                args += channels.map { $0 as (any DatabaseValueConvertible)? }
            }
            if let state { clauses.append("state = ?"); args.append(state) }
            if let before { clauses.append("createdAt < ?"); args.append(before) }
            args.append(limit)
            return try AlertOutboxRow.fetchAll(db, sql: "SELECT * FROM alertOutbox WHERE \(clauses.joined(separator: " AND ")) ORDER BY createdAt DESC, id LIMIT ?",
                                               arguments: StatementArguments(args))
        }
    }

    /// The project's latest write-back to its code host (`PullRequestReport.channel`), any state.
    public func latestCodeHostWrite(project: String) throws -> AlertOutboxRow? {
        try read { db in
            try AlertOutboxRow.fetchOne(db, sql: """
                SELECT * FROM alertOutbox WHERE projectId = ? AND payload IS NOT NULL AND channel LIKE '%.@pr%' ORDER BY createdAt DESC, id LIMIT 1
                """, arguments: [project])
        }
    }

    public func alert(id: String) throws -> AlertOutboxRow? { try read { try AlertOutboxRow.fetchOne($0, key: id) } }

    /// Unfinished and dead entries, for the metrics.
    public func alertCounts() throws -> [String: Int] {
        try read { db in
            var out: [String: Int] = [:]
            for row in try Row.fetchAll(db, sql: "SELECT state, COUNT(*) FROM alertOutbox GROUP BY state") { out[row[0]] = row[1] }
            return out
        }
    }
}
