import ArgumentParser
import MariaDB
import OctoCore
import OctoTime

struct ShRm: OctoCommand {
    static let configuration = CommandConfiguration(
        commandName: "rm", abstract: "Remove a job (its run history stays).",
        discussion: "Refused while one of its runs is running, unless --force. Queued runs are cancelled."
    )
    @Argument(help: "The job to remove.") var name: String
    @Flag(help: "Remove even while a run is running (the run finishes on its own).") var force = false
    @OptionGroup var global: GlobalOptions

    func run(_ context: Context) throws {
        try JobStore.remove(try context.database(), name, force: force, by: context.actor)
        if !global.quiet && !global.json { Output.line("removed job '\(name)'") }
        if global.json { try Output.json(JSON.object(["removed": .string(name)])) }
    }
}
