import MariaDB
import OctoTime

/// Dependencies at run time: the `waiting` runs and, in `run_needs`, what
/// each waits for.
///
/// - A run of a job with needs is recorded `waiting`, with one row per
///   upstream fire it needs (`FireMatching`), marked `met` at once when a run
///   of that upstream for that fire already succeeded or was passed; with
///   every row met it is queued at once.
/// - When runs end (`RunQueue.ended`, in the transaction that ends them),
///   the rows that name them are found by (upstream, fire time) — an index,
///   never the history — marked met, and each waiting run they belong to is
///   locked and released if nothing unmet is left (`release`): the last of
///   several upstreams ending at once sees the others' rows committed, so a
///   waiting run is never forgotten, and the conditional update makes it
///   queued exactly once.
/// - Every `produce` re-checks the waiting runs' unmet rows (`recheck`):
///   a need met while its waiting run was being recorded, or one forgotten
///   by `rm --force`, goes on at the next tick.
public enum NeedsStore {
    /// The jobs of the graph, for planning runs: how each one's fires are
    /// timed, and who follows whom.
    public struct Graph: Sendable {
        public let jobs: [String: Job]
        let defaultZone: String
        public let dependencies: DependencyGraph
        /// Each job's place in `dependencies.order` (by name for a graph with a cycle).
        private let rank: [String: Int]
        /// The jobs without a schedule whose first need is the key, sorted by name.
        private let followedBy: [String: [String]]

        /// Computed once per graph (a produce of a 1,000-job graph asks for followers and order per fire).
        public init(jobs: [Job], defaultZone: String) {
            let byName = Dictionary(jobs.map { ($0.name, $0) }, uniquingKeysWith: { a, _ in a })
            self.jobs = byName
            self.defaultZone = defaultZone
            dependencies = DependencyGraph(byName.mapValues(\.needs))
            let order = dependencies.order ?? byName.keys.sorted()
            rank = Dictionary(order.enumerated().map { ($1, $0) }, uniquingKeysWith: { a, _ in a })
            var followed: [String: [String]] = [:]
            for j in byName.values where j.schedule.isEmpty {
                if let first = j.needs.first { followed[first, default: []].append(j.name) }
            }
            followedBy = followed.mapValues { $0.sorted() }
        }

        /// The job whose schedule `job`'s fires follow: itself, or — without a schedule — its first need's leader.
        public func leader(of job: Job) -> Job {
            var j = job
            var seen: Set<String> = [j.name]
            while j.schedule.isEmpty, let first = j.needs.first, let up = jobs[first], seen.insert(up.name).inserted {
                j = up
            }
            return j
        }

        /// The schedule `job`'s fires follow and the zone it is read in (nil when either cannot be read).
        public func timing(of job: Job) -> (schedule: Schedule, zone: Zone)? {
            let l = leader(of: job)
            guard let s = try? l.parsedSchedule(), let z = try? l.zone(default: defaultZone) else { return nil }
            return (s, z)
        }

        /// The calendar date of `t` in the job's own zone.
        public func logicalDate(of job: Job, at t: Instant) -> String {
            ((try? job.zone(default: defaultZone)) ?? Zone.utc).logicalDate(t)
        }

        /// Jobs without a schedule whose first need is `name`, and theirs, in graph order: they get a run for each
        /// fire of `name` (a scheduled fire, or a manual run of a manual-only job).
        public func followers(of name: String) -> [Job] {
            var out: [Job] = []
            var seen: Set<String> = [name]
            var frontier = [name]
            while let n = frontier.popLast() {
                for f in followedBy[n] ?? [] where seen.insert(f).inserted {
                    out.append(jobs[f]!)
                    frontier.append(f)
                }
            }
            return ordered(out)
        }

        /// `list` in an order where every job comes after those it needs.
        public func ordered(_ list: [Job]) -> [Job] {
            return list.sorted { (rank[$0.name] ?? 0, $0.name) < (rank[$1.name] ?? 0, $1.name) }
        }

