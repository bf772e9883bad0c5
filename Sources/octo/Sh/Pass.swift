import ArgumentParser
import MariaDB
import OctoCore
import OctoTime

struct ShPass: OctoCommand {
    static let configuration = CommandConfiguration(
        commandName: "pass",
        abstract: "Mark fires of a job passed: they meet the needs of the jobs below like a success.",
        discussion: """
            A waiting or queued run for the fire becomes the passed run; otherwise a new attempt is recorded \
            passed. Refused while a run for the fire is running. Example:\n  octo sh pass clean --date 2026-12-01
            """)
    @Argument(help: "The job.") var name: String
    @Option(parsing: .unconditional, help: ArgumentHelp("This fire time of the job's schedule.", valueName: "time"))
    var fire: String?
    @Option(
        parsing: .unconditional,
        help: ArgumentHelp("Every fire on this date (YYYY-MM-DD, the job's zone).", valueName: "date"))
    var date: String?
    @OptionGroup var global: GlobalOptions

    func validate() throws {
        guard (fire == nil) != (date == nil) else { throw ValidationError("name exactly one of --fire and --date") }
    }

    func run(_ context: Context) throws {
        let db = try context.database()
        let settings = try context.settings()
        let job = try JobStore.require(db, name)
        let graph = try NeedsStore.graph(db, defaultZone: settings.defaultTimezone)
        let zone = try job.zone(default: settings.defaultTimezone)
        let fires = try graph.fires(of: job, fire: try fire.map { try TimeText.parse($0, zone: zone) }, date: date)
        guard !fires.isEmpty else { throw OctoError.usage("job '\(job.name)' has no fires on \(date ?? "")") }
        let ids = try RunQueue.pass(db, job: job, fires: fires, settings: settings, by: context.actor)
        if global.json {
            try Output.json(
                JSON.object([
                    "job": .string(job.name), "runs": .array(ids.map(JSON.int)),
                    "fires": .array(fires.map { .string($0.fireTimeText) })
                ]))
        } else if !global.quiet {
            Output.line(
                "passed \(fires.count) fire\(fires.count == 1 ? "" : "s") of \(job.name) (run\(ids.count == 1 ? "" : "s") "
                    + ids.map(String.init).joined(separator: ", ") + ")")
        }
    }
}

struct ShBackfill: OctoCommand {
    static let configuration = CommandConfiguration(
        commandName: "backfill", abstract: "Run a job for every fire in a range of past (or future) dates.",
        discussion: """
            One run (trigger backfill) per fire from --from to --to (both included, the job's zone), oldest \
            first, at most --max-parallel at once; the job's concurrency policy does not hold them back. \
            With --downstream every job below gets a run for the same periods, each after its own upstream \
            runs. Example:\n  octo sh backfill extract --from 2026-11-01 --to 2026-11-30 --downstream --max-parallel 2
            """)
    @Argument(help: "The job.") var name: String
    @Option(parsing: .unconditional, help: ArgumentHelp("First date (YYYY-MM-DD).", valueName: "date")) var from: String
    @Option(parsing: .unconditional, help: ArgumentHelp("Last date (YYYY-MM-DD).", valueName: "date")) var to: String
    @Flag(help: "Also every job below it, for the same periods.") var downstream = false
    @Option(name: .customLong("max-parallel"), help: "Runs of each job at once (default 1).") var maxParallel = 1
    @OptionGroup var global: GlobalOptions

    func validate() throws {
        guard (1...100).contains(maxParallel) else {
            throw ValidationError("invalid max-parallel '\(maxParallel)': expected a whole number from 1 to 100")
        }
    }

    func run(_ context: Context) throws {
        let db = try context.database()
        let settings = try context.settings()
        let job = try JobStore.require(db, name)
        let graph = try NeedsStore.graph(db, defaultZone: settings.defaultTimezone)
        let fires = try graph.fires(of: job, fromDate: from, toDate: to)
        guard !fires.isEmpty else { throw OctoError.usage("job '\(job.name)' has no fires from \(from) to \(to)") }
        let runs = try RunQueue.backfill(
            db, job: job, fires: fires, downstream: downstream, maxParallel: maxParallel, settings: settings,
            by: context.actor)
        if global.json {
            try Output.json(
                JSON.array(
                    runs.map {
                        .object([
                            "job": .string($0.job), "fire_time": .string($0.fireTime.fireTimeText), "run": .int($0.id)
                        ])
                    }))
        } else if !global.quiet {
            let jobs = Set(runs.map(\.job)).count
            Output.line(
                "recorded \(runs.count) backfill run\(runs.count == 1 ? "" : "s") of \(jobs) job\(jobs == 1 ? "" : "s")"
                    + " for \(fires.count) fire\(fires.count == 1 ? "" : "s") of \(job.name) from \(from) to \(to)")
        }
    }
}
