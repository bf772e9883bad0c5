import MariaDB
import OctoTime

/// The metrics' tables: `run_counts` (the counters, added to as runs end)
/// and the reads behind `Metrics.Snapshot`.
public enum MetricsStore {
    /// The duration bucket of an ended run as SQL over `us` (whole microseconds, NULL for a run that never
    /// started): -1 for no duration, else the index of the first bound it fits under (`Metrics.buckets`).
    static let bucketSQL =
        "CASE WHEN us IS NULL THEN -1 "
        + Metrics.buckets.enumerated().map { "WHEN us <= \(Int64($0.element * 1_000_000)) THEN \($0.offset) " }
        .joined()
        + "ELSE \(Metrics.buckets.count) END"

    /// Counts the runs `ids` that have ended (a queued or running one is not
    /// counted) into `run_counts`, inside the caller's transaction: the one
    /// that ended them. Every path that ends a run calls it exactly once per
    /// run. One statement for many runs takes its row locks in key order (the
    /// GROUP BY's), so two batches never wait for each other in a cycle.
    static func countEnded(_ db: Connection, _ ids: [Int64]) throws {
        guard !ids.isEmpty else { return }
        try db.execute(
            """
            INSERT INTO run_counts (job_name, state, bucket, runs, seconds, last_ended_at)
            SELECT job_name, state, \(bucketSQL) AS bucket, COUNT(*), COALESCE(SUM(us), 0) / 1e6, MAX(ended_at)
            FROM (SELECT job_name, state, ended_at, TIMESTAMPDIFF(MICROSECOND, started_at, ended_at) AS us
                  FROM runs WHERE id IN \(RunQueue.placeholders(ids.count)) AND state NOT IN ('queued', 'running')) e
            GROUP BY job_name, state, bucket
            ON DUPLICATE KEY UPDATE runs = runs + VALUES(runs), seconds = seconds + VALUES(seconds),
              last_ended_at = GREATEST(last_ended_at, VALUES(last_ended_at))
            """, ids.map(Value.int))
    }

    /// Everything `octo sh metrics` prints, read in one consistent snapshot
    /// (one REPEATABLE READ transaction: a run ending while it reads is seen
    /// either ended or live, never in neither). Jobs are the jobs that exist
    /// now; a removed job's counters are kept (and resume if a job of that
    /// name comes back).
    public static func snapshot(_ db: Connection, machineTTL: Int64) throws -> Metrics.Snapshot {
        // for the next transaction only; sessions stay READ COMMITTED
        try db.execute("SET TRANSACTION ISOLATION LEVEL REPEATABLE READ")
        return try db.transaction {
            var s = Metrics.Snapshot()
            var jobs: [String: Metrics.Job] = [:]
            for row in try db.query("SELECT name, paused, next_fire_at FROM jobs").rows {
                var j = Metrics.Job(name: try row.decode("name"))
                j.paused = try row.decode("paused")
                // a paused job keeps its next_fire_at for resume, but it will not fire
                j.nextFire = j.paused ? nil : try row.decode("next_fire_at")
                jobs[j.name] = j
            }
            for row in try db.query("SELECT job_name, state, bucket, runs, seconds, last_ended_at FROM run_counts").rows
            {
                let name: String = try row.decode("job_name")
                guard jobs[name] != nil else { continue }
                let state: Run.State = try row.decode("state")
                let bucket: Int = try row.decode("bucket")
                let runs: Int64 = try row.decode("runs")
                let ended: Instant? = try row.decode("last_ended_at")
                jobs[name]!.runs[state, default: 0] += runs
                if bucket >= 0 {
                    jobs[name]!.durationBuckets[bucket, default: 0] += runs
                    jobs[name]!.durationSum += try row.decode("seconds", as: Double.self)
                }
                jobs[name]!.lastEnd = max(jobs[name]!.lastEnd, ended)
                if state == .succeeded { jobs[name]!.lastSuccess = max(jobs[name]!.lastSuccess, ended) }
            }
            try activeRuns(db, into: &jobs)
            s.jobs = Array(jobs.values)
            s.machines = try MachineStore.statuses(db, ttl: machineTTL).map {
                Metrics.Machine(
                    name: $0.machine.name, up: $0.shownState != "stale" && $0.machine.state != .removed,
                    slots: $0.machine.slots, slotsInUse: $0.slotsInUse)
            }
            s.openAlerts = try AlertStore.openCounts(db)
            let q = try db.query(
                """
                SELECT COUNT(*) AS n,
                  COALESCE(TIMESTAMPDIFF(MICROSECOND, MIN(IF(not_before <= NOW(6), not_before, NULL)), NOW(6)), 0) AS age_us
                FROM queue
                """
            ).first!
            s.queueDepth = try q.decode("n")
            s.oldestQueuedAge = Double(try q.decode("age_us", as: Int64.self)) / 1_000_000
            return s
        }
    }

    /// Running, queued and waiting runs per job (through the `(state, …)` index: only live runs are read).
    private static func activeRuns(_ db: Connection, into jobs: inout [String: Metrics.Job]) throws {
        for row in try db.query(
            "SELECT job_name, state, COUNT(*) AS n FROM runs WHERE state IN ('queued', 'running', 'waiting') GROUP BY job_name, state"
        ).rows {
            let name: String = try row.decode("job_name")
            guard jobs[name] != nil else { continue }
            let n: Int64 = try row.decode("n")
            switch try row.decode("state", as: String.self) {
            case "running": jobs[name]!.running = n
            case "queued": jobs[name]!.queued = n
            default: jobs[name]!.waiting = n
            }
        }
    }
}

private func max(_ a: Instant?, _ b: Instant?) -> Instant? {
    guard let a else { return b }
    guard let b else { return a }
    return Swift.max(a, b)
}
