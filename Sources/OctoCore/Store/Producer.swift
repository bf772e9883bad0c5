import MariaDB

/// `octo produce`: queues every due fire of every enabled job since its last
/// production, and re-routes queued runs whose machine went away.
///
/// Idempotent across any number of producers: each due job is taken under
/// its row lock (`FOR UPDATE SKIP LOCKED`: a job another producer holds is
/// left to it), its fires are planned (`ProductionPlan`), and its
/// `next_fire_at` moves past now in the same short transaction; the
/// `UNIQUE(job, fire time, attempt, route)` key would refuse a duplicate
/// anyway. The work is proportional to the due jobs: they are found through
/// the `(paused, next_fire_at)` index.
public enum Producer {
    public struct Queued: Sendable, Equatable {
        public var job: String
        public var fireTime: Instant
        public var trigger: Run.Trigger
        public var machine: String?
        /// nil in a dry run.
        public var runID: Int64?
    }
    public struct Skipped: Sendable, Equatable {
        public var job: String
        public var fireTime: Instant
        public var reason: String
    }
    public struct Report: Sendable {
        public var queued: [Queued] = []
        public var skipped: [Skipped] = []
        /// Runs cancelled by the `replace` policy.
        public var cancelled: [Int64] = []
        /// Queued runs moved off a machine that went stale, was drained or removed.
        public var rerouted: [Int64] = []
        /// Jobs that could not be planned (e.g. their time zone disappeared), one line each.
        public var problems: [String] = []
    }

    /// Jobs handled per transaction.
    static let batchSize = 50

    public static func produce(_ db: Connection, settings: Settings, dryRun: Bool = false) throws -> Report {
        var report = Report()
        let due: [Int64] = try db.query("SELECT id FROM jobs WHERE paused = 0 AND next_fire_at <= NOW(6) ORDER BY id")
            .rows.map { try $0.decode("id") }
        let live = try RunQueue.liveMachines(db, ttl: settings.machineTTL)
        var start = 0
        while start < due.count {
            let batch = Array(due[start..<min(due.count, start + batchSize)])
            start += batchSize
            let part = try db.retrying { db in
                try dryRun
                    ? produceBatch(db, batch, settings: settings, live: live, write: false)
                    : db.transaction { try produceBatch(db, batch, settings: settings, live: live, write: true) }
            }
            report.queued += part.queued
            report.skipped += part.skipped
            report.cancelled += part.cancelled
            report.problems += part.problems
        }
        if !dryRun { report.rerouted = try reroute(db, settings: settings, live: live) }
        return report
    }

    private static func produceBatch(
        _ db: Connection, _ ids: [Int64], settings: Settings, live: [LiveMachine], write: Bool
    ) throws -> Report {
        var report = Report()
        let now = try JobStore.serverNow(db)
        for id in ids {
            let lock = write ? " FOR UPDATE SKIP LOCKED" : ""
            guard
                let row = try db.query(
                    JobStore.selectJobs + " WHERE id = ? AND paused = 0 AND next_fire_at <= ?" + lock,
                    [.int(id), .instant(now)]
                ).first
            else { continue }
            let job = try JobStore.job(from: row)
            let schedule: Schedule
            let zone: Zone
            do {
                schedule = try job.parsedSchedule()
                zone = try job.zone(default: settings.defaultTimezone)
            } catch {
                report.problems.append("job \(job.name): \(error.message)")
                continue
            }
            let active = try RunQueue.activeRuns(db, jobID: id)
            var nextFire: Instant?
            // one plan per series: a broadcast job's runs on each machine are a series of their own (its
            // concurrency policy counts that machine's runs only); any other job is one series
            for (routeKey, routes) in Routing.series(Routing.routes(for: job, live: live)) {
                let mine = active.filter { $0.routeKey == routeKey }
                let plan = ProductionPlan.plan(
                    schedule: schedule, zone: zone, firstDue: job.nextFireAt!, now: now,
                    misfire: job.misfire, concurrency: job.concurrency, activeRuns: mine.count,
                    misfireThreshold: settings.misfireThreshold)
                nextFire = plan.nextFire
                if plan.cancelActive {
                    for r in mine {
                        if write {
                            try RunQueue.cancel(db, r.id, reason: "replaced by a newer fire (concurrency replace)")
                        }
                        report.cancelled.append(r.id)
                    }
                }
                for s in plan.skip {
                    var r = RunQueue.NewRun(fireTime: s.fireTime, trigger: .schedule)
                    r.route = routeKey.isEmpty ? .anyone : routes[0]
                    r.state = .skipped
                    r.reason = s.reason
                    if write { try RunQueue.enqueue(db, job: job, r) }
                    report.skipped.append(Skipped(job: job.name, fireTime: s.fireTime, reason: s.reason))
                }
                for f in plan.queue {
                    for route in routes {
                        var r = RunQueue.NewRun(fireTime: f.fireTime, trigger: f.trigger)
                        r.route = route
                        r.notBefore = f.fireTime
                        let runID = write ? try RunQueue.enqueue(db, job: job, r) : nil
                        report.queued.append(
                            Queued(
                                job: job.name, fireTime: f.fireTime, trigger: f.trigger, machine: route.machine,
                                runID: runID))
                    }
                }
            }
            if write {
                try db.execute(
                    "UPDATE jobs SET next_fire_at = ? WHERE id = ?", [nextFire.map(Value.instant) ?? .null, .int(id)])
            }
        }
        return report
    }

