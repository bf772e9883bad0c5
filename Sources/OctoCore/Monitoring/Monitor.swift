import MariaDB

#if canImport(Glibc)
import Glibc
#endif

/// One sweep of `octo monitor`: detect, merge and record alerts, deliver
/// the due ones, keep the tables tidy. Cron runs it every minute on every
/// machine; every step is safe with several monitors at once, because each
/// occurrence is recorded in the transaction that claims its source.
///
/// Detection:
/// - lapsed leases become `lost` runs (`RunQueue.sweepLost`, which also
///   queues their retries);
/// - runs that ended `failed` (kind `failed`, or `signal` when killed by a
///   signal), `timeout` or `lost` since the last sweep (looking back 10
///   minutes more, deduplicated by `run:ID`);
/// - log lines, scanned incrementally by id (markers `log_scanned` and
///   `log_horizon`): a line at or above its job's `alert_level` (`error` for
///   names that are not jobs; lines with a code are not level-alerted); a
///   `100 start` outside a run opens a wait for its `120 end` (same stream),
///   due after the job's timeout or `missingEndAfter`; a `120 end` outside a
///   run whose `exit N` is not accepted (the job's `ok_codes`, else 0) is
///   `bad_exit`. A sweep scans only up to the highest id the *previous* sweep
///   saw, so a line whose transaction committed late is never skipped
///   (latency: one monitor interval);
/// - enabled jobs whose next fire is more than `misfire_threshold` late;
/// - runs queued for longer than `unclaimedAfter` past their start time;
/// - active machines silent for longer than `machine_ttl`;
/// - a success after unanswered failure alerts: one `recovered` alert.
public struct Monitor {
    public struct Options: Sendable {
        public var settings: Settings
        /// How long the alert command may run (then SIGTERM, SIGKILL 5 s later); claims last this plus 10 s.
        public var alertTimeout: Int64 = 60
        /// First delay before retrying a failed delivery (doubling per attempt).
        public var retryBase: Int64 = 30
        public init(settings: Settings) { self.settings = settings }
    }

    /// What a sweep did.
    public struct Report: Sendable {
        public var lost: Int = 0
        public var recorded: [AlertKind: Int] = [:]
        public var alertsCreated = 0
        public var delivered: [Int64] = []
        public var deliveryFailed: [Int64] = []
        public var waitingWithoutCommand = 0
        public var partitionsDropped: [String] = []
        public var runsPurged = 0
    }

    /// A `100 start` with no `120 end` for this long is alerted when its job has no timeout (or it is not a job).
    public static let missingEndAfter: Int64 = 86_400
    /// A queued run not claimed this long after its start time is alerted.
    public static let unclaimedAfter: Int64 = 300
    /// Failed runs are looked for this far before the previous sweep's start too.
    static let runLookBack: Int64 = 600

    let db: Connection
    let options: Options
    var report = Report()

    public init(_ db: Connection, options: Options) {
        self.db = db
        self.options = options
    }

    /// One whole sweep.
    public mutating func sweep() throws -> Report {
        report.lost = try RunQueue.sweepLost(db).count
        try detectFailedRuns()
        try scanLogs()
        try detectMissingEnds()
        try detectMissedFires()
        try detectUnclaimedRuns()
        try detectStaleMachines()
        try detectRecoveries()
        try deliver()
        try housekeeping()
        // lines logged since the sweep began: once their ids are a second old (no insert can still commit below them), scan them too
        try scanLogs(settle: true)
        try deliver()
        return report
    }

    var window: Int64 { options.settings.alertMergeWindow }

    /// Records occurrences whose sources this transaction claims.
    private mutating func record(_ found: [(source: String, occurrence: Occurrence)]) throws {
        guard !found.isEmpty else { return }
        let created = try db.retrying { db in
            try db.transaction { () throws -> [Occurrence] in
                var fresh: [Occurrence] = []
                for f in found {
                    if try AlertStore.claimSource(db, f.source) { fresh.append(f.occurrence) }
                }
                report.alertsCreated += try AlertStore.record(db, fresh, window: window).count
                return fresh
            }
        }
        for o in created { report.recorded[o.kind, default: 0] += 1 }
    }

