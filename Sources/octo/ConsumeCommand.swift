import ArgumentParser
import MariaDB
import OctoCore
import OctoTime

struct ConsumeCommand: OctoCommand {
    static let configuration = CommandConfiguration(
        commandName: "consume",
        abstract: "Claim runs for this machine up to its free slots and run each under supervision.",
        discussion: """
            Run from cron every minute after `octo produce`. Claims as many runs as the machine has free slots, \
            oldest first, and claims again whenever one of its runs ends, for about one cron interval (--claim-for, 60s); \
            then it only supervises what it runs and returns when those are done (the next minute's consume \
            shares the machine's slots). Exit 0 when they all succeeded (or there was nothing to do), 1 when one \
            failed. Also marks runs whose lease lapsed as lost (and queues their retries).
            """
    )
    @Option(help: "Claim at most this many runs in all.") var max: Int?
    @Flag(
        help:
            "Keep claiming new work until none is left for this machine (queued runs waiting for their time included), however long that takes."
    )
    var wait = false

    @Option(
        name: .customLong("claim-for"),
        help: ArgumentHelp(
            "Without --wait: how long to keep claiming as slots free up (about the interval cron starts consume at).",
            valueName: "duration"))
    var claimFor: String = "60s"
    @OptionGroup var global: GlobalOptions

    func validate() throws {
        if let max, max < 1 { throw ValidationError("invalid max '\(max)': expected a whole number of at least 1") }
        guard let s = try? Durations.parse(claimFor), s >= 1 else {
            throw ValidationError(
                "invalid claim-for '\(claimFor.quotedForMessage)': expected \(Durations.rule), at least 1s")
        }
    }

    func run(_ context: Context) throws {
        let db = try context.database()
        let settings = try context.settings()
        let machine = context.config.machine
        if try MachineStore.get(db, machine) == nil {
            // first minute on a new machine: consume may run before register
            let path = context.environment["PATH"] ?? "/usr/bin:/bin"
            _ = try db.retrying { db in
                try MachineStore.register(
                    db, name: machine, .init(), user: currentUserName(), path: path, by: context.actor)
            }
        }
        try RunQueue.sweepLost(db)
        context.replaySpool(db)
        // values set here during an outage go in before this machine claims the next run; a problem
        // with a local file must not stop the fleet's work (sync reports it again every time)
        do { try context.syncCursors(db) } catch { Output.warning("cursor sync: \(error)") }
        let supervisor = try Supervisor(db, machine: machine, options: context.supervisorOptions(settings))
        var claimedSoFar = 0
        let wait = self.wait
        let max = self.max
        let claimUntil = Monotonic.seconds() + Double(try Durations.parse(claimFor))
        // --wait also looks every second (runs queued for later become due); a plain consume claims again
        // only when one of its runs ended — a slot freed — so an idle minute costs one claim
        try supervisor.run(refillEvery: wait ? 1 : .infinity) { () throws -> [RunQueue.Claimed]? in
            let room = max.map { $0 - claimedSoFar } ?? Int.max
            guard room > 0, wait || Monotonic.seconds() < claimUntil else { return nil }
            let batch = RunQueue.ClaimBatch()  // made once: a retry finds what a lost commit claimed
            let claimed = try db.retrying { db in
                try RunQueue.claim(db, machine: machine, limit: room, lease: settings.lease, batch: batch)
            }
            claimedSoFar += claimed.count
            if claimed.isEmpty && supervisor.runningCount == 0 {
                guard wait, try RunQueue.waitingWork(db, machine: machine) > 0 else { return nil }
            }
            return claimed
        }
        // stopped by SIGTERM, SIGINT or SIGHUP: every run's end is recorded; exit as a process stopped by it would
        guard let s = supervisor.stopSignal else { return try report(supervisor.finished) }
        _ = try? report(supervisor.finished)
        throw ExitCode(128 + s)
    }

    func report(_ finished: [Supervisor.Finished]) throws {
        if global.json {
            try Output.json(
                JSON.array(
                    finished.map { f in
                        .object([
                            "run": .int(f.claimed.run.id), "job": .string(f.claimed.run.jobName),
                            "attempt": .int(Int64(f.claimed.run.attempt)),
                            "state": .string(f.outcome.state.rawValue),
                            "exit_code": f.outcome.exitCode.map { .int(Int64($0)) } ?? .null,
                            "signal": f.outcome.signal.map { .int(Int64($0)) } ?? .null,
                            "reason": .string(f.outcome.reason),
                            "recorded": .bool(f.recorded)
                        ])
                    }))
        } else if global.verbose {
            for f in finished {
                Output.line("run \(f.claimed.run.id) of \(f.claimed.run.jobName): \(f.outcome.state.rawValue)")
            }
        }
        let failed = finished.filter { $0.outcome.state != .succeeded }
        if !failed.isEmpty {
            if !global.quiet {
                for f in failed {
                    Output.error(
                        "run \(f.claimed.run.id) of \(f.claimed.run.jobName) \(f.outcome.state.rawValue)"
                            + (f.outcome.reason.isEmpty ? "" : ": \(f.outcome.reason)"))
                }
            }
            Output.flush()
            throw ExitCode(1)
        }
    }
}
