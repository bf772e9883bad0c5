import MariaDB
import OctoTime

/// Reads and writes the `jobs` table. Every write is one short transaction
/// and binds every value.
public enum JobStore {
    static let columns = """
        id, name, command, schedule, needs, timezone, owner, run_user, target, strategy, concurrency, max_parallel, misfire,
        timeout_s, warn_after_s, retries, retry_delay_s, ok_codes, alert_level, alert_to, paused, next_fire_at,
        created_at, created_by, updated_at, updated_by
        """

    /// Every column of a job, for `job(from:)`.
    static let selectJobs = "SELECT " + columns + " FROM jobs"

    /// The server's clock: octo's only clock.
    public static func serverNow(_ db: Connection) throws -> Instant {
        try db.query("SELECT NOW(6) AS now").first!.decode("now")
    }

    public static func get(_ db: Connection, _ name: String) throws -> Job? {
        try db.query(selectJobs + " WHERE name = ?", [.text(name)]).first.map(job(from:))
    }

    /// Like `get`, but a missing job is a usage error naming it.
    public static func require(_ db: Connection, _ name: String) throws -> Job {
        guard let j = try get(db, name) else { throw OctoError.usage("no job named '\(name.quotedForMessage)'") }
        return j
    }

    public static func get(_ db: Connection, id: Int64) throws -> Job? {
        try db.query(selectJobs + " WHERE id = ?", [.int(id)]).first.map(job(from:))
    }

    /// Locks the job's row (inside the caller's transaction); false if it is gone.
    static func lock(_ db: Connection, id: Int64) throws -> Bool {
        try db.query("SELECT id FROM jobs WHERE id = ? FOR UPDATE", [.int(id)]).first != nil
    }

    /// The enabled jobs whose next fire is due, by id (found through the `(paused, next_fire_at)` index).
    static func dueJobIDs(_ db: Connection) throws -> [Int64] {
        try db.query("SELECT id FROM jobs WHERE paused = 0 AND next_fire_at <= NOW(6) ORDER BY id").rows.map {
            try $0.decode("id")
        }
    }

    /// The job if it is still enabled and due at `now`; with `lock`, under its
    /// row lock — or nil when another producer holds it (`SKIP LOCKED`).
    static func due(_ db: Connection, id: Int64, at now: Instant, lock: Bool) throws -> Job? {
        try db.query(
            selectJobs + " WHERE id = ? AND paused = 0 AND next_fire_at <= ?" + (lock ? " FOR UPDATE SKIP LOCKED" : ""),
            [.int(id), .instant(now)]
        ).first.map(job(from:))
    }

    static func setNextFire(_ db: Connection, id: Int64, _ next: Instant?) throws {
        try db.execute("UPDATE jobs SET next_fire_at = ? WHERE id = ?", [next.sqlValue, .int(id)])
    }

    /// The job's `alert_to` (empty for a name that is no job).
    public static func alertRecipients(_ db: Connection, job: String) throws -> String {
        try db.query("SELECT alert_to FROM jobs WHERE name = ?", [.text(job)]).first.map {
            try $0.decode("alert_to", as: String.self)
        } ?? ""
    }

    /// All jobs, by name.
    public static func all(_ db: Connection) throws -> [Job] {
        try db.query(selectJobs + " ORDER BY name").rows.map(job(from:))
    }

    /// The first fire after `now` for an enabled, scheduled job; nil otherwise.
    public static func nextFire(of job: Job, after now: Instant, defaultZone: String) throws(OctoError) -> Instant? {
        try job.parsedSchedule().next(after: now, in: job.zone(default: defaultZone))
    }

    /// After `default_tz` changed (in its transaction): the next fire of every
    /// active job that names no zone, computed from now in the new zone (the
    /// old instant was a time of the old zone's; fires between are not caught
    /// up, as on resume). A fire already due stays for the producer.
    static func followDefaultZone(_ db: Connection, _ zone: String) throws {
        let now = try serverNow(db)
        for j in try db.query(
            selectJobs + " WHERE timezone = '' AND NOT paused AND next_fire_at > ? ORDER BY id FOR UPDATE",
            [.instant(now)]
        ).rows.map(job(from:)) {
            try setNextFire(db, id: j.id!, try nextFire(of: j, after: now, defaultZone: zone))
        }
    }

    /// Inserts a new job and its audit row (`add`) in one transaction; a job of
    /// that name already existing is a usage error.
    public static func add(_ db: Connection, _ job: Job, by who: String, defaultZone: String) throws -> Job {
        try db.transaction {
            try lockGraph(db)
            let saved = try insert(db, job, by: who, defaultZone: defaultZone)
            if !job.needs.isEmpty {
                try checkGraph(db, changed: job.name)
                try checkNeedsTiming(db, names: [job.name])
            }
            try AuditStore.record(
                db, Audit.Record(.add, by: who, job: saved.name, changes: Audit.changes(from: nil, to: saved)))
            return saved
        }
    }

