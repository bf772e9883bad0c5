import MariaDB
import OctoTime

#if canImport(Glibc)
    import Glibc
#endif

/// The `runs` and `queue` tables: enqueueing, claiming, leases, completion,
/// retries, lost runs, kills.
///
/// Safe on any number of machines at once:
/// - enqueueing is idempotent through `UNIQUE(job, fire time, attempt, route key)`;
/// - a claim locks the machine's row (its slots), then queue rows with
///   `FOR UPDATE SKIP LOCKED` (no run goes to two machines), then the jobs'
///   rows in ascending id (a series' running and stopping count — see
///   `Routing.series` and `cancel` — is checked and raised by one lock holder
///   at a time, so `forbid`/`queue`/`replace` runs never overlap);
/// - every write about a running run names its lease token (fencing).
///
/// Lock order, everywhere: machine row, queue rows, job rows (ascending id),
/// run rows. Sessions run at READ COMMITTED (see `Connection`).
public enum RunQueue {

    // MARK: - Enqueue

    /// What to put in the queue.
    public struct NewRun: Sendable {
        public var fireTime: Instant
        /// The fire time's date in the job's zone (`Zone.logicalDate`).
        public var logicalDate = ""
        public var trigger: Run.Trigger
        public var attempt: Int = 1
        public var route: Routing.Route = .anyone
        /// nil: now.
        public var notBefore: Instant?
        public var cursor: String?
        public var forced = false
        public var state: Run.State = .queued
        public var reason = ""

        public init(fireTime: Instant, trigger: Run.Trigger) { (self.fireTime, self.trigger) = (fireTime, trigger) }
    }

    /// Inserts a run (and its queue row when queued). Returns its id, or nil
    /// if that (job, fire time, attempt, route) already exists: enqueueing twice is harmless.
    @discardableResult
    public static func enqueue(_ db: Connection, job: Job, _ r: NewRun) throws -> Int64? {
        let result: QueryResult
        do {
            result = try db.query(
                """
                INSERT INTO runs (job_id, job_name, fire_time, logical_date, attempt, route_key, trigger_kind, forced, state, reason,
                  machine, queued_at, not_before, cursor_in, cursor_given, ended_at)
                VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, NOW(6), COALESCE(?, NOW(6)), ?, ?,
                  IF(? IN ('queued', 'waiting'), NULL, NOW(6)))
                """,
                [
                    .int(job.id!), .text(job.name), .instant(r.fireTime), .text(r.logicalDate), .int(Int64(r.attempt)),
                    .text(r.route.routeKey),
                    .text(r.trigger.rawValue), .int(r.forced ? 1 : 0), .text(r.state.rawValue), .text(r.reason),
                    r.route.machine.sqlValue, r.notBefore.sqlValue,
                    r.cursor.sqlValue, .int(r.cursor == nil ? 0 : 1), .text(r.state.rawValue)
                ])
        } catch {
            guard error.isDuplicateKey else { throw error }
            return nil
        }
        let id = Int64(result.lastInsertID)
        if r.state.isFinished { try ended(db, [id]) }
        if r.state == .queued {
            try db.execute(
                """
                INSERT INTO queue (run_id, job_id, machine, route_key, run_user, target, forced, not_before)
                SELECT id, job_id, machine, route_key, ?, ?, forced, not_before FROM runs WHERE id = ?
                """, [.text(job.user), .text(job.target), .int(id)])
        }
        return id
    }

    /// Keeps queued runs' eligibility in step with an edited job.
    public static func refreshEligibility(_ db: Connection, job: Job) throws {
        try db.execute(
            "UPDATE queue SET run_user = ?, target = ? WHERE job_id = ?",
            [.text(job.user), .text(job.target), .int(job.id!)])
    }

    /// Active and recently seen machines, by name, with the runs each has: running, or queued for it.
    public static func liveMachines(_ db: Connection, ttl: Int64) throws -> [LiveMachine] {
        var running: [String: Int] = [:]
        for row in try db.query(
            """
            SELECT machine, COUNT(*) AS n FROM (
              SELECT machine FROM runs WHERE state = 'running' UNION ALL SELECT machine FROM queue WHERE machine IS NOT NULL
            ) AS busy GROUP BY machine
            """
        ).rows {
            if let m: String = try row.decode("machine") { running[m] = try row.decode("n") }
        }
        return try db.query(
            """
            SELECT name, groups_list, unix_user, slots, cpus, load1 FROM machines
            WHERE state = 'active' AND last_seen >= NOW(6) - INTERVAL ? SECOND ORDER BY name
            """, [.int(ttl)]
        ).rows.map { row in
            let name: String = try row.decode("name")
            return LiveMachine(
                name: name, groups: MachineStore.list(try row.decode("groups_list")),
                unixUser: try row.decode("unix_user"), slots: try row.decode("slots"),
                cpus: try row.decode("cpus"), load1: try row.decode("load1"), running: running[name] ?? 0)
        }
    }

