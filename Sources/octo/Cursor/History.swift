import ArgumentParser
import MariaDB
import OctoCore
import OctoTime

#if canImport(Glibc)
    import Glibc
#endif

struct CursorHistory: OctoCommand {
    static let configuration = CommandConfiguration(
        commandName: "history",
        abstract: "The values a job's cursor took, newest first: time, version, run, machine, how it arrived, value.")
    @Argument(help: "The job.") var job: String
    @Option(name: .short, parsing: .unconditional, help: "How many values.") var n: Int = 20
    @OptionGroup var global: GlobalOptions

    func validate() throws {
        try checkCount(n)
    }

    func run(_ context: Context) throws {
        let db = try context.database()
        let settings = try context.settings()
        let entries = try CursorStore.history(db, job: job, limit: n)
        // a removed job's cursor history is still shown (in the default zone)
        let known = try JobStore.get(db, job)
        if entries.isEmpty && known == nil { _ = try JobStore.require(db, job) }
        let zone = try known?.zone(default: settings.defaultTimezone) ?? Zone.named(settings.defaultTimezone)
        if global.json {
            try Output.json(
                JSON.array(
                    entries.map { e in
                        .object([
                            "value": .string(e.value), "version": .int(e.version),
                            "version_text": .string(CursorVersion.text(e.version)),
                            "run": e.runID.map(JSON.int) ?? .null, "machine": .string(e.machine), "via": .string(e.via),
                            "stored_at": .string(e.storedAt.iso8601)
                        ])
                    }))
            return
        }
        if entries.isEmpty {
            Output.line("no cursor values yet")
            return
        }
        var t = Table(["stored", "version", "run", "machine", "via", "value"])
        for e in entries {
            t.add([
                zone.format(e.storedAt), CursorVersion.text(e.version), e.runID.map(String.init) ?? "-", e.machine,
                e.via,
                e.value.quotedForMessage(limit: 80)
            ])
        }
        Output.line(t.render())
    }
}
