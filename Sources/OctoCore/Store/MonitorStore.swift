import MariaDB
import OctoTime

/// The monitor's reads and writes: its markers, the wait for `120 end`
/// lines (`open_starts`), what it looks for in runs, jobs, the queue and
/// machines, and the purge of old history. Alerts themselves are
/// `AlertStore`'s.
public enum MonitorStore {
    // MARK: - Markers

    /// Locks the marker `name` and returns it with the server's now; the row
    /// is created (`value` 0, `updated_at` now) only when missing: an INSERT
    /// IGNORE of an existing row takes a shared lock, and two monitors
    /// upgrading theirs to FOR UPDATE deadlock every time. Inside the caller's transaction.
    static func lockMarker(_ db: Connection, _ name: String) throws -> (value: Int64, updatedAt: Instant, now: Instant)
    {
        let select = "SELECT value, updated_at, NOW(6) AS now FROM markers WHERE name = ? FOR UPDATE"
        var found = try db.query(select, [.text(name)]).first
        if found == nil {
            try db.execute("INSERT IGNORE INTO markers (name, value, updated_at) VALUES (?, 0, NOW(6))", [.text(name)])
            found = try db.query(select, [.text(name)]).first
        }
        guard let row = found else { throw OctoError.failure("the monitor's marker '\(name)' cannot be created") }
        return (try row.decode("value"), try row.decode("updated_at"), try row.decode("now"))
    }

    /// The fleet's sweep lease: true when no monitor of any machine began a sweep within the last `seconds`,
    /// and then this sweep's start is recorded (marker `monitor_sweep`: `value` counts the sweeps, `updated_at`
    /// is the last one's start, by the server's clock). One conditional UPDATE: of monitors that start together,
    /// the first takes the row lock and the others, once it commits, find the lease taken. Nothing depends on it
    /// for correctness — every step of a sweep is safe with several at once —, it only keeps a fleet from doing
    /// the fleet-wide work once per machine.
    public static func takeSweepLease(_ db: Connection, seconds: Double) throws -> Bool {
        try db.retrying { db in
            let taken = try db.execute(
                """
                UPDATE markers SET value = value + 1, updated_at = NOW(6)
                WHERE name = 'monitor_sweep' AND updated_at <= NOW(6) - INTERVAL ? MICROSECOND
                """, [.int(Int64(seconds * 1_000_000))])
            if taken == 1 { return true }
            return try db.execute(
                "INSERT IGNORE INTO markers (name, value, updated_at) VALUES ('monitor_sweep', 1, NOW(6))") == 1
        }
    }

    /// Seconds since the last sweep began (nil before the first).
    public static func lastSweepAge(_ db: Connection) throws -> Double? { try markerAge(db, "monitor_sweep") }

    /// Seconds since the marker `name` last moved, by the server's clock (nil when it does not exist).
    static func markerAge(_ db: Connection, _ name: String) throws -> Double? {
        try db.query(
            "SELECT TIMESTAMPDIFF(MICROSECOND, updated_at, NOW(6)) / 1e6 AS age FROM markers WHERE name = ?",
            [.text(name)]
        ).first.map { try $0.decode("age") }
    }

    /// The start of the window of runs to check for failures: the previous
    /// sweep's start (now on the first sweep) less `lookBack` seconds; moves
    /// the marker `runs_checked` to now.
    public static func runsCheckedSince(_ db: Connection, lookBack: Int64) throws -> Instant {
        try db.retrying { db in
            try db.transaction {
                let m = try lockMarker(db, "runs_checked")
                try db.execute(
                    "UPDATE markers SET value = 1, updated_at = GREATEST(updated_at, NOW(6)) WHERE name = 'runs_checked'"
                )
                return (m.value == 0 ? m.now : m.updatedAt) - .seconds(lookBack)
            }
        }
    }

    // MARK: - Runs

    /// Runs that ended `failed`, `timeout` or `lost` since `since`, oldest end first.
    public static func failedRuns(_ db: Connection, endedSince since: Instant) throws -> [Run] {
        try db.query(
            RunQueue.selectRuns + " WHERE ended_at >= ? AND state IN ('failed', 'timeout', 'lost') ORDER BY ended_at",
            [.instant(since)]
        ).rows.map(RunQueue.run(from:))
    }

    /// Runs still running longer than their job's `warn_after` and not alerted yet (jobs without one are not
    /// looked at; an alerted run's source `slow:ID` is recorded, so the next 1000 are always new ones).
    public static func slowRuns(_ db: Connection) throws -> [(
        runID: Int64, job: String, machine: String?, startedAt: Instant, warnAfter: Int64
    )] {
        try db.query(
            """
            SELECT r.id, r.job_name, r.machine, r.started_at, j.warn_after_s FROM jobs j
            JOIN runs r ON r.job_id = j.id AND r.state = 'running'
            WHERE j.warn_after_s > 0 AND r.started_at < NOW(6) - INTERVAL j.warn_after_s SECOND
              AND NOT EXISTS (SELECT 1 FROM alert_sources s WHERE s.source = CONCAT('slow:', r.id))
            ORDER BY r.started_at LIMIT 1000
            """
        ).rows.map {
            (
                try $0.decode("id"), try $0.decode("job_name"), try $0.decode("machine"), try $0.decode("started_at"),
                try $0.decode("warn_after_s")
            )
        }
    }

