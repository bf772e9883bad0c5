import MariaDB
import OctoTime

/// The `alerts` table: recording occurrences merged per (job, kind), and
/// claiming alerts for delivery so that each is delivered by one monitor.
///
/// **Merging.** The first occurrence of a (job, kind) becomes an alert
/// delivered at once and opens a merge window of `alert_merge_window`; later
/// occurrences inside the window are counted into one summary alert (count,
/// first and last line, time span), due when the window closes. Windows are
/// measured in the occurrences' own times (a line's time, a run's end), so
/// 10,000 lines logged in a minute share one window however long the scan
/// that finds them takes. The window
/// and its summary live in `alert_streams`, whose row is locked while
/// recording, so monitors recording at the same moment count into the same
/// alerts.
///
/// **Exactly one alert per occurrence.** Callers record an occurrence in the
/// same transaction that claims its source (`claimSource`: a unique key in
/// `alert_sources`, or a compare-and-set on a marker), so a second monitor
/// finding the same failed run records nothing.
///
/// **Delivery** is claim (token and expiry, compare-and-set), run the alert
/// command, then a fenced `sent`, or a retry after a backoff, or `failed`
/// after `maxAttempts`. A monitor that dies in between leaves the claim to
/// expire; the next monitor delivers the alert (at least once in that case:
/// the command may have run before the crash).
public enum AlertStore {
    /// Delivery attempts before an alert is marked `failed`.
    public static let maxAttempts = 5

    // MARK: - Recording

    /// Claims an occurrence's source (`run:12`); false when another monitor
    /// (or an earlier sweep) already did. Call inside the transaction that records it.
    public static func claimSource(_ db: Connection, _ source: String) throws -> Bool {
        try db.execute("INSERT IGNORE INTO alert_sources (source, created_at) VALUES (?, NOW(6))", [.text(source)]) == 1
    }

    /// Records occurrences (inside the caller's transaction), merged per
    /// (job, kind) with `window` seconds. Returns the ids of alerts created.
    @discardableResult
    public static func record(_ db: Connection, _ occurrences: [Occurrence], window: Int64) throws -> [Int64] {
        var created: [Int64] = []
        guard !occurrences.isEmpty else { return created }
        // a line's own time later than the server's (a machine's clock ahead, a mistyped year) counts as now: it
        // would otherwise open a window that swallows every later occurrence of its kind until that time
        let now = try JobStore.serverNow(db)
        // group by (job, kind); lock the streams in a fixed order (no deadlock between monitors)
        var groups: [String: [Occurrence]] = [:]
        for var o in occurrences {
            o.at = min(o.at, now)
            groups[o.kind.rawValue + "\u{0}" + streamName(o), default: []].append(o)
        }
        for key in groups.keys.sorted() {
            let list = groups[key]!.sorted { $0.at < $1.at }
            let (job, kind) = (streamName(list[0]), list[0].kind)
            try db.execute(
                "INSERT IGNORE INTO alert_streams (job_name, kind) VALUES (?, ?)", [.text(job), .text(kind.rawValue)])
            let stream = try db.query(
                "SELECT window_start, summary_id FROM alert_streams WHERE job_name = ? AND kind = ? FOR UPDATE",
                [.text(job), .text(kind.rawValue)]
            ).first!
            // windows are measured in the occurrences' own times, so how long finding them takes does not split them
            // (a window a future time opened before times were held to now is over)
            var windowStart: Instant? = try stream.decode("window_start", as: Instant?.self).flatMap {
                $0 <= now ? $0 : nil
            }
            var summaryID: Int64? = windowStart == nil ? nil : try stream.decode("summary_id")
            var repeats: [Occurrence] = []  // of the current window, not yet written
            func flushRepeats() throws {
                guard let first = repeats.first, let last = repeats.last, let ws = windowStart else { return }
                // a summary is added to while no monitor is delivering it; once sent (or being sent), the window's
                // later occurrences (a replayed spool, a late scan) get a summary of their own, due now
                if let id = summaryID,
                    try db.execute(
                        """
                        UPDATE alerts SET occurrences = occurrences + ?, last_at = GREATEST(last_at, ?), last_line = ?
                        WHERE id = ? AND state = 'pending' AND (claim_expires_at IS NULL OR claim_expires_at < NOW(6))
                        """, [.int(Int64(repeats.count)), .instant(last.at), .text(clip(last.line)), .int(id)]) == 1
                {
                } else if summaryID != nil {
                    let id = try insert(db, first, count: repeats.count, last: last, summary: true)
                    created.append(id)
                    summaryID = id
                } else {
                    let id = try insert(
                        db, first, count: repeats.count, last: last, summary: true, dueAt: ws + .seconds(window))
                    created.append(id)
                    summaryID = id
                }
                repeats.removeAll()
            }
            for o in list {
                if let ws = windowStart, o.at < ws + .seconds(window) {
                    repeats.append(o)
                } else {
                    try flushRepeats()
                    created.append(try insert(db, o, count: 1, last: o, summary: false))
                    windowStart = o.at
                    summaryID = nil
                }
            }
            try flushRepeats()
            try db.execute(
                "UPDATE alert_streams SET window_start = ?, summary_id = ? WHERE job_name = ? AND kind = ?",
                [
                    windowStart.sqlValue, summaryID.sqlValue, .text(job),
                    .text(kind.rawValue)
                ])
        }
        return created
    }