    /// Inserts a new job inside the caller's transaction.
    static func insert(_ db: Connection, _ job: Job, by who: String, defaultZone: String) throws -> Job {
        var j = job
        let now = try serverNow(db)
        j.nextFireAt = try nextFire(of: j, after: now, defaultZone: defaultZone)
        do {
            try db.execute(
                """
                INSERT INTO jobs (name, command, schedule, needs, timezone, owner, run_user, target, strategy, concurrency, max_parallel,
                  misfire, timeout_s, warn_after_s, retries, retry_delay_s, ok_codes, alert_level, alert_to, paused,
                  next_fire_at, created_at, created_by, updated_at, updated_by)
                VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)
                """, values(j) + [.instant(now), .text(who), .instant(now), .text(who)])
        } catch {
            guard error.isDuplicateKey else { throw error }
            throw OctoError.usage("a job named '\(j.name)' already exists (use octo sh edit)")
        }
        return try require(db, j.name)
    }

    /// Changes one job: reads it under its row lock, lets `change` edit it and
    /// writes it, in one transaction (retried on a deadlock or a lost
    /// connection), so a concurrent `edit`, `pause` or `apply` is never lost
    /// — each sees the other's result (`update` says when the next fire is
    /// computed afresh; `renamed` what a new name carries along). The change's
    /// audit row (`action`, the attributes that changed; none if nothing did)
    /// is written in the same transaction.
    /// Returns the job before and after.
    @discardableResult
    public static func change(
        _ db: Connection, _ name: String, _ action: Audit.Action, by who: String, defaultZone: String,
        _ change: (inout Job) throws -> Void
    ) throws -> (old: Job, new: Job) {
        try db.retrying { db in
            try db.transaction { () throws -> (old: Job, new: Job) in
                try lockGraph(db)
                guard
                    let old = try db.query(selectJobs + " WHERE name = ? FOR UPDATE", [.text(name)]).first.map(
                        job(from:))
                else {
                    throw OctoError.usage("no job named '\(name.quotedForMessage)'")
                }
                var new = old
                try change(&new)
                // a change that changes nothing (`pause` of a paused job) leaves updated_at and updated_by as they were
                if new != old { try update(db, new, previous: old, by: who, defaultZone: defaultZone) }
                if new.name != old.name { try renamed(db, old, to: new.name) }
                if new.needs != old.needs || new.name != old.name { try checkGraph(db, changed: new.name) }
                if new.needs != old.needs || new.schedule != old.schedule {
                    // the job, and those that need it (its schedule may be what they follow)
                    let needers = try graph(db).needs.filter { $0.value.contains(new.name) }.map(\.key)
                    try checkNeedsTiming(db, names: [new.name] + needers)
                }
                let saved = try require(db, new.name)
                try AuditStore.record(
                    db, Audit.Record(action, by: who, job: saved.name, changes: Audit.changes(from: old, to: saved)))
                return (old, saved)
            }
        }
    }

    /// Runs `body` (one unit of work, for `apply`) while holding the advisory
    /// lock `octo.apply.DATABASE`, so applies run one at a time: row locks
    /// alone cannot order two applies that both create the same new job (an
    /// empty range locks nothing at READ COMMITTED, and the second would fail
    /// on the duplicate name). Waits up to 10 minutes for it.
    public static func exclusively<T>(_ db: Connection, database: String, _ body: () throws -> T) throws -> T {
        let lock = "octo.apply." + database
        try ServerStore.waitForLock(db, lock, patience: 600, holder: "octo sh apply")
        defer { _ = try? db.query("SELECT RELEASE_LOCK(?)", [.text(lock)]) }
        return try body()
    }

    /// Every job, read under its row lock (in ascending id), inside the
    /// caller's transaction: `apply` decides its changes from what it holds.
    /// (Claims lock queue rows before job rows, this the other way round: a
    /// deadlock between them is possible, and retried.)
    public static func allLocked(_ db: Connection) throws -> [Job] {
        try db.query(selectJobs + " ORDER BY id FOR UPDATE").rows.map(job(from:))
    }