    // MARK: - Runs

    mutating func detectFailedRuns() throws {
        let since: Instant = try db.retrying { db in
            try db.transaction {
                // the marker is locked first and created only when missing: an INSERT IGNORE of an existing row
                // takes a shared lock, and two monitors upgrading theirs to FOR UPDATE deadlock every time
                let select = "SELECT updated_at, value, NOW(6) AS now FROM markers WHERE name = 'runs_checked' FOR UPDATE"
                var found = try db.query(select).first
                if found == nil {
                    try db.execute("INSERT IGNORE INTO markers (name, value, updated_at) VALUES ('runs_checked', 0, NOW(6))")
                    found = try db.query(select).first
                }
                guard let row = found else { throw OctoError.failure("the monitor's marker 'runs_checked' cannot be created") }
                let now: Instant = try row.decode("now")
                let value: Int64 = try row.decode("value")
                let last: Instant = value == 0 ? now : try row.decode("updated_at")
                try db.execute("UPDATE markers SET value = 1, updated_at = GREATEST(updated_at, NOW(6)) WHERE name = 'runs_checked'")
                return last - .seconds(Monitor.runLookBack)
            }
        }
        let rows = try db.query(Run.select + " WHERE ended_at >= ? AND state IN ('failed', 'timeout', 'lost') ORDER BY ended_at",
                                [.instant(since)]).rows
        var found: [(String, Occurrence)] = []
        for row in rows {
            let r = try Run.from(row)
            let kind: AlertKind = r.state == .timeout ? .timeout : r.state == .lost ? .lost : r.exitSignal != nil ? .signal : .failed
            let what = r.exitSignal.map { "killed by \(signalName($0))" } ?? r.exitCode.map { "exit \($0)" } ?? r.state.rawValue
            let line = "run \(r.id) of \(r.jobName) \(r.state.rawValue) (\(what))" + (r.reason.isEmpty ? "" : ": \(r.reason)")
            found.append(("run:\(r.id)", Occurrence(kind, job: r.jobName, runID: r.id, machine: r.machine, at: r.endedAt ?? since, line: line)))
        }
        try record(found)
    }

    mutating func detectRecoveries() throws {
        for (job, lastFailure) in try AlertStore.unrecovered(db) {
            guard let row = try db.query("""
                SELECT id, machine, ended_at FROM runs WHERE job_name = ? AND state = 'succeeded' AND ended_at > ?
                ORDER BY ended_at LIMIT 1
                """, [.text(job), .instant(lastFailure)]).first else { continue }
            let id: Int64 = try row.decode("id")
            let ended: Instant = try row.decode("ended_at")
            let machine: String? = try row.decode("machine")
            let done = try db.retrying { db in
                try db.transaction {
                    try AlertStore.recover(db, job: job, succeededAt: ended, runID: id, machine: machine,
                                           line: "run \(id) of \(job) succeeded")
                }
            }
            if done { report.recorded[.recovered, default: 0] += 1; report.alertsCreated += 1 }
        }
    }

    // MARK: - Logs