        /// Each need of `job` for a run at `t`: the upstream job and the fire times of it the run waits for.
        public func needs(of job: Job, at t: Instant) -> [(upstream: Job, fires: [Instant])] {
            guard let down = timing(of: job) else { return [] }
            return job.needs.compactMap { name in
                guard let up = jobs[name] else { return nil }
                guard let upTiming = timing(of: up) else { return (up, [t]) }
                switch FireMatching.upstreamFires(
                    of: upTiming.schedule, in: upTiming.zone, forDownstream: down.schedule, in: down.zone, at: t)
                {
                case .fires(let f): return (up, f)
                case .runsAt(let f): return (up, [f])
                }
            }
        }
    }

    /// The graph as the caller's transaction sees it.
    public static func graph(_ db: Connection, defaultZone: String) throws -> Graph {
        Graph(jobs: try JobStore.all(db), defaultZone: defaultZone)
    }

    /// One run to record for a job and fire time.
    public struct Spec: Sendable {
        public var job: Job
        public var fireTime: Instant
        public var trigger: Run.Trigger
        public var routes: [Routing.Route] = [.anyone]
        /// nil: the fire time (a manual run: now).
        public var notBefore: Instant?
        /// nil: the next attempt of (job, fire time).
        public var attempt: Int?
        public var cursor: String?
        public var forced = false
        /// Queued at once, whatever its needs (`sh run --ignore-needs`).
        public var ignoreNeeds = false
        /// The index (in the same batch) of a run of this job that must end first (`backfill --max-parallel`).
        public var after: Int?
        /// A run of (job, fire time) that still waits takes this spec's needs instead of a new run being
        /// recorded (a rerun's downstream while the old run waits for a failed upstream): one run per period.
        public var adoptWaiting = false
        /// A run of (job, fire time) that still waits is cancelled, replaced by this spec's run (the job asked
        /// for itself: `sh run --fire`, `--upstream`, `backfill`): the two would otherwise both be released
        /// when the upstream succeeds — two runs for one period.
        public var replaceWaiting = false

        public init(job: Job, fireTime: Instant, trigger: Run.Trigger) {
            (self.job, self.fireTime, self.trigger) = (job, fireTime, trigger)
        }
    }

    /// One row of `run_needs` before it is written.
    struct NeedRow {
        var upstream: Job
        var fireTime: Instant
        var kind: Int  // 0 a success, 1 an end (see the table)
        var minRunID: Int64
        var met: Bool
    }

    /// Records `specs` in order, inside the caller's transaction; a spec's
    /// need for a (job, fire time) recorded earlier in the batch waits for
    /// that new run (a rerun's downstream), any other need for any success
    /// of it. Returns each spec's run ids (none when that run existed).
    @discardableResult
    public static func record(_ db: Connection, _ specs: [Spec], graph: Graph) throws -> [[Int64]] {
        var adopted: Set<Int64> = []
        var replaced: [Int64] = []
        return try record(db, specs, graph: graph, adopted: &adopted, replaced: &replaced)
    }