    /// Writes a job's definition. The next fire is recomputed from now when
    /// the schedule or time zone changed, or the job is no longer paused
    /// (whatever resumed it — `resume`, `edit --paused false`, `apply`, the
    /// dashboard: fires that fell while it was paused are not caught up).
    public static func update(_ db: Connection, _ job: Job, previous: Job, by who: String, defaultZone: String)
        throws
    {
        var j = job
        if (previous.paused && !j.paused) || j.schedule != previous.schedule || j.timezone != previous.timezone {
            j.nextFireAt = try nextFire(of: j, after: serverNow(db), defaultZone: defaultZone)
        } else {
            j.nextFireAt = previous.nextFireAt
        }
        do {
            try db.execute(
                """
                UPDATE jobs SET name = ?, command = ?, schedule = ?, needs = ?, timezone = ?, owner = ?, run_user = ?, target = ?, strategy = ?,
                  concurrency = ?, max_parallel = ?, misfire = ?, timeout_s = ?, warn_after_s = ?, retries = ?, retry_delay_s = ?,
                  ok_codes = ?,
                  alert_level = ?, alert_to = ?, paused = ?, next_fire_at = ?, updated_at = NOW(6), updated_by = ?
                WHERE name = ?
                """, values(j) + [.text(who), .text(previous.name)])
        } catch {
            guard error.isDuplicateKey else { throw error }
            throw OctoError.usage("a job named '\(j.name)' already exists")
        }
        if let id = previous.id {
            j.id = id
            try RunQueue.refreshEligibility(db, job: j)
        }
    }

    /// Runs of the job with this id that are running now (by id: a run keeps the name it was started under).
    public static func runningRuns(_ db: Connection, jobID: Int64) throws -> Int {
        try db.query("SELECT COUNT(*) AS n FROM runs WHERE job_id = ? AND state = 'running'", [.int(jobID)]).first!
            .decode("n")
    }

    /// A rename, inside `change`'s transaction, after the job's row has its new name: the job's cursor (its
    /// value and history), its runs and its alerts follow it, so an incremental job goes on from where it was
    /// and its history, trend and open alerts are under the name it now has. Refused while a run of it is
    /// queued, waiting or running (such a run was started, or will be, under the old name: its cursor commit
    /// and its log lines would name a job that no longer exists). Log lines keep the name they were written
    /// under. A cursor left under the new name by a removed job of that name gives way (its values stay in
    /// its history).
    static func renamed(_ db: Connection, _ old: Job, to name: String) throws {
        let live: Int = try db.query(
            "SELECT COUNT(*) AS n FROM runs WHERE job_id = ? AND state IN ('queued', 'waiting', 'running')",
            [.int(old.id!)]
        ).first!.decode("n")
        if live > 0 {
            throw OctoError.usage(
                "job '\(old.name)' has \(live) queued, waiting or running run(s); rename it when they have ended "
                    + "(octo sh pause \(old.name) stops new ones)")
        }
        try db.execute("DELETE FROM cursors WHERE job_name = ?", [.text(name)])
        for table in ["cursors", "cursor_history"] {
            try db.execute("UPDATE \(table) SET job_name = ? WHERE job_name = ?", [.text(name), .text(old.name)])
        }
        try db.execute("UPDATE runs SET job_name = ? WHERE job_id = ?", [.text(name), .int(old.id!)])
        try db.execute("DELETE FROM alert_streams WHERE job_name = ?", [.text(name)])
        for table in ["alerts", "alert_streams"] {
            try db.execute("UPDATE \(table) SET job_name = ? WHERE job_name = ?", [.text(name), .text(old.name)])
        }
    }

    /// Removes a job and writes its audit row (`rm`: the definition it had).
    /// Its queued runs are cancelled; its history stays. Refused while a run
    /// is running, unless `force`.
    public static func remove(_ db: Connection, _ name: String, force: Bool, by who: String, defaultZone: String)
        throws
    {
        try db.retrying { db in
            try db.transaction {
                let old = try removeInTransaction(db, name, force: force, by: who, defaultZone: defaultZone)
                try checkGraph(db, removed: [name])
                try AuditStore.record(
                    db, Audit.Record(.rm, by: who, job: name, changes: Audit.changes(from: old, to: nil)))
            }
        }
    }

    /// `remove` without its audit row, inside a transaction the caller holds; returns the job as it was.
    /// With `force`, a job others need leaves their needs (`dropNeed`); without, the caller's `checkGraph` refuses.
    static func removeInTransaction(_ db: Connection, _ name: String, force: Bool, by who: String, defaultZone: String)
        throws -> Job
    {
        try lockGraph(db)
        guard let old = try db.query(selectJobs + " WHERE name = ? FOR UPDATE", [.text(name)]).first.map(job(from:))
        else {
            throw OctoError.usage("no job named '\(name.quotedForMessage)'")
        }
        let id = old.id!
        let running = try runningRuns(db, jobID: id)
        if running > 0 && !force {
            throw OctoError.usage("job '\(name)' has \(running) running run(s); wait, kill them, or use --force")
        }
        let queued = try db.query("SELECT run_id FROM queue WHERE job_id = ?", [.int(id)]).rows.map {
            try $0.decode("run_id", as: Int64.self)
        }
        for runID in queued { try RunQueue.finishQueued(db, runID, state: .cancelled, reason: "job removed") }
        for runID in try NeedsStore.waitingRuns(db, jobID: id) {
            try RunQueue.cancel(db, runID, reason: "job removed")
        }
        if force { try dropNeed(db, old, by: who, defaultZone: defaultZone) }
        try db.execute("DELETE FROM jobs WHERE id = ?", [.int(id)])
        return old
    }