    /// Scans new log lines in batches, each batch in one transaction that
    /// moves the marker (compare-and-set by the row lock).
    mutating func scanLogs(settle: Bool = false) throws {
        if settle {
            let age: Double = try db.query("""
                SELECT TIMESTAMPDIFF(MICROSECOND, updated_at, NOW(6)) / 1e6 AS age FROM markers WHERE name = 'log_horizon'
                """).first.map { try $0.decode("age") } ?? 1
            if age < 1 { usleep(UInt32((1 - age) * 1_000_000)) }
        }
        let jobs = try db.query("SELECT name, alert_level, timeout_s, ok_codes FROM jobs").rows
        var levelOf: [String: String] = [:], timeoutOf: [String: Int64] = [:], okOf: [String: Set<Int>] = [:]
        for j in jobs {
            let name: String = try j.decode("name")
            levelOf[name] = try j.decode("alert_level")
            timeoutOf[name] = try j.decode("timeout_s")
            okOf[name] = Set((try j.decode("ok_codes", as: String.self)).split(separator: ",").compactMap { Int($0) })
        }
        // the most verbose level any job alerts on bounds the scan (lines with a code are always read)
        let order = Job.alertLevels.dropFirst()  // fatal … trace
        let mostVerbose = (Array(levelOf.values) + ["error"]).compactMap { order.firstIndex(of: $0) }.max()!
        let levels = Array(order[order.startIndex...mostVerbose])
        let batch: Int64 = 5000
        while true {
            let found: ([Occurrence], [(job: String, at: Instant, run: Int64?, machine: String)])? = try db.retrying { db in
                try db.transaction { () throws -> ([Occurrence], [(job: String, at: Instant, run: Int64?, machine: String)])? in
                    // locked first, created only when missing (see detectFailedRuns)
                    let select = "SELECT name, value FROM markers WHERE name IN ('log_scanned', 'log_horizon') ORDER BY name FOR UPDATE"
                    var marks = try db.query(select).rows
                    if marks.count < 2 {
                        try db.execute("""
                            INSERT IGNORE INTO markers (name, value, updated_at)
                            VALUES ('log_scanned', (SELECT COALESCE(MAX(id), 0) FROM logs), NOW(6)),
                                   ('log_horizon', (SELECT COALESCE(MAX(id), 0) FROM logs), NOW(6))
                            """)
                        marks = try db.query(select).rows
                    }
                    guard marks.count == 2 else { throw OctoError.failure("the monitor's log markers cannot be created") }
                    let horizon: Int64 = try marks[0].decode("value"), scanned: Int64 = try marks[1].decode("value")
                    // the horizon must be a second old: every insert that got an id below it has committed
                    let settled: Bool = try db.query("SELECT updated_at < NOW(6) - INTERVAL 1 SECOND AS s FROM markers WHERE name = 'log_horizon'").first!.decode("s")
                    if scanned >= horizon || !settled {
                        if scanned >= horizon {
                            try db.execute("UPDATE markers SET value = (SELECT COALESCE(MAX(id), 0) FROM logs), updated_at = NOW(6) WHERE name = 'log_horizon'")
                        }
                        return nil
                    }
                    let placeholders = levels.map { _ in "?" }.joined(separator: ", ")
                    let lines = try db.query("""
                        SELECT id, logged_at, job_name, run_id, machine, level, code, content, stream_id FROM logs
                        WHERE id > ? AND id <= ? AND (code IS NOT NULL OR level IN (\(placeholders)))
                        ORDER BY id LIMIT ?
                        """, [.int(scanned), .int(horizon)] + levels.map { .text($0) } + [.int(batch)]).rows
                    var occurrences: [Occurrence] = []
                    var successes: [(job: String, at: Instant, run: Int64?, machine: String)] = []
                    for l in lines {
                        let id: Int64 = try l.decode("id"), at: Instant = try l.decode("logged_at")
                        let job: String = try l.decode("job_name"), machine: String = try l.decode("machine")
                        let run: Int64? = try l.decode("run_id"), content: String = try l.decode("content")
                        let code: Int64? = try l.decode("code"), level: String = try l.decode("level")
                        if code == nil {
                            let alertLevel = levelOf[job] ?? "error"
                            if alertLevel != "none", let li = order.firstIndex(of: level), let ai = order.firstIndex(of: alertLevel), li <= ai {
                                occurrences.append(Occurrence(.log, job: job, runID: run, machine: machine, at: at, line: "\(level): \(content)"))
                            }
                            continue
                        }
                        guard run == nil else { continue }  // a run's start and end are the runs table's business
                        let stream: Int64 = try l.decode("stream_id")
                        if code == 100 {
                            let wait = (timeoutOf[job] ?? 0) > 0 ? timeoutOf[job]! : Monitor.missingEndAfter
                            try db.execute("""
                                INSERT IGNORE INTO open_starts (log_id, stream_id, job_name, machine, started_at, deadline, content)
                                VALUES (?, ?, ?, ?, ?, ?, ?)
                                """, [.int(id), .int(stream), .text(job), .text(machine), .instant(at), .instant(at + .seconds(wait)),
                                      .text(String(content.prefix(1000)))])
                        } else if code == 120 {
                            try db.execute("DELETE FROM open_starts WHERE stream_id = ? AND job_name = ?", [.int(stream), .text(job)])
                            let ended = Monitor.endStatus(content)
                            if let c = ended.code, (okOf[job] ?? [0]).contains(c), ended.signal == nil {
                                successes.append((job, at, nil, machine))
                            } else if ended.code != nil || ended.signal != nil {
                                occurrences.append(Occurrence(.badExit, job: job, machine: machine, at: at, line: content))
                            }
                        }
                    }
                    let newScanned = lines.count == Int(batch) ? try lines.last!.decode("id", as: Int64.self) : horizon
                    try db.execute("UPDATE markers SET value = ?, updated_at = NOW(6) WHERE name = 'log_scanned'", [.int(newScanned)])
                    report.alertsCreated += try AlertStore.record(db, occurrences, window: window).count
                    for s in successes {
                        if try AlertStore.recover(db, job: s.job, succeededAt: s.at, runID: nil, machine: s.machine, line: "\(s.job) ended with an accepted exit code") {
                            report.alertsCreated += 1
                            report.recorded[.recovered, default: 0] += 1
                        }
                    }
                    return (occurrences, successes)
                }
            }
            guard let (occurrences, _) = found else { break }
            for o in occurrences { report.recorded[o.kind, default: 0] += 1 }
        }
    }

