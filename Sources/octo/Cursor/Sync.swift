import ArgumentParser
import MariaDB
import OctoCore
import OctoTime

#if canImport(Glibc)
    import Glibc
#endif

struct CursorSyncCommand: OctoCommand {
    static let configuration = CommandConfiguration(
        commandName: "sync", abstract: "Store the local cursors the database has not seen (set during an outage).",
        discussion: """
            Run from cron every few minutes (consume does it too before claiming). A value is stored only if \
            it is newer than the database's and was set while its run held its lease; any other is refused, \
            reported, marked refused in its file and never offered again. Exit 0 when every pending value \
            was stored or refused, 1 when the database cannot be reached.
            """)
    @OptionGroup var global: GlobalOptions

    func run(_ context: Context) throws {
        let db = try context.database()
        let report = try context.syncCursors(db, quiet: global.json)
        if global.json {
            var rows: [JSON] = report.stored.map { c in
                JSON.object([
                    "job": .string(c.job), "result": .string("stored"), "version": .int(c.version),
                    "run": c.runID.map(JSON.int) ?? .null, "reason": .null
                ])
            }
            rows += report.refused.map { (c, why) in
                JSON.object([
                    "job": .string(c.job), "result": .string("refused"), "version": .int(c.version),
                    "run": c.runID.map(JSON.int) ?? .null, "reason": .string(why)
                ])
            }
            try Output.json(JSON.array(rows))
        } else if !global.quiet {
            for c in report.stored {
                Output.line(
                    "stored cursor of \(c.job): version \(CursorVersion.text(c.version)) from run \(c.runID.map(String.init) ?? "-")"
                )
            }
        }
    }
}