    /// The first success of `job` that ended after `after`.
    public static func firstSuccess(_ db: Connection, job: String, after: Instant) throws -> (
        id: Int64, machine: String?, endedAt: Instant
    )? {
        try db.query(
            """
            SELECT id, machine, ended_at FROM runs WHERE job_name = ? AND state = 'succeeded' AND ended_at > ?
            ORDER BY ended_at LIMIT 1
            """, [.text(job), .instant(after)]
        ).first.map { (try $0.decode("id"), try $0.decode("machine"), try $0.decode("ended_at")) }
    }

    // MARK: - Logs

    /// Seconds since the marker `log_horizon` last moved (1 when it does not exist).
    public static func logHorizonAge(_ db: Connection) throws -> Double { try markerAge(db, "log_horizon") ?? 1 }

    /// Every job's rules for its log lines, by name.
    public static func logRules(_ db: Connection) throws -> [String: LogScan.Rules] {
        var rules: [String: LogScan.Rules] = [:]
        for j in try db.query("SELECT name, alert_level, timeout_s, ok_codes FROM jobs").rows {
            let codes = (try j.decode("ok_codes", as: String.self)).split(separator: ",").compactMap { Int($0) }
            rules[try j.decode("name")] = LogScan.Rules(
                alertLevel: try j.decode("alert_level"), timeout: try j.decode("timeout_s"), okCodes: Set(codes))
        }
        return rules
    }

    /// Locks the log markers and returns the ids to scan next, `(scanned, horizon]`;
    /// nil when there is nothing settled to scan. The horizon must be a
    /// second old — every insert that got an id below it has committed —
    /// and once reached it moves to the highest id now. Inside the caller's transaction.
    public static func logWindow(_ db: Connection) throws -> (scanned: Int64, horizon: Int64)? {
        let select =
            "SELECT name, value, updated_at < NOW(6) - INTERVAL 1 SECOND AS settled FROM markers "
            + "WHERE name IN ('log_scanned', 'log_horizon') ORDER BY name FOR UPDATE"
        var marks = try db.query(select).rows
        if marks.count < 2 {
            try db.execute(
                """
                INSERT IGNORE INTO markers (name, value, updated_at)
                VALUES ('log_scanned', (SELECT COALESCE(MAX(id), 0) FROM logs), NOW(6)),
                       ('log_horizon', (SELECT COALESCE(MAX(id), 0) FROM logs), NOW(6))
                """)
            marks = try db.query(select).rows
        }
        guard marks.count == 2 else { throw OctoError.failure("the monitor's log markers cannot be created") }
        let horizon: Int64 = try marks[0].decode("value")
        let scanned: Int64 = try marks[1].decode("value")
        let settled: Bool = try marks[0].decode("settled")
        if scanned >= horizon {
            try db.execute(
                "UPDATE markers SET value = (SELECT COALESCE(MAX(id), 0) FROM logs), updated_at = NOW(6) WHERE name = 'log_horizon'"
            )
            return nil
        }
        return settled ? (scanned, horizon) : nil
    }

    /// Up to `limit` lines with ids in `(after, upTo]` that have a code or one of `levels`, in id order.
    public static func logLines(
        _ db: Connection, after: Int64, upTo: Int64, levels: [LogLevel], limit: Int
    ) throws -> [LogScan.Line] {
        let placeholders = levels.map { _ in "?" }.joined(separator: ", ")
        return try db.query(
            """
            SELECT id, logged_at, job_name, run_id, machine, level, code, content, stream_id FROM logs
            WHERE id > ? AND id <= ? AND (code IS NOT NULL OR level IN (\(placeholders)))
            ORDER BY id LIMIT ?
            """, [.int(after), .int(upTo)] + levels.map(\.sqlValue) + [limit.sqlValue]
        ).rows.map { r in
            let code: Int64? = try r.decode("code")
            return LogScan.Line(
                id: try r.decode("id"), at: try r.decode("logged_at"), job: try r.decode("job_name"),
                machine: try r.decode("machine"), runID: try r.decode("run_id"), streamID: try r.decode("stream_id"),
                level: try r.decode("level"), code: try code.map(LogCode.stored), content: try r.decode("content"))
        }
    }

    /// Moves the marker `log_scanned` to `id`.
    public static func markLogsScanned(_ db: Connection, upTo id: Int64) throws {
        try db.execute("UPDATE markers SET value = ?, updated_at = NOW(6) WHERE name = 'log_scanned'", [.int(id)])
    }