    /// Runs of a job that are queued or running.
    public static func activeRuns(_ db: Connection, jobID: Int64) throws -> [Run] {
        try db.query(
            RunQueue.selectRuns + " WHERE job_id = ? AND state IN ('queued', 'running') ORDER BY id",
            [.int(jobID)]
        ).rows.map(RunQueue.run(from:))
    }

    // MARK: - Claim

    /// A run this machine claimed, with what the supervisor needs.
    public struct Claimed: Sendable {
        public var run: Run
        public var job: Job
        public var token: String
        /// When the claim was sent (`Monotonic.seconds()`): the lease the server granted started later, so a
        /// deadline counted from here ends before the lease does.
        public var claimedAt: Double
    }

    /// Claims up to `limit` runs for `machine` (further limited by its free
    /// slots unless `onlyRun` names the one run to take), oldest first
    /// (`not_before`, then run id, whatever the jobs), marks them running
    /// with a fresh lease token each and a lease of `lease` seconds, and
    /// returns them. A machine that is not active claims nothing.
    ///
    /// Only runs this machine may run are taken, assigned ones too: the job's
    /// user is `user` (the Unix user of this process, not the machine row's,
    /// which another account's octo may have written) or empty, and the
    /// machine is in the job's target.
    public static func claim(
        _ db: Connection, machine: String, limit: Int, lease: Int64, onlyRun: Int64? = nil,
        user: String = currentUserName(), batch: ClaimBatch = ClaimBatch()
    ) throws -> [Claimed] {
        batch.attempts += 1
        if batch.attempts > 1 {
            let found = try claimedBefore(db, machine, batch, lease: lease)
            if !found.isEmpty { return found }
        }
        // jobs another claim holds are skipped (their runs stay queued for that claim or the next), so that
        // consumers claiming at once take different jobs' runs rather than queue behind each other's job locks;
        // a claim that got nothing while it skipped some is done again waiting for every lock, as before
        let first = try claim(db, machine, limit, lease, onlyRun, user, batch, skipBusyJobs: true)
        if !first.claimed.isEmpty || !first.skipped { return first.claimed }
        return try claim(db, machine, limit, lease, onlyRun, user, batch, skipBusyJobs: false).claimed
    }

    /// One claim as its caller retries it (`Connection.retrying`), made before the retries: its runs' lease
    /// tokens share a prefix chosen once, so an attempt after a lost connection first looks for the runs an
    /// earlier attempt's commit gave this machine — applied, its answer lost (a cut link, a primary that
    /// crashed as a replica acknowledged the commit) — and takes them as claimed. Otherwise they would stay
    /// running under tokens nobody holds until their leases lapse (lost; a fire never run when its job has no
    /// retries left).
    public final class ClaimBatch {
        let prefix = String(RunQueue.newToken().prefix(16))
        var attempts = 0
        public init() {}
    }

    /// The runs an earlier attempt of `batch` claimed (their leases renewed from now), with their jobs.
    private static func claimedBefore(_ db: Connection, _ machine: String, _ batch: ClaimBatch, lease: Int64) throws
        -> [Claimed]
    {
        let sentAt = Monotonic.seconds()
        var out: [Claimed] = []
        for run in try db.query(
            RunQueue.selectRuns + " WHERE state = 'running' AND machine = ? AND lease_token LIKE ? ORDER BY id",
            [.text(machine), .text(batch.prefix + "%")]
        ).rows.map(RunQueue.run(from:)) {
            guard let token = run.leaseToken, let job = try JobStore.get(db, id: run.jobID),
                try renew(db, runID: run.id, token: token, lease: lease)
            else { continue }
            out.append(Claimed(run: run, job: job, token: token, claimedAt: sentAt))
        }
        return out
    }