    /// Queued runs assigned to a machine that is no longer live (stale,
    /// draining, removed, or gone) get a new route by their job's strategy; a
    /// broadcast run for that machine is recorded as skipped instead.
    /// Returns the runs moved or skipped.
    public static func reroute(_ db: Connection, settings: Settings, live: [LiveMachine]) throws -> [Int64] {
        let liveNames = Set(live.map(\.name))
        let assigned: [String] = try db.query("SELECT DISTINCT machine FROM queue WHERE machine IS NOT NULL").rows.map {
            try $0.decode("machine")
        }
        var moved: [Int64] = []
        for machine in assigned where !liveNames.contains(machine) {
            let rows = try db.query(
                "SELECT q.run_id, q.job_id, r.route_key FROM queue q JOIN runs r ON r.id = q.run_id WHERE q.machine = ?",
                [.text(machine)]
            ).rows
            for row in rows {
                if try move(
                    db, row, from: machine, live: live,
                    why: "machine \(machine) was not live before it could claim the run")
                {
                    moved.append(try row.decode("run_id"))
                }
            }
        }
        // runs assigned to a live machine that may no longer run them (the job's user or target was edited, the
        // machine left a group): the claim never takes them, so they go elsewhere (a broadcast run is skipped)
        guard !assigned.isEmpty else { return moved }
        let ineligible = try db.query(
            """
            SELECT q.run_id, q.job_id, q.machine, r.route_key FROM queue q JOIN machines m ON m.name = q.machine JOIN runs r ON r.id = q.run_id
            WHERE NOT ((q.run_user = '' OR q.run_user = m.unix_user)
              AND (q.target = 'any' OR FIND_IN_SET(m.name, q.target) > 0
                   OR (q.target LIKE 'group:%' AND FIND_IN_SET(SUBSTRING(q.target, 7), m.groups_list) > 0)))
            """
        ).rows
        for row in ineligible {
            let machine: String = try row.decode("machine")
            if try move(
                db, row, from: machine, live: live.filter { $0.name != machine },
                why: "machine \(machine) may not run it (the job's user or target, or the machine's groups, changed)")
            {
                moved.append(try row.decode("run_id"))
            }
        }
        return moved
    }

    /// Moves one queued run assigned to `machine` to where its job's routing sends it among `live`, or — a
    /// broadcast run, which belongs to that machine — ends it `skipped` saying `why`. False when another
    /// producer or a claim got to it first.
    private static func move(_ db: Connection, _ row: Row, from machine: String, live: [LiveMachine], why: String)
        throws -> Bool
    {
        let runID: Int64 = try row.decode("run_id")
        let routeKey: String = try row.decode("route_key")
        return try db.retrying { db in
            try db.transaction { () throws -> Bool in
                guard
                    try db.query(
                        "SELECT run_id FROM queue WHERE run_id = ? AND machine = ? FOR UPDATE SKIP LOCKED",
                        [.int(runID), .text(machine)]
                    ).first != nil
                else { return false }
                if !routeKey.isEmpty {
                    try RunQueue.finishQueued(db, runID, state: .skipped, reason: why)
                    return true
                }
                guard
                    let jr = try db.query(JobStore.selectJobs + " WHERE id = ?", [.int(try row.decode("job_id"))]).first
                else { return false }
                let route = Routing.routes(for: try JobStore.job(from: jr), live: live).first ?? .anyone
                let m: Value = route.machine.map(Value.text) ?? .null
                try db.execute("UPDATE queue SET machine = ? WHERE run_id = ?", [m, .int(runID)])
                try db.execute("UPDATE runs SET machine = ? WHERE id = ? AND state = 'queued'", [m, .int(runID)])
                return true
            }
        }
    }
}
