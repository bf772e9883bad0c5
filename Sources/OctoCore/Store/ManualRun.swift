import MariaDB
import OctoTime

extension RunQueue {
    /// What `octo sh run` asks for beyond the job.
    public struct RunRequest: Sendable {
        /// nil: a manual fire now.
        public var fires: [Instant]?
        public var downstream = false
        public var upstream = false
        public var ignoreNeeds = false
        public var cursor: String?
        public var machine: String?
        public var force = false
        public init() {}
    }

    /// The runs `runNow` recorded.
    public struct Recorded: Sendable {
        /// The runs of the job itself (one per route and fire).
        public var ids: [Int64] = []
        /// Every run recorded, the job's and those up- and downstream, in order.
        public var all: [(job: String, fireTime: Instant, id: Int64)] = []
    }

    /// Records a manual run of `job` (`octo sh run`): the schedule and the
    /// paused flag do not matter; the concurrency policy does unless `force`
    /// (`forbid` refuses while a run is queued or running, `replace` cancels
    /// them, `queue` and `allow` wait their turn at claim time — for a
    /// broadcast job, its runs on the machines it goes to). `machine` assigns
    /// it; otherwise the job's routing decides (a broadcast job gets one run
    /// per live machine). With `fires`, a new attempt for each of those fire
    /// times; `upstream` and `downstream` add new runs of the jobs above and
    /// below it (`NeedsStore.Graph.rerun`), each waiting for the new runs it
    /// needs (a run below that still waits for that fire waits for the new
    /// runs instead of a second one being recorded: it is named in the audit
    /// row's `waiting`, not its `runs`); a job with needs waits for them
    /// unless `ignoreNeeds`. A run of
    /// a manual-only job brings a run of each job that follows it. Writes the
    /// `run` audit row in the same transaction.
    public static func runNow(
        _ db: Connection, job: Job, settings: Settings, _ request: RunRequest, by who: String
    ) throws -> Recorded {
        let live = try liveMachines(db, ttl: settings.machineTTL)
        // a broadcast job's run on a named machine belongs to that machine's series (`Routing.series`)
        let routes =
            request.machine.map { [Routing.Route(machine: $0, routeKey: job.strategy == .all ? $0 : "")] }
            ?? Routing.routes(for: job, live: live)
        let routeKeys = Set(routes.map(\.routeKey))
        return try db.retrying { db in
            try db.transaction { () throws -> Recorded in
                // the job's row lock orders this against producers and claims of the same job
                guard try JobStore.lock(db, id: job.id!) else {
                    throw OctoError.usage("no job named '\(job.name.quotedForMessage)'")
                }
                var replaced: [Int64] = []
                if !request.force {
                    let active = try activeRuns(db, jobID: job.id!).filter { routeKeys.contains($0.routeKey) }
                    if job.effectiveConcurrency == .forbid, let a = active.first {
                        throw OctoError.failure(
                            "job \(job.name) has run \(a.id) \(a.state.rawValue)"
                                + (a.machine.map { " on \($0)" } ?? "")
                                + " (concurrency forbid); wait, kill it, or use --force")
                    }
                    if job.effectiveConcurrency == .replace {
                        for a in active {
                            try cancel(db, a.id, reason: "replaced by a manual run by \(who) (concurrency replace)")
                            replaced.append(a.id)
                        }
                    }
                }
                let now = try JobStore.serverNow(db)
                let graph =
                    try JobStore.anyNeeds(db)
                    ? NeedsStore.graph(db, defaultZone: settings.defaultTimezone)
                    : NeedsStore.Graph(jobs: [job], defaultZone: settings.defaultTimezone)
                var pairs = graph.rerun(
                    job, fires: request.fires ?? [now], upstream: request.upstream, downstream: request.downstream)
                if request.fires == nil, !request.downstream, graph.timing(of: job)?.schedule.isManual == true {
                    pairs += graph.followers(of: job.name).filter { !$0.paused }.map { ($0, now) }
                }
                let below = request.downstream ? Set(graph.dependencies.downstream(of: job.name)) : []
                let specs = pairs.map { (j, fire) -> NeedsStore.Spec in
                    var s = NeedsStore.Spec(job: j, fireTime: fire, trigger: .manual)
                    s.notBefore = now
                    // a run below that waits for the fire takes the new runs' needs; the job's own (and those
                    // above it) that wait for it give way to the new run: one run per period either way
                    s.adoptWaiting = below.contains(j.name)
                    s.replaceWaiting = !s.adoptWaiting
                    if j.name == job.name {
                        s.routes = routes
                        s.cursor = request.cursor
                        s.forced = request.force
                        s.ignoreNeeds = request.ignoreNeeds
                    } else {
                        s.routes = Routing.routes(for: j, live: live)
                    }
                    return s
                }
                var recorded = Recorded()
                var adopted: Set<Int64> = []
                for (s, ids) in zip(
                    specs, try NeedsStore.record(db, specs, graph: graph, adopted: &adopted, replaced: &replaced))
                {
                    if s.job.name == job.name { recorded.ids += ids }
                    recorded.all += ids.map { (s.job.name, s.fireTime, $0) }
                }
                let ids = recorded.all.map(\.id).filter { !adopted.contains($0) }
                var changes = [Audit.Change("runs", .null, .array(ids.map(JSON.int)))]
                if !adopted.isEmpty {
                    // waiting runs below that now wait for the new runs: not new runs, so not in "runs"
                    changes.append(Audit.Change("waiting", .null, .array(adopted.sorted().map(JSON.int))))
                }
                if let fires = request.fires {
                    changes.append(Audit.Change("fires", .null, .array(fires.map { .string($0.fireTimeText) })))
                }
                if request.upstream { changes.append(Audit.Change("upstream", .null, .bool(true))) }
                if request.downstream { changes.append(Audit.Change("downstream", .null, .bool(true))) }
                if request.ignoreNeeds { changes.append(Audit.Change("ignore_needs", .null, .bool(true))) }
                if let machine = request.machine { changes.append(Audit.Change("machine", .null, .string(machine))) }
                if let cursor = request.cursor { changes.append(Audit.Change("cursor", .null, .string(cursor))) }
                if request.force { changes.append(Audit.Change("forced", .null, .bool(true))) }
                if !replaced.isEmpty { changes.append(Audit.Change("replaced", .null, .array(replaced.map(JSON.int)))) }
                try AuditStore.record(
                    db, Audit.Record(.run, by: who, job: job.name, run: ids.count == 1 ? ids[0] : nil, changes: changes)
                )
                return recorded
            }
        }
    }
}