    private static func claim(
        _ db: Connection, _ machine: String, _ limit: Int, _ lease: Int64, _ onlyRun: Int64?, _ user: String,
        _ batch: ClaimBatch, skipBusyJobs: Bool
    ) throws -> (claimed: [Claimed], skipped: Bool) {
        var skipped = false
        let claimed = try db.transaction { () throws -> [Claimed] in
            let sentAt = Monotonic.seconds()
            guard let m = try lockActiveMachine(db, machine) else { return [] }
            var free =
                onlyRun == nil ? min(limit, try m.decode("slots", as: Int.self) - slotsInUse(db, machine)) : limit
            guard free > 0 else { return [] }
            let eligible = try eligibility(machine, m, user: user)
            var claimed: [Claimed] = []
            for pastWaiting in [false, true] {
                let window = free * 4 + 8
                let candidates = try claimCandidates(
                    db, eligible, onlyRun: onlyRun, window: window, pastWaiting: pastWaiting)
                guard !candidates.isEmpty else { break }
                // the candidates' jobs, locked in ascending id (one statement), then their active runs:
                // a job's count is read and raised by one lock holder at a time
                var jobIDs = Set(candidates.map(\.jobID)).sorted()
                let jobs = try lockJobs(db, jobIDs, skipLocked: skipBusyJobs)
                skipped = skipped || jobs.count < jobIDs.count
                guard !jobs.isEmpty else { break }
                let held = candidates.filter { jobs[$0.jobID] != nil }
                jobIDs = jobIDs.filter { jobs[$0] != nil }
                let plan = ClaimPlan.plan(held, jobs: jobs, active: try activeSeries(db, jobIDs), free: free)
                for runID in plan.skipIfScheduled {
                    if let run = try get(db, runID), [.schedule, .catchup].contains(run.trigger) {
                        try finishQueued(
                            db, runID, state: .skipped, reason: "a run of this job was running (concurrency forbid)")
                    }
                }
                if !plan.take.isEmpty {
                    // started here, in this transaction: the second look counts them as running
                    claimed += try start(
                        db, plan.take, machine: machine, lease: lease, sentAt: sentAt, tokenPrefix: batch.prefix)
                    free -= plan.take.count
                }
                // a full window that filled the free slots only in part may hide runs behind ones that wait for
                // their turn (one job's backlog): look once more, past those
                if pastWaiting || onlyRun != nil || free <= 0 || candidates.count < window { break }
            }
            return claimed
        }
        return (claimed, skipped)
    }

    /// The machine's row under its lock, if the machine is active.
    private static func lockActiveMachine(_ db: Connection, _ machine: String) throws -> Row? {
        guard
            let m = try db.query(
                "SELECT state, slots, groups_list FROM machines WHERE name = ? FOR UPDATE", [.text(machine)]
            ).first,
            try m.decode("state", as: String.self) == "active"
        else { return nil }
        return m
    }

    /// Slots the machine's runs hold: running ones, and stopping ones (cancelled, the process group not yet seen gone).
    private static func slotsInUse(_ db: Connection, _ machine: String) throws -> Int {
        try db.query(
            """
            SELECT COUNT(*) AS n FROM runs
            WHERE (state = 'running' OR (state = 'cancelled' AND lease_expires_at > NOW(6))) AND machine = ?
            """, [.text(machine)]
        ).first!.decode("n")
    }

    /// Queue rows the machine may take now, locked (`SKIP LOCKED`: another
    /// claim's are left to it), in queue order (not_before, run id: the oldest
    /// eligible runs first, whatever their jobs' ids), at most `window`; or
    /// only the run `onlyRun`.
    private static func claimCandidates(
        _ db: Connection, _ eligibleValues: [Value], onlyRun: Int64?, window: Int, pastWaiting: Bool
    ) throws -> [ClaimPlan.Candidate] {
        let rows: [Row]
        if let only = onlyRun {
            rows = try db.query(
                "SELECT run_id, job_id, route_key, forced FROM queue WHERE run_id = ? AND " + eligibleSQL
                    + " FOR UPDATE SKIP LOCKED", [.int(only)] + eligibleValues
            ).rows
        } else {
            rows = try db.query(
                "SELECT run_id, job_id, route_key, forced FROM queue WHERE not_before <= NOW(6) AND " + eligibleSQL
                    + (pastWaiting ? " AND " + notWaitingForItsTurnSQL : "")
                    + " ORDER BY not_before, run_id LIMIT ? FOR UPDATE SKIP LOCKED", eligibleValues + [window.sqlValue]
            ).rows
        }
        return try rows.map { c in
            ClaimPlan.Candidate(
                runID: try c.decode("run_id"), jobID: try c.decode("job_id"), routeKey: try c.decode("route_key"),
                forced: try c.decode("forced"))
        }
    }

