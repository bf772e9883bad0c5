import MariaDB
import OctoTime

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
/// - runs still running after their job's `warn_after`: one `slow` alert each;
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
/// - a success after unanswered failure alerts: one `recovered` alert;
/// - waiting runs whose upstream run for their fire ended for good without
///   succeeding: one `blocked` alert per upstream run (`blocked:ID`), naming
///   it and the runs it holds up; waiting runs older than `needs_timeout`
///   become `skipped` with the reason, one `needs_timeout` alert each.
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
        public var auditPurged = 0
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
        try detectSlowRuns()
        try scanLogs()
        try detectMissingEnds()
        try detectMissedFires()
        try detectUnclaimedRuns()
        try detectStaleMachines()
        try detectBlockedRuns()
        try detectRecoveries()
        try deliver()
        try housekeeping()
        // lines logged since the sweep began: once their ids are a second old (no insert can still commit below them), scan them too
        try scanLogs(settle: true)
        try deliver()
        return report
    }

    var window: Int64 { options.settings.alertMergeWindow }

    /// An occurrence and the source that makes it happen once (`run:ID`, `end:LOGID` …).
    struct Finding {
        var source: String
        var occurrence: Occurrence
    }

    /// Records occurrences whose sources this transaction claims.
    private mutating func record(_ found: [Finding]) throws {
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
        let since = try MonitorStore.runsCheckedSince(db, lookBack: Monitor.runLookBack)
        try record(try MonitorStore.failedRuns(db, endedSince: since).map { Monitor.finding(failed: $0, since: since) })
    }

    /// The alert of a run that ended `failed`, `timeout` or `lost`.
    static func finding(failed r: Run, since: Instant) -> Finding {
        let kind: AlertKind =
            r.state == .timeout ? .timeout : r.state == .lost ? .lost : r.exitSignal != nil ? .signal : .failed
        let what =
            r.exitSignal.map { "killed by \(signalName($0))" } ?? r.exitCode.map { "exit \($0)" } ?? r.state.rawValue
        let line =
            "run \(r.id) of \(r.jobName) \(r.state.rawValue) (\(what))" + (r.reason.isEmpty ? "" : ": \(r.reason)")
        return Finding(
            source: "run:\(r.id)",
            occurrence: Occurrence(
                kind, job: r.jobName, runID: r.id, machine: r.machine, at: r.endedAt ?? since, line: line))
    }

    /// One `slow` alert per run still running after its job's `warn_after` (the run goes on).
    mutating func detectSlowRuns() throws {
        try record(
            try MonitorStore.slowRuns(db).map { r in
                Finding(
                    source: "slow:\(r.runID)",
                    occurrence: Occurrence(
                        .slow, job: r.job, runID: r.runID, machine: r.machine, at: r.startedAt + .seconds(r.warnAfter),
                        line:
                            "run \(r.runID) of \(r.job) still running after \(Durations.format(r.warnAfter)) (warn_after; started \(r.startedAt.iso8601))"
                    ))
            })
    }

    mutating func detectRecoveries() throws {
        for (job, lastFailure) in try AlertStore.unrecovered(db) {
            guard let success = try MonitorStore.firstSuccess(db, job: job, after: lastFailure) else { continue }
            let done = try db.retrying { db in
                try db.transaction {
                    try AlertStore.recover(
                        db, job: job, succeededAt: success.endedAt, runID: success.id, machine: success.machine,
                        line: "run \(success.id) of \(job) succeeded")
                }
            }
            if done {
                report.recorded[.recovered, default: 0] += 1
                report.alertsCreated += 1
            }
        }
    }

    // MARK: - Logs

    /// Lines read per transaction of the log scan.
    static let logBatch = 5000

    /// Scans new log lines (see `LogScan`) in batches, each batch in one
    /// transaction that moves the marker (compare-and-set by the row lock).
    /// With `settle`, first waits until the horizon is a second old.
    mutating func scanLogs(settle: Bool = false) throws {
        if settle {
            let age = try MonitorStore.logHorizonAge(db)
            if age < 1 { usleep(UInt32((1 - age) * 1_000_000)) }
        }
        let rules = try MonitorStore.logRules(db)
        let levels = LogScan.levelsToRead(rules.values)
        while true {
            let batch: LogScan? = try db.retrying { db in
                try db.transaction { () throws -> LogScan? in try scanLogBatch(db, rules, levels) }
            }
            guard let scan = batch else { break }
            for o in scan.occurrences { report.recorded[o.kind, default: 0] += 1 }
        }
    }

    /// One batch of the log scan; nil when nothing settled is left to scan.
    private mutating func scanLogBatch(
        _ db: Connection, _ rules: [String: LogScan.Rules], _ levels: [LogLevel]
    ) throws -> LogScan? {
        guard let (scanned, horizon) = try MonitorStore.logWindow(db) else { return nil }
        let lines = try MonitorStore.logLines(
            db, after: scanned, upTo: horizon, levels: levels, limit: Monitor.logBatch)
        let scan = LogScan.classify(lines, rules: rules)
        try MonitorStore.apply(scan.starts, db)
        try MonitorStore.markLogsScanned(db, upTo: lines.count == Monitor.logBatch ? lines.last!.id : horizon)
        report.alertsCreated += try AlertStore.record(db, scan.occurrences, window: window).count
        for s in scan.successes {
            if try AlertStore.recover(
                db, job: s.job, succeededAt: s.at, runID: nil, machine: s.machine,
                line: "\(s.job) ended with an accepted exit code")
            {
                report.alertsCreated += 1
                report.recorded[.recovered, default: 0] += 1
            }
        }
        return scan
    }

    mutating func detectMissingEnds() throws {
        let due = try MonitorStore.dueOpenStarts(db)
        try record(
            due.map { o in
                Finding(
                    source: "end:\(o.logID)",
                    occurrence: Occurrence(
                        .missingEnd, job: o.job, machine: o.machine, at: o.startedAt,
                        line: "no 120 end after the start at \(o.startedAt.iso8601): \(o.content)"))
            })
        for o in due { try MonitorStore.deleteOpenStart(db, logID: o.logID) }
    }

    // MARK: - Jobs, queue, machines

    mutating func detectMissedFires() throws {
        try record(
            try MonitorStore.lateJobs(db, threshold: options.settings.misfireThreshold).map { j in
                Finding(
                    source: "missed:\(j.id):\(j.due.microseconds)",
                    occurrence: Occurrence(
                        .missedFire, job: j.name, at: j.due,
                        line:
                            "fire at \(j.due.iso8601) not produced: is `octo produce` running from cron on some machine?"
                    ))
            })
    }

    mutating func detectUnclaimedRuns() throws {
        try record(
            try MonitorStore.unclaimedRuns(db, after: Monitor.unclaimedAfter).map { r in
                let whom = r.machine.map { "assigned to \($0)" } ?? "for any eligible machine"
                return Finding(
                    source: "unclaimed:\(r.runID)",
                    occurrence: Occurrence(
                        .unclaimed, job: r.job, runID: r.runID, machine: r.machine, at: r.since,
                        line:
                            "run \(r.runID) queued \(whom) since \(r.since.iso8601) and not claimed: no live machine can take it?"
                    ))
            })
    }

    /// Waiting runs held up by an upstream run that failed for good, and waiting runs past `needs_timeout`.
    mutating func detectBlockedRuns() throws {
        let timeout = options.settings.needsTimeout
        for r in try NeedsStore.overdue(db, seconds: timeout) {
            let waits = try NeedsStore.unmet(db, runIDs: [r.id], limit: 3)
            let what = waits.map { "\($0.upstream) for \($0.fireTime.fireTimeText)" }.joined(separator: ", ")
            let reason =
                "needs not met within \(Durations.format(timeout)) (needs_timeout)" + (what.isEmpty ? "" : ": \(what)")
            let skipped = try db.retrying { db in try NeedsStore.skip(db, r.id, reason: reason) }
            guard skipped else { continue }
            try record([
                Finding(
                    source: "needs_timeout:\(r.id)",
                    occurrence: Occurrence(
                        .needsTimeout, job: r.jobName, runID: r.id, at: r.queuedAt + .seconds(timeout),
                        line: "run \(r.id) of \(r.jobName) for \(r.fireTime.fireTimeText) skipped: \(reason)"))
            ])
        }
        var held: [Int64: [NeedsStore.Unmet]] = [:]
        for u in try NeedsStore.unmet(db) where u.isBlocked { held[u.latestRun!, default: []].append(u) }
        try record(
            held.keys.sorted().map { upstreamRun in
                let list = held[upstreamRun]!
                let first = list[0]
                let jobs = Set(list.map(\.job)).sorted()
                return Finding(
                    source: "blocked:\(upstreamRun)",
                    occurrence: Occurrence(
                        .blocked, job: first.upstream, runID: upstreamRun, at: first.waitingSince,
                        line:
                            "run \(upstreamRun) of \(first.upstream) for \(first.fireTime.fireTimeText) "
                            + "\(first.latestState?.rawValue ?? "ended") for good: \(list.count) waiting run(s) of "
                            + jobs.joined(separator: ", ")
                            + " wait for it (octo sh run \(first.upstream) --fire \(first.fireTime.fireTimeText), "
                            + "or octo sh pass)"))
            })
    }

    mutating func detectStaleMachines() throws {
        try record(
            try MonitorStore.staleMachines(db, ttl: options.settings.machineTTL).map { m in
                Finding(
                    source: "stale:\(m.name):\(m.lastSeen.microseconds)",
                    occurrence: Occurrence(
                        .machineStale, job: "", machine: m.name, at: m.lastSeen,
                        line: "machine \(m.name) last seen at \(m.lastSeen.iso8601); it gets no new work"))
            })
    }

    // MARK: - Delivery

    mutating func deliver() throws {
        let command = options.settings.alertCommand
        guard !command.isEmpty else {
            report.waitingWithoutCommand = try AlertStore.pendingCount(db)
            return
        }
        // One claim at a time, right before its delivery: a claim lasts one delivery (the alert timeout + 10 s),
        // so claims taken in a batch could lapse while earlier ones are delivered, and another monitor would send
        // them too. Once the command has run, recording the outcome is retried until the claim would have lapsed
        // (a database restart or a link cut in between must not make another monitor send the alert again).
        let claimFor = options.alertTimeout + 10
        while true {
            guard let c = try db.retrying(.standard, { db in try AlertStore.claimNext(db, seconds: claimFor) }) else {
                return
            }
            let claimedAt = ContinuousClock.now
            let recipients = try db.retrying { db in try JobStore.alertRecipients(db, job: c.alert.job) }
            let outcome = AlertDelivery.run(
                command, alert: c.alert, recipients: recipients, timeout: options.alertTimeout)
            let patience = RetryPolicy.until(claimedAt + .seconds(claimFor))
            if let error = outcome {
                try db.retrying(patience) { db in
                    _ = try AlertStore.attemptFailed(db, c, error: error, backoffBase: options.retryBase)
                }
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
        report.runsPurged = try MonitorStore.purgeHistory(db, retention: s.runRetention)
        report.auditPurged = try AuditStore.purge(db, retention: s.auditRetention)
    }
}
