import ArgumentParser
import MariaDB
import OctoCore
import OctoTime

struct ShShow: OctoCommand {
    static let configuration = CommandConfiguration(
        commandName: "show", abstract: "Every attribute of a job, its next 5 fires, its cursor and its last runs.")
    @Argument(help: "The job to show.") var name: String
    @OptionGroup var global: GlobalOptions

    /// What is shown.
    private struct Shown {
        var job: Job
        var defaultZone: String
        var zone: Zone
        var fires: [Instant]
        var cursor: CursorStore.Remote?
        var runs: [Run]
    }

    func run(_ context: Context) throws {
        let db = try context.database()
        let settings = try context.settings()
        let job = try JobStore.require(db, name)
        let zone = try job.zone(default: settings.defaultTimezone)
        let now = try JobStore.serverNow(db)
        let shown = Shown(
            job: job, defaultZone: settings.defaultTimezone, zone: zone,
            fires: try job.parsedSchedule().fires(after: now, in: zone, count: 5),
            cursor: try CursorStore.get(db, job: name), runs: try RunQueue.history(db, job: name, limit: 5))
        if global.json {
            try Output.json(json(shown))
        } else {
            attributes(shown)
            Output.line("")
            runs(shown)
        }
    }

    private func json(_ s: Shown) -> JSON {
        var o = s.job.json(defaultZone: s.defaultZone)
        o["next_fires"] = .array(s.fires.map { .string($0.iso8601) })
        o["cursor"] =
            s.cursor.map { c in
                .object([
                    "value": .string(c.value), "version": .int(c.version), "updated_at": .string(c.updatedAt.iso8601)
                ])
            } ?? .null
        o["last_runs"] = .array(
            s.runs.map { r in
                .object([
                    "id": .int(r.id), "fire_time": .string(r.fireTime.iso8601), "state": .string(r.state.rawValue),
                    "stopping": .bool(r.isStopping), "machine": r.machine.map(JSON.string) ?? .null,
                    "exit_code": r.exitCode.map { .int(Int64($0)) } ?? .null
                ])
            })
        return JSON.object(o)
    }

    /// Every attribute, then who made and changed the job, its next fires and its cursor.
    private func attributes(_ s: Shown) {
        let job = s.job
        var pairs: [(String, String)] = Job.attributes.map { a in
            var v = a.get(job)
            if a.name == "timezone" && v.isEmpty { v = s.defaultZone + " (default_tz)" }
            if a.name == "schedule" && v.isEmpty { v = "(manual only)" }
            return (a.name, v.displayText)
        }
        pairs.append(("created", (job.createdAt?.iso8601 ?? "") + " by " + job.createdBy))
        pairs.append(("updated", (job.updatedAt?.iso8601 ?? "") + " by " + job.updatedBy))
        pairs.append(
            ("next fires", s.fires.isEmpty ? "none" : s.fires.map { s.zone.format($0) }.joined(separator: "\n")))
        pairs.append(
            (
                "cursor",
                s.cursor.map { "\($0.value.quotedForMessage) (version \(CursorVersion.text($0.version)))" } ?? "none"
            ))
        let width = pairs.map(\.0.count).max()! + 2
        for (k, v) in pairs {
            for (i, line) in v.split(separator: "\n", omittingEmptySubsequences: false).enumerated() {
                Output.line((i == 0 ? k : "").padding(width) + line)
            }
        }
    }

    private func runs(_ s: Shown) {
        if s.runs.isEmpty {
            Output.line("no runs yet")
            return
        }
        var r = Table(["run", "fire time", "trigger", "machine", "state", "exit", "duration"])
        for run in s.runs {
            let exit = run.exitSignal.map { "signal \($0)" } ?? run.exitCode.map(String.init) ?? ""
            r.add([
                "#\(run.id)", s.zone.format(run.fireTime), "\(run.trigger.rawValue)#\(run.attempt)", run.machine ?? "-",
                run.state.rawValue + (run.isStopping ? ", stopping" : ""), exit,
                run.startedAt.map { humanDuration(((run.endedAt ?? Instant.now()) - $0).seconds) } ?? ""
            ])
        }
        Output.line(r.render())
    }
}