    /// `record`, with the waiting runs that took a spec's needs (`Spec.adoptWaiting`) added to `adopted` (they
    /// are among the ids returned) and those cancelled for a spec's new run (`Spec.replaceWaiting`) to `replaced`.
    public static func record(
        _ db: Connection, _ specs: [Spec], graph: Graph, adopted: inout Set<Int64>, replaced: inout [Int64]
    ) throws -> [[Int64]] {
        var created: [String: Int64] = [:]  // "job\0fire µs" → the batch's first run of it
        var out: [[Int64]] = []
        let needs = specs.map { $0.ignoreNeeds ? [] : graph.needs(of: $0.job, at: $0.fireTime) }
        // every (upstream, fire) needed that no earlier spec of the batch records, looked up in one read
        var firstSpec: [String: Int] = [:]
        for (i, s) in specs.enumerated() where firstSpec[key(s.job.name, s.fireTime)] == nil {
            firstSpec[key(s.job.name, s.fireTime)] = i
        }
        var wanted: [(upstream: Job, fires: [Instant])] = []
        for (i, list) in needs.enumerated() {
            for (up, fires) in list {
                let outside = fires.filter { firstSpec[key(up.name, $0)].map { $0 >= i } ?? true }
                if !outside.isEmpty { wanted.append((up, outside)) }
            }
        }
        var looked = Set(wanted.flatMap { w in w.fires.map { key(w.upstream.name, $0) } })
        var succeeded = try succeededFires(db, wanted)
        for (spec, list) in zip(specs, needs) {
            var rows: [NeedRow] = []
            for (up, fires) in list {
                // a fire recorded earlier in the batch waits for that new run; one that was not (it existed) is
                // looked up now
                let late = fires.filter { created[key(up.name, $0)] == nil && !looked.contains(key(up.name, $0)) }
                if !late.isEmpty {
                    succeeded.formUnion(try succeededFires(db, [(up, late)]))
                    looked.formUnion(late.map { key(up.name, $0) })
                }
                for f in fires {
                    if let id = created[key(up.name, f)] {
                        rows.append(NeedRow(upstream: up, fireTime: f, kind: 0, minRunID: id, met: false))
                    } else {
                        rows.append(
                            NeedRow(
                                upstream: up, fireTime: f, kind: 0, minRunID: 0,
                                met: succeeded.contains(key(up.name, f))))
                    }
                }
            }
            if spec.adoptWaiting, let waiting = try adopt(db, spec, rows), !waiting.isEmpty {
                adopted.formUnion(waiting)
                created[key(spec.job.name, spec.fireTime)] = waiting[0]
                out.append(waiting)
                continue
            }
            // the runs of this fire (on the spec's routes) that still wait, to be replaced once the new one is
            // recorded
            var toReplace: [Int64] = []
            if spec.replaceWaiting {
                let keys = Array(Set(spec.routes.map(\.routeKey)))
                toReplace = try db.query(
                    "SELECT id FROM runs WHERE job_id = ? AND fire_time = ? AND state = 'waiting' AND route_key IN "
                        + RunQueue.placeholders(keys.count) + " ORDER BY id FOR UPDATE",
                    [.int(spec.job.id!), .instant(spec.fireTime)] + keys.map(Value.text)
                ).rows.map { try $0.decode("id", as: Int64.self) }
            }
            if let a = spec.after, a < out.count, let prior = out[a].first {
                rows.append(
                    NeedRow(upstream: spec.job, fireTime: specs[a].fireTime, kind: 1, minRunID: prior, met: false))
            }
            let attempt = try spec.attempt ?? nextAttempt(db, spec.job.id!, spec.fireTime)
            var ids: [Int64] = []
            for route in spec.routes {
                var r = RunQueue.NewRun(fireTime: spec.fireTime, trigger: spec.trigger)
                r.logicalDate = graph.logicalDate(of: spec.job, at: spec.fireTime)
                r.attempt = attempt
                r.route = route
                r.notBefore = spec.notBefore ?? spec.fireTime
                r.cursor = spec.cursor
                r.forced = spec.forced
                r.state = rows.allSatisfy(\.met) ? .queued : .waiting
                guard let id = try RunQueue.enqueue(db, job: spec.job, r) else { continue }
                try insert(db, rows, runID: id)
                ids.append(id)
            }
            if let first = ids.first {
                created[key(spec.job.name, spec.fireTime)] = first
                for id in toReplace {
                    // a run that waits for the end of the replaced one (a backfill's next) waits for the new one
                    // instead: cancelling would end it and let that run start early
                    try db.execute(
                        "UPDATE run_needs SET min_run_id = ? WHERE kind = 1 AND met = 0 AND min_run_id = ?",
                        [.int(first), .int(id)])
                    try RunQueue.cancel(
                        db, id, reason: "replaced by a new \(spec.trigger.rawValue) run for the same fire")
                }
                replaced += toReplace
            }
            out.append(ids)
        }
        return out
    }

