import ArgumentParser
import MariaDB
import OctoCore

struct ShShow: OctoCommand {
    static let configuration = CommandConfiguration(
        commandName: "show", abstract: "Every attribute of a job, its next 5 fires, its cursor and its last runs.")
    @Argument(help: "The job to show.") var name: String
    @OptionGroup var global: GlobalOptions

    func run(_ context: Context) throws {
        let db = try context.database()
        let settings = try context.settings()
        let job = try JobStore.require(db, name)
        let zone = try job.zone(default: settings.defaultTimezone)
        let now = try JobStore.serverNow(db)
        let fires = try job.parsedSchedule().fires(after: now, in: zone, count: 5)
        let cursor = try CursorStore.get(db, job: name)
        let runs = try RunQueue.history(db, job: name, limit: 5)

        if global.json {
            var o = job.json(defaultZone: settings.defaultTimezone)
            o["next_fires"] = .array(fires.map { .string($0.iso8601) })
            o["cursor"] =
                cursor.map { c in
                    .object(["value": .string(c.value), "version": .int(c.version), "updated_at": .string(c.updatedAt.iso8601)])
                } ?? .null
            o["last_runs"] = .array(
                runs.map { r in
                    .object([
                        "id": .int(r.id), "fire_time": .string(r.fireTime.iso8601), "state": .string(r.state.rawValue),
                        "stopping": .bool(r.isStopping), "machine": r.machine.map(JSON.string) ?? .null,
                        "exit_code": r.exitCode.map { .int(Int64($0)) } ?? .null
                    ])
                })
            try Output.json(JSON.object(o))
            return
        }
        var pairs: [(String, String)] = Job.attributes.map { a in
            var v = a.get(job)
            if a.name == "timezone" && v.isEmpty { v = settings.defaultTimezone + " (default_tz)" }
            if a.name == "schedule" && v.isEmpty { v = "(manual only)" }
            return (a.name, v.displayText)
        }
        pairs.append(("created", (job.createdAt?.iso8601 ?? "") + " by " + job.createdBy))
        pairs.append(("updated", (job.updatedAt?.iso8601 ?? "") + " by " + job.updatedBy))
        pairs.append(("next fires", fires.isEmpty ? "none" : fires.map { zone.format($0) }.joined(separator: "\n")))
        if let c = cursor {
            pairs.append(
                (
                    "cursor",
                    "\(c.value.quotedForMessage) (version \(CursorVersion.text(c.version)))"
                ))
        } else {
            pairs.append(("cursor", "none"))
        }
        let width = pairs.map(\.0.count).max()! + 2
        for (k, v) in pairs {
            for (i, line) in v.split(separator: "\n", omittingEmptySubsequences: false).enumerated() {
                Output.line((i == 0 ? k : "").padding(width) + line)
            }
        }
        Output.line("")
        if runs.isEmpty {
            Output.line("no runs yet")
            return
        }
        var r = Table(["run", "fire time", "trigger", "machine", "state", "exit", "duration"])
        for run in runs {
            let exit = run.exitSignal.map { "signal \($0)" } ?? run.exitCode.map(String.init) ?? ""
            r.add([
                "#\(run.id)", zone.format(run.fireTime), "\(run.trigger.rawValue)#\(run.attempt)", run.machine ?? "-",
                run.state.rawValue + (run.isStopping ? ", stopping" : ""), exit,
                run.startedAt.map { humanDuration(((run.endedAt ?? Instant.now()) - $0).seconds) } ?? ""
            ])
        }
        Output.line(r.render())
    }
}

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

struct ShSettings: OctoCommand {
    static let configuration = CommandConfiguration(
        commandName: "settings", abstract: "Show or change cluster-wide settings.",
        discussion:
            "octo sh settings lists all; octo sh settings KEY prints one value; octo sh settings KEY VALUE changes it (checked first)."
    )
    @Argument(help: "A setting's name.") var key: String?
    @Argument(help: "Its new value.") var value: String?
    @OptionGroup var global: GlobalOptions

    func run(_ context: Context) throws {
        let db = try context.database()
        var settings = try SettingsStore.load(db)
        guard let key else {
            if global.json {
                try Output.json(
                    JSON.object(
                        Dictionary(
                            uniqueKeysWithValues: Settings.keys.map { ($0.name, JSON.string(settings.value(of: $0))) }))
                )
                return
            }
            var t = Table(["SETTING", "VALUE", "MEANING"])
            for k in Settings.keys { t.add([k.name, settings.value(of: k).quotedForMessage, k.help]) }
            Output.line(t.render())
            return
        }
        guard let k = Settings.key(key) else {
            throw OctoError.invalid("setting", key, expected: Settings.keys.map(\.name).joined(separator: ", "))
        }
        if let value {
            try settings.set(k, value)
            try SettingsStore.save(db, k, of: settings, by: context.actor)
        }
        if global.json {
            try Output.json(JSON.object([k.name: .string(settings.value(of: k))]))
            return
        }
        if value == nil || !global.quiet {
            Output.line(value == nil ? settings.value(of: k) : "\(k.name) = \(settings.value(of: k))")
        }
    }
}