    /// The jobs, locked in ascending id in one statement; with `skipLocked`, only those no other transaction holds.
    private static func lockJobs(_ db: Connection, _ ids: [Int64], skipLocked: Bool) throws -> [Int64: Job] {
        let padded = padded(ids)
        let rows = try db.query(
            JobStore.selectJobs + " WHERE id IN " + placeholders(padded.count) + " ORDER BY id FOR UPDATE"
                + (skipLocked ? " SKIP LOCKED" : ""),
            padded.map(Value.int)
        ).rows
        return Dictionary(
            try rows.map { r in
                let j = try JobStore.job(from: r)
                return (j.id!, j)
            }
        ) { a, _ in a }
    }

    /// Per series of the jobs, running and stopping runs — cancelled, but the
    /// supervisor has not yet seen the process group gone (it holds the lease
    /// until then): a new run does not start beside a stopping one.
    private static func activeSeries(_ db: Connection, _ jobIDs: [Int64]) throws -> [ClaimPlan.Series: ClaimPlan.Active]
    {
        let padded = padded(jobIDs)
        var active: [ClaimPlan.Series: ClaimPlan.Active] = [:]
        for row in try db.query(
            "SELECT job_id, route_key, COUNT(IF(state = 'running', 1, NULL)) AS n,"
                + " COUNT(IF(state = 'cancelled', 1, NULL)) AS stopping FROM runs WHERE job_id IN "
                + placeholders(padded.count)
                + " AND (state = 'running' OR (state = 'cancelled' AND lease_expires_at > NOW(6))) GROUP BY job_id, route_key",
            padded.map(Value.int)
        ).rows {
            active[ClaimPlan.Series(job: try row.decode("job_id"), routeKey: try row.decode("route_key"))] =
                ClaimPlan.Active(running: try row.decode("n"), stopping: try row.decode("stopping"))
        }
        return active
    }

    /// Marks the chosen runs running on `machine`, in three statements, each
    /// with its own random lease token, and returns those that were still queued.
    private static func start(
        _ db: Connection, _ chosen: [(runID: Int64, job: Job)], machine: String, lease: Int64, sentAt: Double,
        tokenPrefix: String
    ) throws -> [Claimed] {
        let ids = padded(chosen.map(\.runID))
        // the claim's prefix, then 64 random bits of the run's own
        let tokens = Dictionary(
            chosen.map { ($0.runID, tokenPrefix + newToken().prefix(16)) }, uniquingKeysWith: { a, _ in a })
        let (runsIn, runValues) = (placeholders(ids.count), ids.map(Value.int))
        let tokenCases = "CASE id" + String(repeating: " WHEN ? THEN ?", count: ids.count)
        let tokenValues = ids.flatMap { [Value.int($0), .text(tokens[$0]!)] }
        try db.execute(
            """
            UPDATE runs SET state = 'running', machine = ?, lease_token = \(tokenCases) END,
              lease_expires_at = NOW(6) + INTERVAL ? SECOND, started_at = NOW(6),
              cursor_in = IF(cursor_given, cursor_in, (SELECT c.value FROM cursors c WHERE c.job_name = runs.job_name)),
              cursor_epoch = NEXT VALUE FOR cursor_epochs
            WHERE id IN \(runsIn) AND state = 'queued'
            """, [.text(machine)] + tokenValues + [.int(lease)] + runValues)
        try db.execute("DELETE FROM queue WHERE run_id IN " + runsIn, runValues)
        let jobOf = Dictionary(chosen.map { ($0.runID, $0.job) }, uniquingKeysWith: { a, _ in a })
        var claimed: [Claimed] = []
        for row in try db.query(
            RunQueue.selectRuns + " WHERE id IN " + runsIn + " AND state = 'running' ORDER BY id", runValues
        ).rows {
            let run = try RunQueue.run(from: row)
            // a run that was not queued any more kept its own (or no) token: not ours
            guard let token = tokens[run.id], run.leaseToken == token, let job = jobOf[run.id] else { continue }
            claimed.append(Claimed(run: run, job: job, token: token, claimedAt: sentAt))
        }
        return claimed
    }