    /// The waiting runs of the spec's (job, fire time), locked, now waiting for `rows` instead of the successes
    /// they waited for (their `after` rows stay); nil when none waits.
    private static func adopt(_ db: Connection, _ spec: Spec, _ rows: [NeedRow]) throws -> [Int64]? {
        let waiting = try db.query(
            "SELECT id FROM runs WHERE job_id = ? AND fire_time = ? AND state = 'waiting' ORDER BY id FOR UPDATE",
            [.int(spec.job.id!), .instant(spec.fireTime)]
        ).rows.map { try $0.decode("id", as: Int64.self) }
        guard !waiting.isEmpty else { return nil }
        for id in waiting {
            try db.execute("DELETE FROM run_needs WHERE run_id = ? AND kind = 0", [.int(id)])
            try insert(db, rows, runID: id)
            // it waits afresh, for the new runs: `needs_timeout` counts from now, not from its first wait
            try db.execute("UPDATE runs SET queued_at = NOW(6) WHERE id = ?", [.int(id)])
        }
        try release(db, waiting)
        return waiting
    }

    private static func key(_ job: String, _ t: Instant) -> String { job + "\u{0}" + String(t.microseconds) }

    /// Which of the (upstream, fires) pairs have a run that succeeded or was passed, as `key(upstream, fire)`:
    /// one read of a range per upstream entry (in statements of up to 100 ranges).
    static func succeededFires(_ db: Connection, _ wanted: [(upstream: Job, fires: [Instant])]) throws -> Set<String> {
        var out: Set<String> = []
        var start = 0
        while start < wanted.count {
            let chunk = wanted[start..<min(wanted.count, start + 100)]
            start += 100
            var ranges: [String] = []
            var values: [Value] = []
            var names: [Int64: String] = [:]
            for w in chunk {
                guard let lo = w.fires.min(), let hi = w.fires.max() else { continue }
                ranges.append("(job_id = ? AND fire_time BETWEEN ? AND ?)")
                values += [.int(w.upstream.id!), .instant(lo), .instant(hi)]
                names[w.upstream.id!] = w.upstream.name
            }
            guard !ranges.isEmpty else { continue }
            for row in try db.query(
                "SELECT DISTINCT job_id, fire_time FROM runs WHERE state IN ('succeeded', 'passed') AND ("
                    + ranges.joined(separator: " OR ") + ")", values
            ).rows {
                let id: Int64 = try row.decode("job_id")
                out.insert(key(names[id] ?? "", try row.decode("fire_time", as: Instant.self)))
            }
        }
        return out
    }

    /// The attempt after every run of (job, fire time) so far.
    static func nextAttempt(_ db: Connection, _ jobID: Int64, _ t: Instant) throws -> Int {
        try db.query(
            "SELECT COALESCE(MAX(attempt), 0) + 1 AS n FROM runs WHERE job_id = ? AND fire_time = ?",
            [.int(jobID), .instant(t)]
        ).first!.decode("n")
    }

    private static func insert(_ db: Connection, _ rows: [NeedRow], runID: Int64) throws {
        var start = 0
        while start < rows.count {
            let chunk = rows[start..<min(rows.count, start + 256)]
            start += 256
            try db.execute(
                "INSERT IGNORE INTO run_needs (run_id, upstream_id, upstream_name, fire_time, kind, min_run_id, met) VALUES "
                    + Array(repeating: "(?, ?, ?, ?, ?, ?, ?)", count: chunk.count).joined(separator: ", "),
                chunk.flatMap { r -> [Value] in
                    [
                        .int(runID), .int(r.upstream.id!), .text(r.upstream.name), .instant(r.fireTime),
                        .int(Int64(r.kind)), .int(r.minRunID), .int(r.met ? 1 : 0)
                    ]
                })
        }
    }

