import ArgumentParser
import MariaDB
import OctoCore
import OctoTime

#if canImport(Glibc)
    import Glibc
#endif

struct CursorGet: OctoCommand {
    static let configuration = CommandConfiguration(
        commandName: "get", abstract: "Print a job's cursor value alone (nothing if it has none), for scripts.")
    @Argument(help: "The job.") var job: String
    @OptionGroup var global: GlobalOptions

    func run(_ context: Context) throws {
        let db = try context.database()
        let remote = try CursorStore.get(db, job: job)
        if remote == nil { _ = try JobStore.require(db, job) }
        if global.json {
            try Output.json(
                remote.map { r in
                    JSON.object([
                        "job": .string(job), "value": .string(r.value), "version": .int(r.version),
                        "version_text": .string(CursorVersion.text(r.version)),
                        "updated_at": .string(r.updatedAt.iso8601),
                        "updated_run": r.updatedRun.map(JSON.int) ?? .null, "updated_by": .string(r.updatedBy)
                    ])
                } ?? JSON.null)
        } else if let r = remote {
            Output.value(r.value)
        }
    }
}