    /// What an occurrence is merged under: its job, or `@machine` for a machine's own alerts.
    static func streamName(_ o: Occurrence) -> String { o.job.isEmpty ? "@" + (o.machine ?? "") : o.job }

    private static func insert(
        _ db: Connection, _ o: Occurrence, count: Int, last: Occurrence, summary: Bool,
        dueAt: Instant? = nil
    ) throws -> Int64 {
        let due: Value = dueAt.sqlValue
        let r = try db.query(
            """
            INSERT INTO alerts (kind, job_name, run_id, machine, first_at, last_at, occurrences, summary, first_line, last_line,
                                state, next_attempt_at)
            VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, 'pending', COALESCE(?, NOW(6)))
            """,
            [
                .text(o.kind.rawValue), .text(o.job), o.runID.sqlValue,
                o.machine.sqlValue,
                .instant(o.at), .instant(max(o.at, last.at)), .int(Int64(count)), .int(summary ? 1 : 0),
                .text(clip(o.line)), .text(clip(last.line)), due
            ])
        return Int64(r.lastInsertID)
    }

    /// `IN (?, …)` placeholders and bound values for the failure kinds.
    static let failureKinds = (
        sql: AlertKind.failures.map { _ in "?" }.joined(separator: ", "),
        values: AlertKind.failures.map { Value.text($0.rawValue) }
    )

    /// Lines are kept to 2,000 characters in an alert.
    static func clip(_ s: String) -> String { s.count > 2000 ? String(s.prefix(2000)) + "…" : s }

    /// If `job` has failure alerts not yet answered and a success happened
    /// after the last of them (`succeededAt`), marks them recovered and
    /// records one `recovered` alert. Inside the caller's transaction;
    /// returns whether it did (another monitor may have been first).
    public static func recover(
        _ db: Connection, job: String, succeededAt: Instant, runID: Int64?, machine: String?, line: String
    ) throws -> Bool {
        // a summary still waiting for its window's end goes out now, before the notice of the recovery (a lower
        // id: delivered first); the next failure after the recovery is a first alert again, not merged into it
        let n = try db.execute(
            """
            UPDATE alerts SET recovered = 1, next_attempt_at = IF(state = 'pending', LEAST(next_attempt_at, NOW(6)), next_attempt_at)
            WHERE job_name = ? AND recovered = 0 AND kind IN (\(failureKinds.sql)) AND last_at < ?
            """,
            [.text(job)] + failureKinds.values + [.instant(succeededAt)])
        guard n > 0 else { return false }
        try db.execute(
            "UPDATE alert_streams SET window_start = NULL, summary_id = NULL WHERE job_name = ? AND kind IN (\(failureKinds.sql))",
            [.text(job)] + failureKinds.values)
        _ = try insert(
            db, Occurrence(.recovered, job: job, runID: runID, machine: machine, at: succeededAt, line: line),
            count: 1, last: Occurrence(.recovered, job: job, at: succeededAt, line: line), summary: false)
        return true
    }

    /// Jobs with failure alerts no success has answered yet, and the time of the latest.
    public static func unrecovered(_ db: Connection) throws -> [(job: String, lastFailure: Instant)] {
        return try db.query(
            """
            SELECT job_name, MAX(last_at) AS last_failure FROM alerts
            WHERE recovered = 0 AND kind IN (\(failureKinds.sql)) AND job_name <> '' GROUP BY job_name
            """, failureKinds.values
        ).rows.map { (try $0.decode("job_name"), try $0.decode("last_failure")) }
    }

    // MARK: - Delivery

    /// A claimed alert: deliver it, then `delivered` or `attemptFailed` with the token.
    public struct Claim: Sendable {
        public let alert: Alert
        public let token: String
    }

    /// Alerts waiting for delivery.
    public static func pendingCount(_ db: Connection) throws -> Int {
        try db.query("SELECT COUNT(*) AS n FROM alerts WHERE state = 'pending'").first!.decode("n")
    }