    // MARK: - Release

    /// Runs `ids` just ended (the caller's transaction): the unmet rows they
    /// meet are marked, and the waiting runs those rows belong to released
    /// if nothing else is left. One indexed read when nothing waits for them.
    static func ended(_ db: Connection, _ ids: [Int64]) throws {
        let padded = RunQueue.padded(ids)
        let rows = try db.query(
            """
            SELECT rn.run_id, rn.upstream_id, rn.fire_time, rn.kind, r.id AS ended_run FROM runs r
            JOIN run_needs rn ON rn.upstream_id = r.job_id AND rn.fire_time = r.fire_time
            WHERE r.id IN \(RunQueue.placeholders(padded.count)) AND rn.met = 0
              AND ((rn.kind = 0 AND r.state IN ('succeeded', 'passed') AND rn.min_run_id <= r.id)
                OR (rn.kind = 1 AND rn.min_run_id = r.id))
            """, padded.map(Value.int)
        ).rows
        guard !rows.isEmpty else { return }
        var waiting: Set<Int64> = []
        for row in rows {
            let runID: Int64 = try row.decode("run_id")
            // the row as it was read: a rerun that made it wait for a newer run meanwhile (`adopt`, at READ
            // COMMITTED) has replaced it with one this run does not meet
            let n = try db.execute(
                """
                UPDATE run_needs SET met = 1 WHERE run_id = ? AND upstream_id = ? AND fire_time = ? AND kind = ?
                  AND met = 0 AND ((kind = 0 AND min_run_id <= ?) OR (kind = 1 AND min_run_id = ?))
                """,
                [
                    .int(runID), .int(try row.decode("upstream_id")), .instant(try row.decode("fire_time")),
                    .int(try row.decode("kind")), .int(try row.decode("ended_run")), .int(try row.decode("ended_run"))
                ])
            if n > 0 { waiting.insert(runID) }
        }
        try release(db, Array(waiting))
    }

    /// Queues those of the waiting runs `ids` with nothing unmet, in
    /// fire-time order, each exactly once (locked, then changed only while
    /// still waiting). Their start time becomes now if it was earlier, so a
    /// run that waited is not taken for one nobody claims. Returns the runs released.
    @discardableResult
    static func release(_ db: Connection, _ ids: [Int64]) throws -> [Int64] {
        guard !ids.isEmpty else { return [] }
        let padded = RunQueue.padded(ids.sorted())
        let inList = RunQueue.placeholders(padded.count)
        let values = padded.map(Value.int)
        // locked first: whoever meets a run's last need after this sees every other one's committed rows
        let locked = try db.query(
            "SELECT id FROM runs WHERE id IN \(inList) AND state = 'waiting' ORDER BY id FOR UPDATE", values
        ).rows.map { try $0.decode("id", as: Int64.self) }
        guard !locked.isEmpty else { return [] }
        let lockedPadded = RunQueue.padded(locked)
        let lockedIn = RunQueue.placeholders(lockedPadded.count)
        let unmet = Set(
            try db.query(
                "SELECT DISTINCT run_id FROM run_needs WHERE run_id IN \(lockedIn) AND met = 0",
                lockedPadded.map(Value.int)
            ).rows.map { try $0.decode("run_id", as: Int64.self) })
        let ready = locked.filter { !unmet.contains($0) }
        guard !ready.isEmpty else { return [] }
        let readyPadded = RunQueue.padded(ready)
        let readyIn = RunQueue.placeholders(readyPadded.count)
        let readyValues = readyPadded.map(Value.int)
        try db.execute(
            """
            UPDATE runs SET state = 'queued', not_before = GREATEST(not_before, NOW(6))
            WHERE id IN \(readyIn) AND state = 'waiting'
            """, readyValues)
        // in fire-time order: a claim takes the oldest start first, then the lowest id
        try db.execute(
            """
            INSERT IGNORE INTO queue (run_id, job_id, machine, route_key, run_user, target, forced, not_before)
            SELECT r.id, r.job_id, r.machine, r.route_key, j.run_user, j.target, r.forced, r.not_before
            FROM runs r JOIN jobs j ON j.id = r.job_id WHERE r.id IN \(readyIn) AND r.state = 'queued'
            ORDER BY r.fire_time, r.id
            """, readyValues)
        return ready
    }

