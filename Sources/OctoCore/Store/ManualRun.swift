import MariaDB
import OctoTime

extension RunQueue {
    /// Queues a manual run of `job` now (`octo sh run`): the schedule and the
    /// paused flag do not matter; the concurrency policy does unless `force`
    /// (`forbid` refuses while a run is queued or running, `replace` cancels
    /// them, `queue` and `allow` wait their turn at claim time — for a
    /// broadcast job, its runs on the machines it goes to). `machine` assigns
    /// it; otherwise the job's routing decides (a broadcast job gets one run
    /// per live machine). Writes the `run` audit row in the same transaction.
    /// Returns the queued runs' ids.
    public static func runNow(
        _ db: Connection, job: Job, settings: Settings, cursor: String?, machine: String?,
        force: Bool, by who: String
    ) throws -> [Int64] {
        // a broadcast job's run on a named machine belongs to that machine's series (`Routing.series`)
        let routes =
            try machine.map { [Routing.Route(machine: $0, routeKey: job.strategy == .all ? $0 : "")] }
            ?? Routing.routes(for: job, live: try liveMachines(db, ttl: settings.machineTTL))
        let routeKeys = Set(routes.map(\.routeKey))
        return try db.retrying { db in
            try db.transaction { () throws -> [Int64] in
                // the job's row lock orders this against producers and claims of the same job
                guard try JobStore.lock(db, id: job.id!) else {
                    throw OctoError.usage("no job named '\(job.name.quotedForMessage)'")
                }
                var replaced: [Int64] = []
                if !force {
                    let active = try activeRuns(db, jobID: job.id!).filter { routeKeys.contains($0.routeKey) }
                    if job.concurrency == .forbid, let a = active.first {
                        throw OctoError.failure(
                            "job \(job.name) has run \(a.id) \(a.state.rawValue)"
                                + (a.machine.map { " on \($0)" } ?? "")
                                + " (concurrency forbid); wait, kill it, or use --force")
                    }
                    if job.concurrency == .replace {
                        for a in active {
                            try cancel(db, a.id, reason: "replaced by a manual run by \(who) (concurrency replace)")
                            replaced.append(a.id)
                        }
                    }
                }
                let now = try JobStore.serverNow(db)
                var ids: [Int64] = []
                for route in routes {
                    var r = NewRun(fireTime: now, trigger: .manual)
                    r.route = route
                    r.cursor = cursor
                    r.forced = force
                    if let id = try enqueue(db, job: job, r) { ids.append(id) }
                }
                var changes = [Audit.Change("runs", .null, .array(ids.map(JSON.int)))]
                if let machine { changes.append(Audit.Change("machine", .null, .string(machine))) }
                if let cursor { changes.append(Audit.Change("cursor", .null, .string(cursor))) }
                if force { changes.append(Audit.Change("forced", .null, .bool(true))) }
                if !replaced.isEmpty { changes.append(Audit.Change("replaced", .null, .array(replaced.map(JSON.int)))) }
                try AuditStore.record(
                    db, Audit.Record(.run, by: who, job: job.name, run: ids.count == 1 ? ids[0] : nil, changes: changes)
                )
                return ids
            }
        }
    }
}
