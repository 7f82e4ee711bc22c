import GRDB

extension Store {
    /// Findings by severity over each project's latest result (the `guardian_findings` gauge).
    public func findingCounts() throws -> [String: Int] {
        try read { db in
            var out: [String: Int] = [:]
            let rows = try Row.fetchAll(db, sql: """
                SELECT f.severity, COUNT(*) FROM (SELECT projectId, MAX(createdAt) AS c FROM result WHERE pullRequest IS NULL GROUP BY projectId) l
                JOIN result r ON r.projectId = l.projectId AND r.createdAt = l.c AND r.pullRequest IS NULL
                JOIN finding f ON f.resultSeq = r.seq GROUP BY f.severity
                """)
            for r in rows { out[r[0]] = r[1] }
            return out
        }
    }
}