    /// Opens and closes the waits for `120 end` lines, in order.
    public static func apply(_ starts: [LogScan.StartEvent], _ db: Connection) throws {
        for event in starts {
            switch event {
            case .opened(let o):
                try db.execute(
                    """
                    INSERT IGNORE INTO open_starts (log_id, stream_id, job_name, machine, started_at, deadline, content)
                    VALUES (?, ?, ?, ?, ?, ?, ?)
                    """,
                    [
                        .int(o.logID), .int(o.streamID), .text(o.job), .text(o.machine), .instant(o.startedAt),
                        .instant(o.deadline), .text(o.content)
                    ])
            case .closed(let stream, let job):
                try db.execute(
                    "DELETE FROM open_starts WHERE stream_id = ? AND job_name = ?", [.int(stream), .text(job)])
            }
        }
    }

    /// Waits whose deadline has passed (at most 1000, earliest first).
    public static func dueOpenStarts(_ db: Connection) throws -> [LogScan.OpenStart] {
        try db.query(
            """
            SELECT log_id, stream_id, job_name, machine, started_at, deadline, content FROM open_starts
            WHERE deadline < NOW(6) ORDER BY deadline LIMIT 1000
            """
        ).rows.map {
            LogScan.OpenStart(
                logID: try $0.decode("log_id"), streamID: try $0.decode("stream_id"), job: try $0.decode("job_name"),
                machine: try $0.decode("machine"), startedAt: try $0.decode("started_at"),
                deadline: try $0.decode("deadline"), content: try $0.decode("content"))
        }
    }

    public static func deleteOpenStart(_ db: Connection, logID: Int64) throws {
        try db.execute("DELETE FROM open_starts WHERE log_id = ?", [.int(logID)])
    }

    // MARK: - Jobs, queue, machines

    /// Enabled jobs whose next fire is more than `threshold` seconds late.
    public static func lateJobs(_ db: Connection, threshold: Int64) throws -> [(id: Int64, name: String, due: Instant)]
    {
        try db.query(
            """
            SELECT id, name, next_fire_at FROM jobs
            WHERE paused = 0 AND next_fire_at < NOW(6) - INTERVAL ? SECOND
            """, [.int(threshold)]
        ).rows.map { (try $0.decode("id"), try $0.decode("name"), try $0.decode("next_fire_at")) }
    }

    /// Runs queued `after` seconds past their start time and not claimed (at most 1000) — except those that
    /// wait for their turn behind their own job's running runs (`queue`, `allow` at its limit): no machine is
    /// missing for them.
    public static func unclaimedRuns(_ db: Connection, after: Int64) throws -> [(
        runID: Int64, job: String, machine: String?, since: Instant
    )] {
        try db.query(
            """
            SELECT queue.run_id, r.job_name, queue.machine, queue.not_before FROM queue JOIN runs r ON r.id = queue.run_id
            WHERE queue.not_before < NOW(6) - INTERVAL ? SECOND AND \(RunQueue.notWaitingForItsTurnSQL)
            ORDER BY queue.not_before LIMIT 1000
            """, [.int(after)]
        ).rows.map {
            (try $0.decode("run_id"), try $0.decode("job_name"), try $0.decode("machine"), try $0.decode("not_before"))
        }
    }

    /// Active machines not seen for `ttl` seconds.
    public static func staleMachines(_ db: Connection, ttl: Int64) throws -> [(name: String, lastSeen: Instant)] {
        try db.query(
            "SELECT name, last_seen FROM machines WHERE state = 'active' AND last_seen < NOW(6) - INTERVAL ? SECOND",
            [.int(ttl)]
        ).rows.map { (try $0.decode("name"), try $0.decode("last_seen")) }
    }

    // MARK: - History

    /// Deletes history older than `retention` seconds — ended runs, closed
    /// alerts, alert sources, cursor history — in batches of 5000 (short
    /// transactions), at most 100 batches per table. Returns the runs deleted.
    public static func purgeHistory(_ db: Connection, retention: Int64) throws -> Int {
        let purges = [
            "DELETE FROM runs WHERE ended_at < NOW(6) - INTERVAL ? SECOND AND state NOT IN ('queued', 'running') LIMIT 5000",
            "DELETE FROM alerts WHERE last_at < NOW(6) - INTERVAL ? SECOND AND state IN ('sent', 'failed', 'acked') LIMIT 5000",
            "DELETE FROM alert_sources WHERE created_at < NOW(6) - INTERVAL ? SECOND LIMIT 5000",
            "DELETE FROM cursor_history WHERE set_at < NOW(6) - INTERVAL ? SECOND LIMIT 5000"
        ]
        var runsPurged = 0
        for (i, sql) in purges.enumerated() {
            for _ in 0..<100 {
                let n = try db.retrying { db in try db.execute(sql, [.int(retention)]) }
                if i == 0 { runsPurged += Int(n) }
                if n < 5000 { break }
            }
        }
        return runsPurged
    }
}