    /// `exit 3`, `exit code 3`, `signal 9` or a bare leading number in a `120 end` line.
    static func endStatus(_ content: String) -> (code: Int?, signal: Int?) {
        let words = content.split(whereSeparator: { $0 == " " || $0 == "," || $0 == ":" || $0 == "=" || $0 == "(" || $0 == ")" })
        func number(after key: String) -> Int? {
            guard let i = words.firstIndex(where: { $0.lowercased() == key }) else { return nil }
            return words[(i + 1)...].prefix(2).lazy.compactMap { Int($0) }.first
        }
        let signal = number(after: "signal")
        let code = number(after: "exit") ?? (signal == nil ? words.first.flatMap { Int($0) } : nil)
        return (code, signal)
    }

    mutating func detectMissingEnds() throws {
        let rows = try db.query("SELECT log_id, job_name, machine, started_at, content FROM open_starts WHERE deadline < NOW(6) ORDER BY deadline LIMIT 1000").rows
        var found: [(String, Occurrence)] = []
        for r in rows {
            let id: Int64 = try r.decode("log_id"), job: String = try r.decode("job_name"), started: Instant = try r.decode("started_at")
            found.append(("end:\(id)", Occurrence(.missingEnd, job: job, machine: try r.decode("machine"), at: started,
                                                  line: "no 120 end after the start at \(started.iso8601): \(try r.decode("content", as: String.self))")))
        }
        try record(found)
        for r in rows { try db.execute("DELETE FROM open_starts WHERE log_id = ?", [.int(try r.decode("log_id"))]) }
    }

    // MARK: - Jobs, queue, machines

    mutating func detectMissedFires() throws {
        let rows = try db.query("""
            SELECT id, name, next_fire_at FROM jobs
            WHERE paused = 0 AND next_fire_at < NOW(6) - INTERVAL ? SECOND
            """, [.int(options.settings.misfireThreshold)]).rows
        var found: [(String, Occurrence)] = []
        for r in rows {
            let id: Int64 = try r.decode("id"), name: String = try r.decode("name"), due: Instant = try r.decode("next_fire_at")
            found.append(("missed:\(id):\(due.microseconds)", Occurrence(.missedFire, job: name, at: due,
                          line: "fire at \(due.iso8601) not produced: is `octo produce` running from cron on some machine?")))
        }
        try record(found)
    }