extension RunQueue {
    /// Marks `fires` of `job` passed (`octo sh pass`): meets the needs of the
    /// jobs below like a success. A waiting or queued run for a fire becomes
    /// the passed run; otherwise a new attempt is recorded passed. Refused
    /// while a run for one of the fires is running. Writes the `pass` audit
    /// row in the same transaction. Returns the passed runs' ids.
    public static func pass(
        _ db: Connection, job: Job, fires: [Instant], settings: Settings, by who: String
    ) throws -> [Int64] {
        try db.retrying { db in
            try db.transaction { () throws -> [Int64] in
                guard try JobStore.lock(db, id: job.id!) else {
                    throw OctoError.usage("no job named '\(job.name.quotedForMessage)'")
                }
                let graph = NeedsStore.Graph(jobs: [job], defaultZone: settings.defaultTimezone)
                let reason = "passed by \(who)"
                var ids: [Int64] = []
                for fire in fires {
                    let active = try db.query(
                        RunQueue.selectRuns
                            + " WHERE job_id = ? AND fire_time = ? AND state IN ('waiting', 'queued', 'running') FOR UPDATE",
                        [.int(job.id!), .instant(fire)]
                    ).rows.map(RunQueue.run(from:))
                    if let r = active.first(where: { $0.state == .running }) {
                        throw OctoError.failure(
                            "run \(r.id) of \(job.name) for \(fire.fireTimeText) is running; wait, or kill it first")
                    }
                    if let r = active.first {
                        try db.execute(
                            "UPDATE runs SET state = 'passed', reason = LEFT(?, 255), ended_at = NOW(6) WHERE id = ?",
                            [.text(reason), .int(r.id)])
                        try db.execute("DELETE FROM queue WHERE run_id = ?", [.int(r.id)])
                        try ended(db, [r.id])
                        ids.append(r.id)
                        for other in active.dropFirst() { try cancel(db, other.id, reason: reason) }
                        continue
                    }
                    var r = NewRun(fireTime: fire, trigger: .manual)
                    r.logicalDate = graph.logicalDate(of: job, at: fire)
                    r.attempt = try NeedsStore.nextAttempt(db, job.id!, fire)
                    r.state = .passed
                    r.reason = reason
                    if let id = try enqueue(db, job: job, r) { ids.append(id) }
                }
                try AuditStore.record(
                    db,
                    Audit.Record(
                        .pass, by: who, job: job.name, run: ids.count == 1 ? ids[0] : nil,
                        changes: [
                            Audit.Change("fires", .null, .array(fires.map { .string($0.fireTimeText) })),
                            Audit.Change("runs", .null, .array(ids.map(JSON.int)))
                        ]))
                return ids
            }
        }
    }

