import ArgumentParser
import MariaDB
import OctoCore
import OctoTime

struct MonitorCommand: OctoCommand {
    static let configuration = CommandConfiguration(
        commandName: "monitor",
        abstract:
            "One sweep: find failures, lost runs, missed fires and more; merge them into alerts; deliver due alerts; tidy up.",
        discussion: """
            Run from cron every minute on every machine: one sweep per interval serves the whole fleet — a \
            monitor that finds another machine's sweep began less than half of --every ago exits 0 \
            at once (says so with -v) —, yet every step is safe with several monitors at once, and each alert \
            is delivered by one of them (alert_command gets it as JSON on stdin). --every 0 sweeps regardless. \
            Also marks lapsed leases lost, drops expired log partitions, purges history older than \
            run_retention and replays this machine's log spool. One sweep per machine at a time: a monitor \
            that finds another of the same machine still running exits 0 at once (says so with -v). \
            Exit 0 when the sweep finished or was skipped (alerts found are not errors), 1 when it could not.
            """
    )
    @Option(help: ArgumentHelp("How long the alert command may run.", valueName: "duration")) var alertTimeout: String =
        "60s"
    @Option(
        help: ArgumentHelp(
            "First delay before a failed delivery is retried (doubles per attempt).", valueName: "duration"))
    var retryDelay: String = "30s"
    @Option(
        help: ArgumentHelp(
            "How often cron starts octo monitor (the fleet sweeps once per interval; 0: sweep regardless).",
            valueName: "duration"))
    var every: String = "1m"
    @OptionGroup var global: GlobalOptions

    func validate() throws {
        guard (try? Durations.parse(every)) != nil else {
            throw ValidationError("invalid every '\(every.quotedForMessage)': expected \(Durations.rule)")
        }
        for (flag, value) in [("alert-timeout", alertTimeout), ("retry-delay", retryDelay)] {
            guard let s = try? Durations.parse(value), s >= 1 else {
                throw ValidationError(
                    "invalid \(flag) '\(value.quotedForMessage)': expected \(Durations.rule), at least 1s")
            }
        }
    }

    /// Says why this monitor does not sweep (with --json or -v).
    func skipped(_ note: String) throws {
        if global.json {
            try Output.json(JSON.object(["skipped": .string(note)]))
        } else if global.verbose {
            Output.line(note)
        }
    }

    func run(_ context: Context) throws {
        // One sweep at a time per machine: cron starts one every minute, and while the database is
        // unreachable each would wait out its retries, so they would pile up and all reconnect at
        // once when it is back. Other machines' monitors are not affected (several at once are safe).
        let path = context.config.stateDirectory + "/monitor." + context.config.machine + ".lock"
        var lock: FileLock?
        var busy = false
        do {
            lock = try FileLock.tryExclusive(path)
            busy = lock == nil
        } catch {
            // a state directory we cannot write must not stop monitoring
            if !global.quiet { Output.warning("\(error); sweeping without the per-machine lock") }
        }
        if busy {
            return try skipped(
                "another octo monitor for machine '\(context.config.machine)' is still running (it holds \(path)); this sweep is skipped"
            )
        }
        defer { withExtendedLifetime(lock) {} }
        let db = try context.database()
        // the fleet-wide sweep, once per interval: whichever machine gets there first. The lease is taken
        // first thing (a slow spool replay must not push the interval's start, and with it the next one's)
        // and lasts half the interval, so a sweep that began late still leaves the next minute its own.
        // (--every 0 records its sweep too, so that the fleet's next ones count from it.)
        let interval = try Durations.parse(every)
        let leased = try MonitorStore.takeSweepLease(db, seconds: Double(interval) * 0.5)
        // this machine's own duty, whoever sweeps
        context.replaySpool(db)
        if interval > 0 && !leased {
            guard global.json || global.verbose else { return }
            let age = try MonitorStore.lastSweepAge(db) ?? 0
            return try skipped(
                "a sweep began \(Int(age.rounded())) s ago (the fleet sweeps once per --every \(every)); this one is skipped (--every 0 sweeps regardless)"
            )
        }
        var options = Monitor.Options(settings: try context.settings())
        options.alertTimeout = try Durations.parse(alertTimeout)
        options.retryBase = try Durations.parse(retryDelay)
        var monitor = Monitor(db, options: options)
        let r = try monitor.sweep()
        if r.waitingWithoutCommand > 0 && !global.quiet {
            Output.warning(
                "\(r.waitingWithoutCommand) alert(s) wait for delivery but alert_command is not set (octo sh settings alert_command '…'); see octo sh alerts"
            )
        }
        for id in r.deliveryFailed where !global.quiet {
            Output.warning("alert \(id): the alert command failed; it will be retried")
        }
        if global.json {
            try Output.json(
                JSON.object([
                    "lost": .int(Int64(r.lost)), "alerts_created": .int(Int64(r.alertsCreated)),
                    "found": .object(
                        Dictionary(
                            uniqueKeysWithValues: r.recorded.map { ($0.key.rawValue, JSON.int(Int64($0.value))) })),
                    "delivered": .array(r.delivered.map(JSON.int)),
                    "delivery_failed": .array(r.deliveryFailed.map(JSON.int)),
                    "partitions_dropped": .array(r.partitionsDropped.map(JSON.string)),
                    "runs_purged": .int(Int64(r.runsPurged)), "audit_purged": .int(Int64(r.auditPurged))
                ]))
        } else if global.verbose {
            let found = r.recorded.sorted { $0.key.rawValue < $1.key.rawValue }.map { "\($0.key.rawValue) \($0.value)" }
                .joined(separator: ", ")
            Output.line(
                "lost runs: \(r.lost); found: \(found.isEmpty ? "nothing" : found); alerts created: \(r.alertsCreated); delivered: \(r.delivered.count)"
            )
        }
    }
}