    /// Queued runs `machine` could take, now or later (for `consume --wait`).
    public static func waitingWork(_ db: Connection, machine: String, user: String = currentUserName()) throws -> Int {
        guard let m = try db.query("SELECT state, groups_list FROM machines WHERE name = ?", [.text(machine)]).first,
            try m.decode("state", as: String.self) == "active"
        else { return 0 }
        return try db.query(
            "SELECT COUNT(*) AS n FROM queue WHERE " + eligibleSQL, try eligibility(machine, m, user: user)
        ).first!.decode("n")
    }

    /// Queue rows `machine` may take, run as `user`: assigned to it or to no
    /// machine, with the job's user being `user` (or none) and a target naming
    /// the machine or one of its groups (`Routing.targets` in SQL). An
    /// assigned run is no exception: `sh run --on`, routing and retries never
    /// make a job run under another account or outside its target.
    static let eligibleSQL = """
        ((machine = ? OR machine IS NULL) AND (run_user = '' OR run_user = ?)
          AND (target = 'any' OR FIND_IN_SET(?, target) > 0
               OR (target LIKE 'group:%' AND FIND_IN_SET(SUBSTRING(target, 7), ?) > 0)))
        """

    /// A queue row whose series has as many active runs as its job allows (`ClaimPlan`'s cap: `max_parallel`
    /// with `allow`, else 1; stopping runs count) waits for its turn. A claim whose full window filled the free
    /// slots only in part looks again with these left out, so a backlog of one job (a `queue` job behind its
    /// schedule, a `misfire all` catch-up) cannot fill the window and keep every later job's runs from free
    /// slots. Forced runs, and those of a `forbid` job (the plan skips them), stay in. The plan still decides
    /// under the jobs' locks; this only chooses what it looks at. (The subqueries take no locks: only the
    /// queue's rows are read for update. The first look goes without them: they cost per row.)
    static let notWaitingForItsTurnSQL = """
        (queue.forced = 1 OR (SELECT COUNT(*) FROM runs r WHERE r.job_id = queue.job_id AND r.route_key = queue.route_key
            AND (r.state = 'running' OR (r.state = 'cancelled' AND r.lease_expires_at > NOW(6))))
          < (SELECT IF(j.needs = '' AND j.concurrency = 'forbid', 1000000000,
                       IF(j.concurrency = 'allow', GREATEST(1, j.max_parallel), 1)) FROM jobs j WHERE j.id = queue.job_id))
        """

    /// The values for `eligibleSQL`: the machine's name and groups (from its row) and the process's user.
    static func eligibility(_ machine: String, _ row: Row, user: String) throws -> [Value] {
        [.text(machine), .text(user), .text(machine), .text(try row.decode("groups_list"))]
    }

    /// `ids` padded to a power of two by repeating the last one (a repeated
    /// value in `IN (…)` or `CASE` changes nothing), so that a connection
    /// prepares a handful of statement shapes, not one per count.
    static func padded(_ ids: [Int64]) -> [Int64] {
        var size = 1
        while size < ids.count { size *= 2 }
        return ids + Array(repeating: ids.last ?? 0, count: size - ids.count)
    }

    /// `(?, ?, …)` with `n` placeholders.
    static func placeholders(_ n: Int) -> String {
        "(" + Array(repeating: "?", count: n).joined(separator: ", ") + ")"
    }

    static func newToken() -> String {
        // SystemRandomNumberGenerator reads getrandom(2): unpredictable, so a token cannot be guessed
        // (two 64-bit draws, not one call per byte)
        var random = SystemRandomNumberGenerator()
        let hex = Array("0123456789abcdef".utf8)
        var out: [UInt8] = []
        out.reserveCapacity(32)
        for var word in [random.next(), random.next()] as [UInt64] {
            for _ in 0..<8 {
                out.append(hex[Int(word >> 4 & 15)])
                out.append(hex[Int(word & 15)])
                word >>= 8
            }
        }
        return String(decoding: out, as: UTF8.self)
    }

    // MARK: - Leases and completion

    /// A cancelled run's supervisor, while the process group it was told to
    /// stop is still there, keeps the lease that holds back the job's next run
    /// (fenced by its token; a lease that lapsed stays lapsed). False when
    /// there is nothing to keep.
    public static func renewStopping(_ db: Connection, runID: Int64, token: String, lease: Int64) throws -> Bool {
        try db.execute(
            """
            UPDATE runs SET lease_expires_at = NOW(6) + INTERVAL ? SECOND
            WHERE id = ? AND lease_token = ? AND state = 'cancelled' AND lease_expires_at > NOW(6)
            """, [.int(lease), .int(runID), .text(token)]) == 1
    }

