import ArgumentParser
import MariaDB
import OctoCore
import OctoTime

struct ShPause: OctoCommand {
    static let configuration = CommandConfiguration(
        commandName: "pause", abstract: "Stop scheduling a job (manual runs still work).")
    @Argument(help: "The job to pause.") var name: String
    @OptionGroup var global: GlobalOptions
    func run(_ context: Context) throws { try setPaused(context, name, true, global) }
}

func setPaused(_ context: Context, _ name: String, _ paused: Bool, _ global: GlobalOptions) throws {
    let db = try context.database()
    let settings = try context.settings()
    // resuming computes the next fire from now: fires that fell while it was paused are not caught up
    let (old, _) = try JobStore.change(
        db, name, paused ? .pause : .resume, by: context.actor, defaultZone: settings.defaultTimezone
    ) { $0.paused = paused }
    if global.json {
        try Output.json(JSON.object(["name": .string(name), "paused": .bool(paused)]))
        return
    }
    if !global.quiet {
        Output.line(
            old.paused == paused
                ? "job '\(name)' was already \(paused ? "paused" : "active")"
                : "job '\(name)' \(paused ? "paused" : "resumed")")
    }
}