    /// Records a backfill of `job` (`octo sh backfill`): a run (trigger
    /// `backfill`) per fire, oldest first, at most `maxParallel` of the job's
    /// at once (each waits for the end of the one `maxParallel` before it;
    /// the job's concurrency policy does not hold them back); with
    /// `downstream`, the same for every job below, each run waiting for its
    /// own fire's new upstream runs. Writes the `backfill` audit row in the
    /// same transaction. Returns every run recorded, in order.
    public static func backfill(
        _ db: Connection, job: Job, fires: [Instant], downstream: Bool, maxParallel: Int, settings: Settings,
        by who: String
    ) throws -> [(job: String, fireTime: Instant, id: Int64)] {
        let live = try liveMachines(db, ttl: settings.machineTTL)
        return try db.retrying { db in
            try db.transaction { () throws -> [(job: String, fireTime: Instant, id: Int64)] in
                guard try JobStore.lock(db, id: job.id!) else {
                    throw OctoError.usage("no job named '\(job.name.quotedForMessage)'")
                }
                let now = try JobStore.serverNow(db)
                let graph = try NeedsStore.graph(db, defaultZone: settings.defaultTimezone)
                let pairs = graph.rerun(job, fires: fires, upstream: false, downstream: downstream)
                var specs: [NeedsStore.Spec] = []
                var byJob: [String: [Int]] = [:]  // each job's spec indexes, oldest fire first
                for (j, fire) in pairs {
                    var s = NeedsStore.Spec(job: j, fireTime: fire, trigger: .backfill)
                    s.notBefore = now
                    s.forced = true
                    s.adoptWaiting = j.name != job.name
                    s.replaceWaiting = j.name == job.name
                    s.routes = Routing.routes(for: j, live: live)
                    let mine = byJob[j.name, default: []]
                    if mine.count >= maxParallel { s.after = mine[mine.count - maxParallel] }
                    byJob[j.name, default: []].append(specs.count)
                    specs.append(s)
                }
                var out: [(job: String, fireTime: Instant, id: Int64)] = []
                var adopted: Set<Int64> = []
                var replaced: [Int64] = []
                for (s, ids) in zip(
                    specs, try NeedsStore.record(db, specs, graph: graph, adopted: &adopted, replaced: &replaced))
                {
                    out += ids.map { (s.job.name, s.fireTime, $0) }
                }
                var changes = [
                    Audit.Change("from", .null, .string(fires.first?.fireTimeText ?? "")),
                    Audit.Change("to", .null, .string(fires.last?.fireTimeText ?? "")),
                    Audit.Change("downstream", .null, .bool(downstream)),
                    Audit.Change("max_parallel", .null, .int(Int64(maxParallel))),
                    Audit.Change("runs", .null, .array(out.filter { !adopted.contains($0.id) }.map { .int($0.id) })),
                    Audit.Change("waiting", .null, .array(adopted.sorted().map(JSON.int)))
                ]
                if !replaced.isEmpty { changes.append(Audit.Change("replaced", .null, .array(replaced.map(JSON.int)))) }
                try AuditStore.record(db, Audit.Record(.backfill, by: who, job: job.name, changes: changes))
                return out
            }
        }
    }
}