    /// `produce`'s re-check: every waiting run's unmet rows are compared
    /// with the runs as they are now (a need met while its waiting run was
    /// being recorded), and every waiting run with nothing unmet is
    /// released. Reads the waiting runs through their index, never history.
    /// Returns the runs released.
    public static func recheck(_ db: Connection) throws -> [Int64] {
        try db.retrying { db in
            try db.transaction { () throws -> [Int64] in
                try db.execute(
                    """
                    UPDATE run_needs rn JOIN runs w ON w.id = rn.run_id SET rn.met = 1
                    WHERE w.state = 'waiting' AND rn.met = 0 AND (
                      (rn.kind = 0 AND EXISTS (SELECT 1 FROM runs u WHERE u.job_id = rn.upstream_id
                         AND u.fire_time = rn.fire_time AND u.id >= rn.min_run_id AND u.state IN ('succeeded', 'passed')))
                      OR (rn.kind = 1 AND EXISTS (SELECT 1 FROM runs u WHERE u.id = rn.min_run_id
                         AND u.state NOT IN ('waiting', 'queued', 'running'))))
                    """)
                let ready = try db.query(
                    """
                    SELECT w.id FROM runs w WHERE w.state = 'waiting'
                      AND NOT EXISTS (SELECT 1 FROM run_needs rn WHERE rn.run_id = w.id AND rn.met = 0)
                    ORDER BY w.fire_time, w.id LIMIT 1000
                    """
                ).rows.map { try $0.decode("id", as: Int64.self) }
                return try release(db, ready)
            }
        }
    }

    /// The waiting runs of a job.
    static func waitingRuns(_ db: Connection, jobID: Int64) throws -> [Int64] {
        try db.query("SELECT id FROM runs WHERE job_id = ? AND state = 'waiting'", [.int(jobID)]).rows.map {
            try $0.decode("id")
        }
    }

    /// Waiting runs stop waiting for a removed job (`rm --force`).
    static func forget(_ db: Connection, upstreamID: Int64) throws {
        try db.execute(
            """
            DELETE rn FROM run_needs rn JOIN runs w ON w.id = rn.run_id
            WHERE rn.upstream_id = ? AND rn.kind = 0 AND w.state = 'waiting'
            """, [.int(upstreamID)])
    }

    // MARK: - Reading

    /// One unmet need of a waiting run, with the latest run of that upstream for that fire (if any).
    public struct Unmet: Sendable, Equatable {
        public var runID: Int64
        public var job: String
        public var upstream: String
        public var fireTime: Instant
        /// An end rather than a success (`backfill --max-parallel`): the run `latestRun` must end.
        public var afterRun: Bool
        public var latestRun: Int64?
        public var latestState: Run.State?
        public var waitingSince: Instant

        /// The upstream's latest run for the fire ended without meeting the need, and none follows it.
        public var isBlocked: Bool {
            guard !afterRun, let s = latestState else { return false }
            return s.isFinished && !s.meetsNeeds
        }
    }