    /// Claims the first due alert no other monitor holds, for `seconds` (one delivery), in the order alerts
    /// were recorded (a first alert before its summary, even when both are due); nil when none is left.
    public static func claimNext(_ db: Connection, seconds: Int64) throws -> Claim? {
        let ids: [Int64] = try db.query(
            """
            SELECT id FROM alerts WHERE state = 'pending' AND next_attempt_at <= NOW(6)
              AND (claim_expires_at IS NULL OR claim_expires_at < NOW(6))
            ORDER BY id LIMIT 20
            """
        ).rows.map { try $0.decode("id") }
        for id in ids {
            let token = RunQueue.newToken()
            let n = try db.execute(
                """
                UPDATE alerts SET claim_token = ?, claim_expires_at = NOW(6) + INTERVAL ? SECOND, attempts = attempts + 1
                WHERE id = ? AND state = 'pending' AND next_attempt_at <= NOW(6)
                  AND (claim_expires_at IS NULL OR claim_expires_at < NOW(6))
                """, [.text(token), .int(seconds), .int(id)])
            // else another monitor was first
            if n == 1, let a = try get(db, id) { return Claim(alert: a, token: token) }
        }
        return nil
    }

    /// The alert command succeeded. False if the claim was no longer ours (it expired and another monitor took it).
    @discardableResult
    public static func delivered(_ db: Connection, _ c: Claim) throws -> Bool {
        try db.execute(
            """
            UPDATE alerts SET state = 'sent', sent_at = NOW(6), claim_token = NULL, claim_expires_at = NULL, last_error = ''
            WHERE id = ? AND claim_token = ?
            """, [.int(c.alert.id), .text(c.token)]) == 1
    }

    /// The alert command failed: retried after 30 s · 2^(attempt−1) (at most an hour), or `failed` after `maxAttempts`.
    @discardableResult
    public static func attemptFailed(_ db: Connection, _ c: Claim, error: String, backoffBase: Int64 = 30) throws
        -> Bool
    {
        try db.execute(
            """
            UPDATE alerts SET claim_token = NULL, claim_expires_at = NULL, last_error = ?,
              state = IF(attempts >= ?, 'failed', 'pending'),
              next_attempt_at = NOW(6) + INTERVAL LEAST(3600, ? * POW(2, attempts - 1)) SECOND
            WHERE id = ? AND claim_token = ?
            """,
            [
                .text(String(error.prefix(1000))), .int(Int64(maxAttempts)), .int(backoffBase), .int(c.alert.id),
                .text(c.token)
            ]) == 1
    }

    // MARK: - Reading, acknowledging

    public static func get(_ db: Connection, _ id: Int64) throws -> Alert? {
        try db.query("SELECT \(AlertStore.alertColumns) FROM alerts WHERE id = ?", [.int(id)]).first.map(
            AlertStore.alert(from:))
    }

    /// Open alerts (as `list(open: true)` means it) by kind, for the metrics.
    public static func openCounts(_ db: Connection) throws -> [AlertKind: Int64] {
        var counts: [AlertKind: Int64] = [:]
        for row in try db.query(
            "SELECT kind, COUNT(*) AS n FROM alerts WHERE \(openCondition) GROUP BY kind", failureKinds.values
        ).rows {
            counts[try row.decode("kind")] = try row.decode("n")
        }
        return counts
    }

    /// Not acked, and not delivered yet, delivery failed, or a failure no success has answered.
    static let openCondition =
        "state <> 'acked' AND (state IN ('pending', 'failed') OR (recovered = 0 AND kind IN (\(failureKinds.sql))))"

    /// Newest first. `open`: not delivered yet, delivery failed, or a failure no success has answered (and not acked).
    public static func list(_ db: Connection, job: String?, open: Bool, limit: Int) throws -> [Alert] {
        var conditions: [String] = []
        var values: [Value] = []
        if let job {
            conditions.append("job_name = ?")
            values.append(.text(job))
        }
        if open {
            conditions.append(openCondition)
            values += failureKinds.values
        }
        let whereSQL = conditions.isEmpty ? "" : "WHERE " + conditions.joined(separator: " AND ")
        return try db.query(
            "SELECT \(AlertStore.alertColumns) FROM alerts \(whereSQL) ORDER BY id DESC LIMIT ?",
            values + [.int(Int64(limit))]
        )
        .rows.map(AlertStore.alert(from:))
    }

    /// Closes an alert by hand: it is not delivered (again) and no longer
    /// open. Writes the `alerts ack` audit row in the same transaction.
    /// False if there is no such alert.
    public static func ack(_ db: Connection, _ id: Int64, by who: String) throws -> Bool {
        try db.retrying { db in
            try db.transaction {
                guard
                    let a = try db.query("SELECT \(alertColumns) FROM alerts WHERE id = ? FOR UPDATE", [.int(id)]).first
                        .map(alert(from:))
                else { return false }
                try db.execute(
                    "UPDATE alerts SET state = 'acked', recovered = 1, claim_token = NULL WHERE id = ?", [.int(id)])
                guard a.state != .acked else { return true }
                try AuditStore.record(
                    db,
                    Audit.Record(
                        .ack, by: who, job: a.job.isEmpty ? nil : a.job, run: a.runID, subject: "alert \(id)",
                        changes: [Audit.Change("state", .string(a.state.rawValue), .string(Alert.State.acked.rawValue))]
                    ))
                return true
            }
        }
    }
}
