import ArgumentParser
import MariaDB
import OctoCore
import OctoTime

struct ShLs: OctoCommand {
    static let configuration = CommandConfiguration(
        commandName: "ls", abstract: "One line per job: schedule, owner, target, paused, last run and next fire.")
    @Option(help: "Only jobs of this owner.") var owner: String?
    @Option(help: "Only jobs with this target (e.g. any, group:etl, w1).") var target: String?
    @Option(
        help: "Only jobs whose last run is in this state (succeeded, failed, running, …), or paused / active / never.")
    var state: StateFilter?
    @OptionGroup var global: GlobalOptions

    func run(_ context: Context) throws {
        let db = try context.database()
        let settings = try context.settings()
        let all = try JobStore.summaries(db).filter { s in
            (owner == nil || s.job.owner == owner) && (target == nil || s.job.target == target)
                && (state?.matches(s) ?? true)
        }
        if global.json {
            try Output.json(JSON.array(all.map { $0.json(defaultZone: settings.defaultTimezone) }))
            return
        }
        var zones: [String: Zone] = [:]
        var t = Table(["NAME", "SCHEDULE", "OWNER", "TARGET", "PAUSED", "LAST", "DURATION", "NEXT FIRE"])
        for s in all {
            let zoneName = s.job.timezone.isEmpty ? settings.defaultTimezone : s.job.timezone
            let zone = try zones[zoneName] ?? Zone.named(zoneName)
            zones[zoneName] = zone
            t.add([
                // a job without a schedule that needs another follows its first need's fires
                s.job.name,
                s.job.schedule.isEmpty ? s.job.needs.first.map { "after \($0)" } ?? "(manual)" : s.job.schedule,
                s.job.owner, s.job.target,
                s.job.paused ? "yes" : "no", s.lastState?.rawValue ?? "-", s.lastDuration.map(humanDuration) ?? "-",
                s.job.paused ? "-" : s.job.nextFireAt.map { zone.format($0) } ?? "-"
            ])
        }
        Output.line(t.render())
    }
}

/// `--state`: the state of a job's last run, or `paused`, `active` (not paused) or `never` (no run yet).
enum StateFilter: ExpressibleByArgument {
    case lastRun(Run.State)
    case paused, active, never

    init?(argument: String) {
        switch argument {
        case "paused": self = .paused
        case "active": self = .active
        case "never": self = .never
        default:
            guard let s = Run.State(rawValue: argument) else { return nil }
            self = .lastRun(s)
        }
    }

    static var allValueStrings: [String] { Run.State.allCases.map(\.rawValue) + ["paused", "active", "never"] }

    func matches(_ s: JobStore.Summary) -> Bool {
        switch self {
        case .lastRun(let state): s.lastState == state
        case .paused: s.job.paused
        case .active: !s.job.paused
        case .never: s.lastState == nil
        }
    }
}