    /// The unmet needs of waiting runs (of `runIDs`, or all), oldest first.
    public static func unmet(_ db: Connection, runIDs: [Int64]? = nil, limit: Int = 10_000) throws -> [Unmet] {
        var sql = """
            SELECT rn.run_id, w.job_name, w.queued_at, rn.upstream_name, rn.fire_time, rn.kind, rn.min_run_id,
              (SELECT u.id FROM runs u WHERE u.job_id = rn.upstream_id AND u.fire_time = rn.fire_time
                 AND u.id >= rn.min_run_id ORDER BY u.attempt DESC, u.id DESC LIMIT 1) AS latest
            FROM runs w JOIN run_needs rn ON rn.run_id = w.id
            WHERE w.state = 'waiting' AND rn.met = 0
            """
        var values: [Value] = []
        if let ids = runIDs {
            guard !ids.isEmpty else { return [] }
            let padded = RunQueue.padded(ids)
            sql += " AND w.id IN " + RunQueue.placeholders(padded.count)
            values = padded.map(Value.int)
        }
        sql += " ORDER BY rn.run_id, rn.fire_time LIMIT ?"
        values.append(limit.sqlValue)
        let rows = try db.query(sql, values).rows
        var states: [Int64: Run.State] = [:]
        // the run each row is about: the upstream's latest for the fire, or (an end awaited) the run named
        let latest = try rows.compactMap { row -> Int64? in
            try row.decode("kind", as: Int.self) == 1 ? try row.decode("min_run_id") : try row.decode("latest")
        }
        if !latest.isEmpty {
            let padded = RunQueue.padded(latest)
            for r in try db.query(
                "SELECT id, state FROM runs WHERE id IN " + RunQueue.placeholders(padded.count), padded.map(Value.int)
            ).rows {
                states[try r.decode("id")] = try r.decode("state")
            }
        }
        return try rows.map { row in
            let kind: Int = try row.decode("kind")
            let latestID: Int64? = kind == 1 ? try row.decode("min_run_id") : try row.decode("latest")
            let state = latestID.flatMap { states[$0] }
            return Unmet(
                runID: try row.decode("run_id"), job: try row.decode("job_name"),
                upstream: try row.decode("upstream_name"), fireTime: try row.decode("fire_time"), afterRun: kind == 1,
                latestRun: latestID, latestState: state, waitingSince: try row.decode("queued_at"))
        }
    }

    /// Waiting runs that have waited for their needs longer than `seconds`, oldest first: recorded (or made
    /// to wait afresh by a rerun) that long ago, and — a backfill run after an earlier one of its job — the
    /// earlier one ended that long ago (waiting for its turn is not waiting for a need: a backfill longer than
    /// the timeout would otherwise lose its later runs, and each skip would start the next one early).
    public static func overdue(_ db: Connection, seconds: Int64) throws -> [Run] {
        try db.query(
            RunQueue.selectRuns
                + """
                 WHERE state = 'waiting' AND queued_at < NOW(6) - INTERVAL ? SECOND
                  AND NOT EXISTS (SELECT 1 FROM run_needs rn LEFT JOIN runs p ON p.id = rn.min_run_id
                    WHERE rn.run_id = runs.id AND rn.kind = 1
                      AND (rn.met = 0 OR (p.id IS NOT NULL AND p.ended_at >= NOW(6) - INTERVAL ? SECOND)))
                 ORDER BY queued_at LIMIT 1000
                """,
            [.int(seconds), .int(seconds)]
        ).rows.map(RunQueue.run(from:))
    }

    /// Ends a waiting run `skipped` (its needs were not met in time), saying why. False if it was not waiting.
    public static func skip(_ db: Connection, _ runID: Int64, reason: String) throws -> Bool {
        try db.transaction { () throws -> Bool in
            let n = try db.execute(
                "UPDATE runs SET state = 'skipped', reason = LEFT(?, 255), ended_at = NOW(6) WHERE id = ? AND state = 'waiting'",
                [.text(reason), .int(runID)])
            if n == 1 { try RunQueue.ended(db, [runID]) }
            return n == 1
        }
    }
}
