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
    var state: String?
    @OptionGroup var global: GlobalOptions

    func run(_ context: Context) throws {
        let db = try context.database()
        let settings = try context.settings()
        let states = [
            "queued", "running", "succeeded", "failed", "timeout", "cancelled", "lost", "skipped", "paused", "active",
            "never"
        ]
        if let s = state, !states.contains(s) {
            throw OctoError.invalid("state", s, expected: states.joined(separator: ", "))
        }
        let all = try JobStore.summaries(db).filter { s in
            (owner == nil || s.job.owner == owner) && (target == nil || s.job.target == target)
                && (state == nil || state == s.lastState || (state == "paused" && s.job.paused)
                    || (state == "active" && !s.job.paused) || (state == "never" && s.lastState == nil))
        }
        if global.json {
            try Output.json(
                JSON.array(
                    all.map { s in
                        var o = s.job.json(defaultZone: settings.defaultTimezone)
                        o["last_state"] = s.lastState.map(JSON.string) ?? .null
                        o["last_duration_s"] = s.lastDuration.map(JSON.double) ?? .null
                        o["last_started"] = s.lastStarted.map { .string($0.iso8601) } ?? .null
                        return .object(o)
                    }))
            return
        }
        var zones: [String: Zone] = [:]
        var t = Table(["NAME", "SCHEDULE", "OWNER", "TARGET", "PAUSED", "LAST", "DURATION", "NEXT FIRE"])
        for s in all {
            let zoneName = s.job.timezone.isEmpty ? settings.defaultTimezone : s.job.timezone
            let zone = try zones[zoneName] ?? Zone.named(zoneName)
            zones[zoneName] = zone
            t.add([
                s.job.name, s.job.schedule.isEmpty ? "(manual)" : s.job.schedule, s.job.owner, s.job.target,
                s.job.paused ? "yes" : "no", s.lastState ?? "-", s.lastDuration.map(humanDuration) ?? "-",
                s.job.paused ? "-" : s.job.nextFireAt.map { zone.format($0) } ?? "-"
            ])
        }
        Output.line(t.render())
    }
}
