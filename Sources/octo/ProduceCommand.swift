import ArgumentParser
import MariaDB
import OctoCore
import OctoTime

struct ProduceCommand: OctoCommand {
    static let configuration = CommandConfiguration(
        commandName: "produce",
        abstract: "Queue every due fire of every enabled job, applying misfire, concurrency and routing.",
        discussion: """
            Run from cron every minute (`octo produce && octo consume`), on any number of machines: \
            each (job, fire time) is queued exactly once. Prints nothing unless asked (-v, --json, --dry-run).
            """
    )
    @Flag(help: "Show what would be queued or skipped, change nothing.") var dryRun = false
    @OptionGroup var global: GlobalOptions

    func run(_ context: Context) throws {
        let db = try context.database()
        let settings = try context.settings()
        let report = try Producer.produce(db, settings: settings, dryRun: dryRun)
        for p in report.problems { Output.warning(p) }
        if global.json {
            try Output.json(
                JSON.object([
                    "dry_run": .bool(dryRun),
                    "queued": .array(
                        report.queued.map { q in
                            .object([
                                "job": .string(q.job), "fire_time": .string(q.fireTime.iso8601),
                                "trigger": .string(q.trigger.rawValue),
                                "machine": q.machine.map(JSON.string) ?? .null, "run": q.runID.map(JSON.int) ?? .null
                            ])
                        }),
                    "skipped": .array(
                        report.skipped.map { s in
                            .object([
                                "job": .string(s.job), "fire_time": .string(s.fireTime.iso8601),
                                "reason": .string(s.reason)
                            ])
                        }),
                    "cancelled": .array(report.cancelled.map(JSON.int)),
                    "rerouted": .array(report.rerouted.map(JSON.int))
                ]))
            return
        }
        guard dryRun || global.verbose else { return }
        let verb = dryRun ? "would queue" : "queued"
        if report.queued.isEmpty && report.skipped.isEmpty {
            Output.line(dryRun ? "nothing is due" : "nothing was due")
        }
        for q in report.queued {
            Output.line(
                "\(verb) \(q.job) fire \(q.fireTime.fireTimeText) (\(q.trigger.rawValue))"
                    + (q.machine.map { " on \($0)" } ?? "")
                    + (q.runID.map { " as run \($0)" } ?? ""))
        }
        for s in report.skipped {
            Output.line("\(dryRun ? "would skip" : "skipped") \(s.job) fire \(s.fireTime.fireTimeText): \(s.reason)")
        }
        for c in report.cancelled {
            Output.line("\(dryRun ? "would cancel" : "cancelled") run \(c) (concurrency replace)")
        }
        for r in report.rerouted { Output.line("re-routed run \(r)") }
    }
}
