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
        func waits(_ r: Run) -> [String] { unmet.filter { $0.runID == r.id }.map(NeedsStore.waitText) }
        if global.json {
            try Output.json(JSON.array(runs.map { $0.json(waitsFor: waits($0)) }))
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
