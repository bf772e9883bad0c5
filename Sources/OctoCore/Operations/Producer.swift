import MariaDB
import OctoTime

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
        /// Waiting runs whose needs this produce found met (`NeedsStore.recheck`).
        public var released: [Int64] = []
    }

    /// Jobs handled per transaction.
    static let batchSize = 50

    public static func produce(_ db: Connection, settings: Settings, dryRun: Bool = false) throws -> Report {
        var report = Report()
        let due = try JobStore.dueJobIDs(db)
        // (each run this produce assigns counts on its machine from then on, so `least-loaded` spreads a minute's
        // fires instead of sending them all to the machine that was least loaded before the first)
        var live = try RunQueue.liveMachines(db, ttl: settings.machineTTL)
        // the graph, only where there is one: a fire of a job with needs is recorded waiting, and the jobs that
        // follow a job get their runs for its fires
        let graph =
            try due.isEmpty || !JobStore.anyNeeds(db)
            ? nil : NeedsStore.graph(db, defaultZone: settings.defaultTimezone)
        var start = 0
        while start < due.count {
            let batch = Array(due[start..<min(due.count, start + batchSize)])
            start += batchSize
            let before = live
            let part = try db.retrying { db in
                live = before  // a retried batch counts its runs once
                return try dryRun
                    ? produceBatch(db, batch, settings: settings, live: &live, graph: graph, write: false)
                    : db.transaction {
                        try produceBatch(db, batch, settings: settings, live: &live, graph: graph, write: true)
                    }
            }
            report.queued += part.queued
            report.skipped += part.skipped
            report.cancelled += part.cancelled
            report.problems += part.problems
        }
        if !dryRun {
            report.released = try NeedsStore.recheck(db)
            report.rerouted = try reroute(db, settings: settings, live: live)
        }
        return report
    }

    private static func produceBatch(
        _ db: Connection, _ ids: [Int64], settings: Settings, live: inout [LiveMachine], graph: NeedsStore.Graph?,
        write: Bool
    ) throws -> Report {
        var report = Report()
        let now = try JobStore.serverNow(db)
        for id in ids {
            guard let job = try JobStore.due(db, id: id, at: now, lock: write) else { continue }
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
            let counted = report.queued.count
            defer {
                for q in report.queued[counted...] {
                    if let m = q.machine, let i = live.firstIndex(where: { $0.name == m }) { live[i].running += 1 }
                }
            }
            // one plan per series: a broadcast job's runs on each machine are a series of their own (its
            // concurrency policy counts that machine's runs only); any other job is one series
            for (routeKey, routes) in Routing.series(Routing.routes(for: job, live: live)) {
                let mine = active.filter { $0.routeKey == routeKey }
                let plan = ProductionPlan.plan(
                    schedule: schedule, zone: zone, firstDue: job.nextFireAt!, now: now,
                    misfire: job.misfire, concurrency: job.effectiveConcurrency, activeRuns: mine.count,
                    misfireThreshold: settings.misfireThreshold)
                nextFire = plan.nextFire
                try carryOut(
                    plan, db, job, zone: zone, active: mine, routeKey: routeKey, routes: routes, graph: graph,
                    live: live, write: write, &report)
            }
            if write {
                try JobStore.setNextFire(db, id: id, nextFire)
            }
        }
        return report
    }

    /// Records one series' plan (with `write`; a dry run only reports it):
    /// cancels what `replace` replaces, records skipped fires, queues fires on every route.
    private static func carryOut(
        _ plan: ProductionPlan, _ db: Connection, _ job: Job, zone: Zone, active: [Run], routeKey: String,
        routes: [Routing.Route], graph: NeedsStore.Graph?, live: [LiveMachine], write: Bool, _ report: inout Report
    ) throws {
        if plan.cancelActive {
            for r in active {
                if write { try RunQueue.cancel(db, r.id, reason: "replaced by a newer fire (concurrency replace)") }
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
            if let graph, !job.needs.isEmpty || !graph.followers(of: job.name).isEmpty {
                try carryOut(f, db, job, routes: routes, graph: graph, live: live, write: write, &report)
                continue
            }
            for route in routes {
                var r = RunQueue.NewRun(fireTime: f.fireTime, trigger: f.trigger)
                r.logicalDate = zone.logicalDate(f.fireTime)
                r.route = route
                r.notBefore = f.fireTime
                let runID = write ? try RunQueue.enqueue(db, job: job, r) : nil
                report.queued.append(
                    Queued(
                        job: job.name, fireTime: f.fireTime, trigger: f.trigger, machine: route.machine, runID: runID))
            }
        }
    }

    /// One fire of a job in the graph: its run (waiting for its needs) and a run of each enabled job that follows
    /// it (`NeedsStore.Graph.followers`), routed by its own strategy, waiting for the run before it.
    private static func carryOut(
        _ f: ProductionPlan.Fire, _ db: Connection, _ job: Job, routes: [Routing.Route], graph: NeedsStore.Graph,
        live: [LiveMachine], write: Bool, _ report: inout Report
    ) throws {
        var specs = [NeedsStore.Spec(job: job, fireTime: f.fireTime, trigger: f.trigger)]
        specs[0].routes = routes
        specs[0].attempt = 1
        for follower in graph.followers(of: job.name) where !follower.paused {
            var s = NeedsStore.Spec(job: follower, fireTime: f.fireTime, trigger: f.trigger)
            s.routes = Routing.routes(for: follower, live: live)
            s.attempt = 1
            specs.append(s)
        }
        let ids = write ? try NeedsStore.record(db, specs, graph: graph) : specs.map { _ in [] }
        for (s, runIDs) in zip(specs, ids) {
            for (k, route) in s.routes.enumerated() {
                report.queued.append(
                    Queued(
                        job: s.job.name, fireTime: f.fireTime, trigger: f.trigger, machine: route.machine,
                        runID: k < runIDs.count ? runIDs[k] : nil))
            }
        }
    }

    /// Queued runs assigned to a machine that is no longer live (stale,
    /// draining, removed, or gone) get a new route by their job's strategy; a
    /// broadcast run for that machine is recorded as skipped instead.
    /// Returns the runs moved or skipped.
    public static func reroute(_ db: Connection, settings: Settings, live: [LiveMachine]) throws -> [Int64] {
        let liveNames = Set(live.map(\.name))
        let assigned = try RunQueue.assignedMachines(db)
        var moved: [Int64] = []
        for machine in assigned where !liveNames.contains(machine) {
            for a in try RunQueue.assignments(db, machine: machine) {
                if try move(db, a, live: live, why: "machine \(machine) was not live before it could claim the run") {
                    moved.append(a.runID)
                }
            }
        }
        // runs assigned to a live machine that may no longer run them (the job's user or target was edited, the
        // machine left a group): the claim never takes them, so they go elsewhere (a broadcast run is skipped)
        guard !assigned.isEmpty else { return moved }
        let ineligible = try RunQueue.ineligibleAssignments(db)
        for a in ineligible {
            if try move(
                db, a, live: live.filter { $0.name != a.machine },
                why: "machine \(a.machine) may not run it (the job's user or target, or the machine's groups, changed)")
            {
                moved.append(a.runID)
            }
        }
        return moved
    }

    /// Moves one queued run assigned to a machine to where its job's routing sends it among `live`, or — a
    /// broadcast run, which belongs to that machine — ends it `skipped` saying `why`. False when another
    /// producer or a claim got to it first.
    private static func move(_ db: Connection, _ a: RunQueue.Assignment, live: [LiveMachine], why: String) throws
        -> Bool
    {
        try db.retrying { db in
            try db.transaction { () throws -> Bool in
                guard try RunQueue.lockAssignment(db, a) else { return false }
                if !a.routeKey.isEmpty {
                    try RunQueue.finishQueued(db, a.runID, state: .skipped, reason: why)
                    return true
                }
                guard let job = try JobStore.get(db, id: a.jobID) else { return false }
                let route = Routing.routes(for: job, live: live).first ?? .anyone
                try RunQueue.assign(db, a.runID, to: route.machine)
                return true
            }
        }
    }
}
