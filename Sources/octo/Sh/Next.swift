import ArgumentParser
import MariaDB
import OctoCore
import OctoTime

struct ShNext: OctoCommand {
    static let configuration = CommandConfiguration(
        commandName: "next", abstract: "Upcoming fire times of a job, in its zone with the UTC offset.")
    @Argument(help: "The job.") var name: String
    @Option(name: .short, parsing: .unconditional, help: "How many fire times.") var n: Int = 5
    @Option(help: ArgumentHelp("Start from this instant instead of now (\(TimeText.rule)).", valueName: "time"))
    var after: String?
    @OptionGroup var global: GlobalOptions

    func validate() throws {
        try checkCount(n)
    }

    func run(_ context: Context) throws {
        let db = try context.database()
        let settings = try context.settings()
        let job = try JobStore.require(db, name)
        let zone = try job.zone(default: settings.defaultTimezone)
        let start = try after.map { a throws(OctoError) in try TimeText.parse(a, zone: zone) } ?? JobStore.serverNow(db)
        let fires = try job.parsedSchedule().fires(after: start, in: zone, count: n)
        if global.json {
            try Output.json(
                JSON.array(fires.map { .object(["utc": .string($0.iso8601), "local": .string(zone.format($0))]) }))
            return
        }
        if fires.isEmpty {
            Output.line(
                job.schedule.isEmpty ? "job '\(name)' has no schedule (manual only)" : "no fire within 12 years")
            return
        }
        for f in fires { Output.line(zone.format(f)) }
    }
}
