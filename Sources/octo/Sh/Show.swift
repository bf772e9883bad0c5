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