    /// A cancelled run's process group is gone: records how it ended and
    /// when, and releases the lease, so the job's next run may start.
    /// False when the run was not a stopping run under this token.
    static func recordStopped(_ db: Connection, _ claimed: Claimed, _ outcome: Outcome) throws -> Bool {
        try db.execute(
            """
            UPDATE runs SET exit_code = ?, exit_signal = ?, ended_at = NOW(6), lease_expires_at = NULL
            WHERE id = ? AND lease_token = ? AND state = 'cancelled' AND lease_expires_at IS NOT NULL
            """,
            [
                outcome.exitCode.sqlValue, outcome.signal.sqlValue,
                .int(claimed.run.id), .text(claimed.token)
            ]) == 1
    }

    /// Extends a running run's lease, fenced by its token. False means the
    /// run is no longer this holder's (lost, killed, replaced): stop it.
    /// Also records the job's pid.
    public static func renew(_ db: Connection, runID: Int64, token: String, lease: Int64, pid: Int32? = nil) throws
        -> Bool
    {
        try db.execute(
            """
            UPDATE runs SET lease_expires_at = NOW(6) + INTERVAL ? SECOND, pid = COALESCE(?, pid)
            WHERE id = ? AND lease_token = ? AND state = 'running'
            """, [.int(lease), pid.sqlValue, .int(runID), .text(token)]) == 1
    }

    /// True while the run is running under this token (a read, no write).
    public static func holds(_ db: Connection, runID: Int64, token: String) throws -> Bool {
        try db.query("SELECT state, lease_token FROM runs WHERE id = ?", [.int(runID)]).first.map { row in
            try row.decode("state", as: String.self) == "running"
                && row.decode("lease_token", as: String?.self) == token
        } ?? false
    }

    /// How a supervised run ended.
    public struct Outcome: Sendable, Equatable {
        public var state: Run.State
        public var exitCode: Int?
        public var signal: Int?
        public var reason: String
        public init(state: Run.State, exitCode: Int? = nil, signal: Int? = nil, reason: String = "") {
            (self.state, self.exitCode, self.signal, self.reason) = (state, exitCode, signal, reason)
        }
    }

    /// Records a run's end in one fenced transaction — state, exit code or
    /// signal, end time, the cursor it left — and queues a retry when it
    /// failed with attempts left. Returns false (and writes nothing) when the
    /// token no longer holds the run.
    /// `cursorOut`: the last value the run set (nil: the cursor's value if this run stored it).
    @discardableResult
    public static func complete(_ db: Connection, _ claimed: Claimed, _ outcome: Outcome, cursorOut: String? = nil)
        throws -> Bool
    {
        try db.transaction { try recordEnd(db, claimed, outcome, cursorOut: cursorOut) }
    }

    /// `complete` inside the caller's transaction (the supervisor records
    /// every run that ended in the same turn, and their last lines, in one
    /// commit). `count: false` leaves the metrics' count of the run to the
    /// caller, who counts the whole batch in one statement at the end
    /// (`MetricsStore.countEnded`), the hot counter rows locked last and in key order.
    public static func recordEnd(
        _ db: Connection, _ claimed: Claimed, _ outcome: Outcome, cursorOut: String? = nil, count: Bool = true
    ) throws -> Bool {
        let n = try db.execute(
            """
            UPDATE runs SET state = ?, exit_code = ?, exit_signal = ?, reason = ?, ended_at = NOW(6), lease_expires_at = NULL,
              cursor_out = COALESCE(?, (SELECT c.value FROM cursors c WHERE c.job_name = runs.job_name AND c.updated_run = runs.id))
            WHERE id = ? AND lease_token = ? AND state = 'running'
            """,
            [
                .text(outcome.state.rawValue), outcome.exitCode.sqlValue,
                outcome.signal.sqlValue, .text(outcome.reason),
                cursorOut.sqlValue,
                .int(claimed.run.id), .text(claimed.token)
            ])
        guard n == 1 else { return false }
        if outcome.state.isFailure { try retryIfAttemptsLeft(db, claimed.run) }
        if count { try ended(db, [claimed.run.id]) }
        return true
    }