    /// A job's row for `octo sh ls`: the job and its latest run.
    public struct Summary: Sendable {
        public let job: Job
        public let lastState: Run.State?
        public let lastStarted: Instant?
        public let lastEnded: Instant?
        /// Seconds from start to end of the last run (or to now if it is running).
        public var lastDuration: Double?
    }

    /// Every job (or those of `names`) with its latest run, by name. One query; the latest run is found through
    /// the (job_name, id) index with `ORDER BY id DESC LIMIT 1` — one index probe per job. (MariaDB does not
    /// shortcut a correlated `MAX(id)`: it read every index entry of the job, 2 s for 10,000 jobs with a
    /// million runs, against 0.1 s.)
    public static func summaries(_ db: Connection, names: [String]? = nil) throws -> [Summary] {
        if let names, names.isEmpty { return [] }
        let only = names.map { " WHERE j.name IN (" + $0.map { _ in "?" }.joined(separator: ", ") + ")" } ?? ""
        let rows = try db.query(
            """
            SELECT \(columns.split(separator: ",").map { "j." + $0.trimmingWhitespace() }.joined(separator: ", ")),
                   r.state AS last_state, r.started_at AS last_started, r.ended_at AS last_ended, NOW(6) AS now
            FROM jobs j
            LEFT JOIN runs r ON r.id = (SELECT id FROM runs WHERE job_name = j.name ORDER BY id DESC LIMIT 1)
            \(only)
            ORDER BY j.name
            """, (names ?? []).map { .text($0) }
        ).rows
        return try rows.map { row in
            let started: Instant? = try row.decode("last_started")
            let ended: Instant? = try row.decode("last_ended")
            let now: Instant = try row.decode("now")
            let duration = started.map { ((ended ?? now) - $0).seconds }
            return Summary(
                job: try job(from: row), lastState: try row.decode("last_state"), lastStarted: started,
                lastEnded: ended, lastDuration: duration)
        }
    }

    // MARK: - Mapping

    static func values(_ j: Job) -> [Value] {
        [
            .text(j.name), .text(j.command), .text(j.schedule), .text(j.needs.joined(separator: ",")),
            .text(j.timezone), .text(j.owner), .text(j.user),
            .text(j.target),
            j.strategy.sqlValue, j.concurrency.sqlValue, j.maxParallel.sqlValue, j.misfire.sqlValue, .int(j.timeout),
            .int(j.warnAfter), j.retries.sqlValue, .int(j.retryDelay),
            .text(j.okCodes.map(String.init).joined(separator: ",")),
            j.alertLevel.sqlValue, .text(j.alertTo), j.paused.sqlValue, j.nextFireAt.sqlValue
        ]
    }

    static func job(from r: Row) throws -> Job {
        var j = Job(name: try r.decode("name"), command: try r.decode("command"))
        j.id = try r.decode("id")
        j.schedule = try r.decode("schedule")
        j.needs = (try r.decode("needs", as: String.self)).split(separator: ",").map(String.init)
        j.timezone = try r.decode("timezone")
        j.owner = try r.decode("owner")
        j.user = try r.decode("run_user")
        j.target = try r.decode("target")
        j.strategy = try r.decode("strategy")
        j.concurrency = try r.decode("concurrency")
        j.maxParallel = try r.decode("max_parallel")
        j.misfire = try r.decode("misfire")
        j.timeout = try r.decode("timeout_s")
        j.warnAfter = try r.decode("warn_after_s")
        j.retries = try r.decode("retries")
        j.retryDelay = try r.decode("retry_delay_s")
        j.okCodes = (try r.decode("ok_codes", as: String.self)).split(separator: ",").compactMap { Int($0) }
        j.alertLevel = try r.decode("alert_level")
        j.alertTo = try r.decode("alert_to")
        j.paused = try r.decode("paused")
        j.nextFireAt = try r.decode("next_fire_at")
        j.createdAt = try r.decode("created_at")
        j.createdBy = try r.decode("created_by")
        j.updatedAt = try r.decode("updated_at")
        j.updatedBy = try r.decode("updated_by")
        return j
    }
}
