import MariaDB
import OctoTime

/// Reads and writes the `audit` table (see `Audit`).
public enum AuditStore {
    /// Writes one audit row inside the caller's transaction — the one that
    /// makes the change — stamped with the server's time. A record with no
    /// changes writes nothing: a command that changed nothing left nothing to audit.
    public static func record(_ db: Connection, _ r: Audit.Record) throws {
        precondition(db.inTransaction, "an audit row is written in the transaction of its change")
        guard !r.changes.isEmpty else { return }
        try db.execute(
            """
            INSERT INTO audit (at, actor, action, job_name, run_id, subject, changes) VALUES (NOW(6), ?, ?, ?, ?, ?, ?)
            """,
            [
                .text(String(r.actor.prefix(192))), r.action.sqlValue, r.job.sqlValue, r.run.sqlValue,
                .text(String(r.subject.prefix(128))), .text(try Audit.json(r.changes).text())
            ])
    }

    /// The newest `limit` audit rows since `since` seconds ago (of `job`, if
    /// given — also a job that no longer exists), newest first.
    public static func list(_ db: Connection, job: String?, since: Int64, limit: Int) throws -> [Audit.Entry] {
        var sql =
            "SELECT id, at, actor, action, job_name, run_id, subject, changes FROM audit WHERE at >= NOW(6) - INTERVAL ? SECOND"
        var values: [Value] = [.int(since)]
        if let job {
            sql += " AND job_name = ?"
            values.append(.text(job))
        }
        return try db.query(sql + " ORDER BY id DESC LIMIT ?", values + [.int(Int64(limit))]).rows.map { row in
            let text: String = try row.decode("changes")
            guard let changes = JSON.parse(text) else {
                throw RowDecodingError(column: "changes", expected: "a JSON object", found: String(text.prefix(40)))
            }
            let record = Audit.Record(
                try row.decode("action"), by: try row.decode("actor"), job: try row.decode("job_name"),
                run: try row.decode("run_id"), subject: try row.decode("subject"),
                changes: Audit.changes(from: changes))
            return Audit.Entry(id: try row.decode("id"), at: try row.decode("at"), record: record)
        }
    }

    /// Deletes audit rows older than `retention` seconds, 5000 at a time (at
    /// most 100 batches per call, like run history); returns how many.
    public static func purge(_ db: Connection, retention: Int64) throws -> Int {
        var purged = 0
        for _ in 0..<100 {
            let n = try db.retrying { db in
                try db.execute("DELETE FROM audit WHERE at < NOW(6) - INTERVAL ? SECOND LIMIT 5000", [.int(retention)])
            }
            purged += Int(n)
            if n < 5000 { break }
        }
        return purged
    }
}