    /// Queues attempt + 1 of a failed run if its job allows more attempts,
    /// after the job's retry delay. Broadcast runs retry on their machine.
    static func retryIfAttemptsLeft(_ db: Connection, _ run: Run) throws {
        guard let jr = try db.query(JobStore.selectJobs + " WHERE id = ?", [.int(run.jobID)]).first else { return }
        let job = try JobStore.job(from: jr)
        guard run.attempt <= job.retries else { return }
        var next = NewRun(fireTime: run.fireTime, trigger: .retry)
        next.attempt = run.attempt + 1
        next.logicalDate = run.logicalDate
        next.forced = run.forced
        next.cursor = run.cursorGiven ? run.cursorIn : nil
        let now = try JobStore.serverNow(db)
        next.notBefore = now + .seconds(job.retryDelay)
        if run.routeKey.isEmpty {
            let settings = try SettingsStore.load(db)
            next.route = Routing.routes(for: job, live: try liveMachines(db, ttl: settings.machineTTL)).first ?? .anyone
        } else {
            next.route = Routing.Route(machine: run.routeKey, routeKey: run.routeKey)
        }
        try enqueue(db, job: job, next)
    }

    /// Ends a queued run without running it.
    static func finishQueued(_ db: Connection, _ runID: Int64, state: Run.State, reason: String) throws {
        let n = try db.execute(
            "UPDATE runs SET state = ?, reason = ?, ended_at = NOW(6) WHERE id = ? AND state = 'queued'",
            [.text(state.rawValue), .text(reason), .int(runID)])
        if n == 1 { try ended(db, [runID]) }
        try db.execute("DELETE FROM queue WHERE run_id = ?", [.int(runID)])
    }

    /// Runs that just ended (in the caller's transaction): the waiting runs
    /// downstream that they concern are checked and released
    /// (`NeedsStore.ended`), then the metrics count them — the hot counter
    /// rows locked last.
    public static func ended(_ db: Connection, _ ids: [Int64]) throws {
        guard !ids.isEmpty else { return }
        try NeedsStore.ended(db, ids)
        try MetricsStore.countEnded(db, ids)
    }

    // MARK: - Lost runs

    /// Running runs whose lease lapsed (their machine died or lost the
    /// network) become `lost` and are retried per their job's policy. Safe
    /// from any number of processes: each run is taken by one sweeper
    /// (`SKIP LOCKED`) and changed only if it is still running and lapsed.
    /// Returns the runs it marked lost. Also releases stopping runs whose
    /// lease lapsed (see `cancel`).
    @discardableResult
    public static func sweepLost(_ db: Connection) throws -> [Run] {
        // a stopping (cancelled) run whose supervisor did not record its process group gone before the
        // lease lapsed: it no longer holds the job back (the claim reads the lease); say so on the run
        _ = try db.retrying { db in
            try db.execute(
                """
                UPDATE runs SET lease_expires_at = NULL,
                  reason = LEFT(CONCAT(reason, '; machine ', COALESCE(machine, '?'), ' did not confirm it stopped'), 255)
                WHERE state = 'cancelled' AND lease_expires_at < NOW(6) LIMIT 1000
                """)
        }
        var lost: [Run] = []
        while true {
            let batch = try db.retrying { db in
                try db.transaction { () throws -> [Run] in
                    let rows = try db.query(
                        RunQueue.selectRuns + """
                             WHERE state = 'running' AND lease_expires_at < NOW(6)
                            ORDER BY lease_expires_at LIMIT 100 FOR UPDATE SKIP LOCKED
                            """
                    ).rows
                    var marked: [Run] = []
                    for row in rows {
                        var run = try RunQueue.run(from: row)
                        let n = try db.execute(
                            """
                            UPDATE runs SET state = 'lost', ended_at = NOW(6),
                              reason = CONCAT('lease expired: machine ', COALESCE(machine, '?'), ' stopped renewing it')
                            WHERE id = ? AND state = 'running' AND lease_expires_at < NOW(6)
                            """, [.int(run.id)])
                        guard n == 1 else { continue }
                        try ended(db, [run.id])
                        run.state = .lost
                        try retryIfAttemptsLeft(db, run)
                        marked.append(run)
                    }
                    return marked
                }
            }
            lost += batch
            if batch.count < 100 { return lost }
        }
    }

    // MARK: - Kill, history