    mutating func detectUnclaimedRuns() throws {
        let rows = try db.query("""
            SELECT q.run_id, r.job_name, q.machine, q.not_before FROM queue q JOIN runs r ON r.id = q.run_id
            WHERE q.not_before < NOW(6) - INTERVAL ? SECOND ORDER BY q.not_before LIMIT 1000
            """, [.int(Monitor.unclaimedAfter)]).rows
        var found: [(String, Occurrence)] = []
        for r in rows {
            let id: Int64 = try r.decode("run_id"), job: String = try r.decode("job_name")
            let machine: String? = try r.decode("machine"), since: Instant = try r.decode("not_before")
            let whom = machine.map { "assigned to \($0)" } ?? "for any eligible machine"
            found.append(("unclaimed:\(id)", Occurrence(.unclaimed, job: job, runID: id, machine: machine, at: since,
                          line: "run \(id) queued \(whom) since \(since.iso8601) and not claimed: no live machine can take it?")))
        }
        try record(found)
    }

    mutating func detectStaleMachines() throws {
        let rows = try db.query("SELECT name, last_seen FROM machines WHERE state = 'active' AND last_seen < NOW(6) - INTERVAL ? SECOND",
                                [.int(options.settings.machineTTL)]).rows
        var found: [(String, Occurrence)] = []
        for r in rows {
            let name: String = try r.decode("name"), seen: Instant = try r.decode("last_seen")
            found.append(("stale:\(name):\(seen.microseconds)", Occurrence(.machineStale, job: "", machine: name, at: seen,
                          line: "machine \(name) last seen at \(seen.iso8601); it gets no new work")))
        }
        try record(found)
    }

    // MARK: - Delivery

    mutating func deliver() throws {
        let command = options.settings.alertCommand
        guard !command.isEmpty else {
            report.waitingWithoutCommand = try db.query("SELECT COUNT(*) AS n FROM alerts WHERE state = 'pending'").first!.decode("n")
            return
        }
        // One claim at a time, right before its delivery: a claim lasts one delivery (the alert timeout + 10 s),
        // so claims taken in a batch could lapse while earlier ones are delivered, and another monitor would send
        // them too. Once the command has run, recording the outcome is retried until the claim would have lapsed
        // (a database restart or a link cut in between must not make another monitor send the alert again).
        let claimFor = options.alertTimeout + 10
        while true {
            guard let c = try db.retrying(.standard, { db in try AlertStore.claimNext(db, seconds: claimFor) }) else { return }
            let claimedAt = ContinuousClock.now
            let recipients = try db.retrying { db in
                try db.query("SELECT alert_to FROM jobs WHERE name = ?", [.text(c.alert.job)]).first.map { try $0.decode("alert_to", as: String.self) } ?? ""
            }
            let outcome = AlertDelivery.run(command, alert: c.alert, recipients: recipients, timeout: options.alertTimeout)
            let patience = RetryPolicy.until(claimedAt + .seconds(claimFor))
            if let error = outcome {
                try db.retrying(patience) { db in _ = try AlertStore.attemptFailed(db, c, error: error, backoffBase: options.retryBase) }
                report.deliveryFailed.append(c.alert.id)
            } else {
                try db.retrying(patience) { db in _ = try AlertStore.delivered(db, c) }
                report.delivered.append(c.alert.id)
            }
        }
    }

    // MARK: - Housekeeping

    mutating func housekeeping() throws {
        let s = options.settings
        report.partitionsDropped = try db.retrying { db in try LogPartitions.maintain(db, retention: s.logRetention) }
        // history older than run_retention, in small batches (short transactions)
        let purges = [
            "DELETE FROM runs WHERE ended_at < NOW(6) - INTERVAL ? SECOND AND state NOT IN ('queued', 'running') LIMIT 5000",
            "DELETE FROM alerts WHERE last_at < NOW(6) - INTERVAL ? SECOND AND state IN ('sent', 'failed', 'acked') LIMIT 5000",
            "DELETE FROM alert_sources WHERE created_at < NOW(6) - INTERVAL ? SECOND LIMIT 5000",
            "DELETE FROM cursor_history WHERE set_at < NOW(6) - INTERVAL ? SECOND LIMIT 5000",
        ]
        for (i, sql) in purges.enumerated() {
            for _ in 0..<100 {
                let n = try db.retrying { db in try db.execute(sql, [.int(s.runRetention)]) }
                if i == 0 { report.runsPurged += Int(n) }
                if n < 5000 { break }
            }
        }
    }
}
