import ArgumentParser
import MariaDB
import OctoCore
import OctoTime

#if canImport(Glibc)
    import Glibc
#endif

struct ShRuns: OctoCommand {
    static let configuration = CommandConfiguration(
        commandName: "runs",
        abstract: "A job's run history: fire time, trigger, attempt, machine, start, duration, state, exit code.")
    @Argument(help: "The job.") var name: String
    @Option(name: .short, parsing: .unconditional, help: "How many runs, newest first.") var n: Int = 20
    @OptionGroup var global: GlobalOptions

    func validate() throws {
        try checkCount(n)
    }

    func run(_ context: Context) throws {
        let db = try context.database()
        let settings = try context.settings()
        let job = try JobStore.require(db, name)
        let zone = try job.zone(default: settings.defaultTimezone)
        let runs = try RunQueue.history(db, job: name, limit: n)
        let unmet = try NeedsStore.unmet(db, runIDs: runs.filter { $0.state == .waiting }.map(\.id))
        func waits(_ r: Run) -> [String] { unmet.filter { $0.runID == r.id }.map(waitText) }
        if global.json {
            try Output.json(
                JSON.array(
                    runs.map { r in
                        .object([
                            "id": .int(r.id), "fire_time": .string(r.fireTime.iso8601),
                            "logical_date": .string(r.logicalDate), "waits_for": .array(waits(r).map(JSON.string)),
                            "trigger": .string(r.trigger.rawValue),
                            "attempt": .int(Int64(r.attempt)), "machine": r.machine.map(JSON.string) ?? .null,
                            "state": .string(r.state.rawValue), "stopping": .bool(r.isStopping),
                            "reason": .string(r.reason),
                            "started_at": r.startedAt.map { .string($0.iso8601) } ?? .null,
                            "ended_at": r.endedAt.map { .string($0.iso8601) } ?? .null,
                            "duration": r.duration.map(JSON.double) ?? .null,
                            "exit_code": r.exitCode.map { .int(Int64($0)) } ?? .null,
                            "signal": r.exitSignal.map { .int(Int64($0)) } ?? .null,
                            "cursor_in": r.cursorIn.map(JSON.string) ?? .null,
                            "cursor_out": r.cursorOut.map(JSON.string) ?? .null
                        ])
                    }))
            return
        }
        if runs.isEmpty {
            Output.line("no runs yet")
            return
        }
        var t = Table(["run", "fire time", "trigger", "machine", "started", "duration", "state", "exit"])
        for r in runs {
            let exit = r.exitSignal.map { signalName($0) } ?? r.exitCode.map(String.init) ?? ""
            t.add([
                "\(r.id)", zone.format(r.fireTime), "\(r.trigger.rawValue)#\(r.attempt)", r.machine ?? "-",
                r.startedAt.map { zone.format($0) } ?? "", r.duration.map(humanDuration) ?? "",
                r.state.rawValue + (r.isStopping ? ", stopping" : "")
                    + ([.skipped, .cancelled, .lost, .passed].contains(r.state) ? " (\(r.reason))" : "")
                    + (r.state == .waiting ? " for " + waits(r).joined(separator: ", ") : ""), exit
            ])
        }
        Output.line(t.render())
    }
}