    /// Cancels a run (if queued or running) or every active run of a job.
    /// A running run's supervisor sees its token fail at its next check and
    /// stops the process group; a killed run is never retried. Writes the
    /// `kill` audit row in the same transaction (none when nothing was
    /// active). Returns the runs cancelled.
    public static func kill(_ db: Connection, runID: Int64? = nil, jobID: Int64? = nil, by who: String) throws -> [Run]
    {
        try db.transaction { () throws -> [Run] in
            let rows: [Row]
            if let r = runID {
                rows = try db.query(
                    RunQueue.selectRuns + " WHERE id = ? AND state IN ('waiting', 'queued', 'running') FOR UPDATE",
                    [.int(r)]
                ).rows
            } else {
                rows = try db.query(
                    RunQueue.selectRuns + " WHERE job_id = ? AND state IN ('waiting', 'queued', 'running') FOR UPDATE",
                    [.int(jobID!)]
                ).rows
            }
            let runs = try rows.map(RunQueue.run(from:))
            for run in runs {
                try cancel(db, run.id, reason: "killed by \(who)")
            }
            if let first = runs.first {
                let changes =
                    runID != nil
                    ? [Audit.Change("state", .string(first.state.rawValue), .string(Run.State.cancelled.rawValue))]
                    : [Audit.Change("cancelled", .null, .array(runs.map { .int($0.id) }))]
                try AuditStore.record(
                    db, Audit.Record(.kill, by: who, job: first.jobName, run: runID, changes: changes))
            }
            return runs
        }
    }

    /// Cancels one queued or running run. A running run keeps its lease: it
    /// is *stopping* until its supervisor records the process group gone
    /// (`recordStopped`) or the lease lapses, and the job's next run waits.
    static func cancel(_ db: Connection, _ runID: Int64, reason: String) throws {
        let n = try db.execute(
            """
            UPDATE runs SET state = 'cancelled', reason = ?, ended_at = NOW(6)
            WHERE id = ? AND state IN ('waiting', 'queued', 'running')
            """, [.text(reason), .int(runID)])
        if n == 1 { try ended(db, [runID]) }
        try db.execute("DELETE FROM queue WHERE run_id = ?", [.int(runID)])
    }

    public static func get(_ db: Connection, _ runID: Int64) throws -> Run? {
        try db.query(RunQueue.selectRuns + " WHERE id = ?", [.int(runID)]).first.map(RunQueue.run(from:))
    }

    /// The states of these runs (a run that is not there is left out).
    public static func states(_ db: Connection, _ runIDs: [Int64]) throws -> [Int64: Run.State] {
        guard !runIDs.isEmpty else { return [:] }
        let rows = try db.query(
            "SELECT id, state FROM runs WHERE id IN (" + runIDs.map { _ in "?" }.joined(separator: ", ") + ")",
            runIDs.map { .int($0) }
        ).rows
        return Dictionary(try rows.map { (try $0.decode("id"), try $0.decode("state")) }) { a, _ in a }
    }

    /// The latest attempt of each of a job's runs for a logical date (or one
    /// fire time), by fire time — found through `(job_id, logical_date)`.
    public static func latestAttempts(_ db: Connection, jobID: Int64, date: String?, fire: Instant?) throws -> [Run] {
        let runs = try db.query(
            RunQueue.selectRuns
                + (fire == nil ? " WHERE job_id = ? AND logical_date = ?" : " WHERE job_id = ? AND fire_time = ?")
                + " ORDER BY fire_time, route_key, attempt, id LIMIT 100000",
            [.int(jobID), fire.map(Value.instant) ?? .text(date ?? "")]
        ).rows.map(RunQueue.run(from:))
        var latest: [String: Run] = [:]
        for r in runs { latest[String(r.fireTime.microseconds) + "\u{0}" + r.routeKey] = r }
        return latest.values.sorted { ($0.fireTime, $0.routeKey) < ($1.fireTime, $1.routeKey) }
    }

    /// A job's runs started (or, not yet started, queued) since `since`, newest first, at most `limit`.
    public static func history(_ db: Connection, job: String, since: Instant, limit: Int) throws -> [Run] {
        try db.query(
            RunQueue.selectRuns
                + " WHERE job_name = ? AND COALESCE(started_at, queued_at) >= ? ORDER BY id DESC LIMIT ?",
            [.text(job), since.sqlValue, .int(Int64(limit))]
        ).rows.map(RunQueue.run(from:))
    }

    /// A job's latest runs, newest first.
    public static func history(_ db: Connection, job: String, limit: Int) throws -> [Run] {
        try db.query(
            RunQueue.selectRuns + " WHERE job_name = ? ORDER BY id DESC LIMIT ?",
            [.text(job), .int(Int64(limit))]
        ).rows.map(RunQueue.run(from:))
    }
}
