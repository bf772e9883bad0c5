import ArgumentParser
import MariaDB
import OctoCore
import OctoTime

struct ShRm: OctoCommand {
    static let configuration = CommandConfiguration(
        commandName: "rm", abstract: "Remove a job (its run history stays).",
        discussion:
            "Refused while one of its runs is running, or while other jobs need it, unless --force (which also removes it from their needs). Queued and waiting runs are cancelled."
    )
    @Argument(help: "The job to remove.") var name: String
    @Flag(help: "Remove even while a run is running (the run finishes on its own) or other jobs need it.") var force =
        false
    @OptionGroup var global: GlobalOptions

    func run(_ context: Context) throws {
        let db = try context.database()
        try JobStore.remove(
            db, name, force: force, by: context.actor, defaultZone: try context.settings().defaultTimezone)
        if !global.quiet && !global.json { Output.line("removed job '\(name)'") }
        if global.json { try Output.json(JSON.object(["removed": .string(name)])) }
    }
}
