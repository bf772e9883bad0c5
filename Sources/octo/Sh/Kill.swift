import ArgumentParser
import MariaDB
import OctoCore
import OctoTime

#if canImport(Glibc)
    import Glibc
#endif

struct ShKill: OctoCommand {
    static let configuration = CommandConfiguration(
        commandName: "kill",
        abstract: "Cancel a run (by id) or every queued and running run of a job; killed runs are not retried.",
        discussion: "A number is a run id; write job:NAME for a job whose name is all digits.")
    @Argument(help: "A run id or a job name.") var target: String
    @OptionGroup var global: GlobalOptions

    func run(_ context: Context) throws {
        let db = try context.database()
        var cancelled: [Run]
        if let id = Int64(target), try RunQueue.get(db, id) != nil {
            cancelled = try db.retrying { db in try RunQueue.kill(db, runID: id, by: context.actor) }
            if cancelled.isEmpty, let r = try RunQueue.get(db, id) {
                throw OctoError.failure("run \(id) is already \(r.state.rawValue)")
            }
        } else {
            let name = target.hasPrefix("job:") ? String(target.dropFirst(4)) : target
            let job = try JobStore.require(db, name)
            cancelled = try db.retrying { db in try RunQueue.kill(db, jobID: job.id!, by: context.actor) }
        }
        if global.json {
            try Output.json(
                JSON.array(
                    cancelled.map { r in
                        .object([
                            "run": .int(r.id), "job": .string(r.jobName), "was": .string(r.state.rawValue),
                            "machine": r.machine.map(JSON.string) ?? .null
                        ])
                    }))
            return
        }
        if cancelled.isEmpty {
            if !global.quiet { Output.line("nothing to kill: no queued or running run") }
            return
        }
        for r in cancelled where !global.quiet {
            Output.line(
                "cancelled run \(r.id) of \(r.jobName) (was \(r.state.rawValue)" + (r.machine.map { " on \($0)" } ?? "")
                    + (r.state == .running ? "; its machine stops it within seconds" : "") + ")")
        }
    }
}
