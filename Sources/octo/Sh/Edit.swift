import ArgumentParser
import MariaDB
import OctoCore
import OctoTime

struct ShEdit: OctoCommand {
    static let configuration = CommandConfiguration(
        commandName: "edit", abstract: "Change some attributes of a job.",
        discussion: "Only the attributes named change. Changing the schedule or time zone recomputes the next fire."
    )
    @Argument(help: "The job to change.") var name: String
    @Option(name: .customLong("rename"), help: "A new name for the job.") var newName: String?
    @OptionGroup var attributes: JobAttributeOptions
    @OptionGroup var global: GlobalOptions

    func run(_ context: Context) throws {
        guard !attributes.given.isEmpty || newName != nil else {
            throw OctoError.usage("octo sh edit \(name.quotedForMessage): name at least one attribute to change")
        }
        let db = try context.database()
        let settings = try context.settings()
        let (old, saved) = try JobStore.change(
            db, name, .edit, by: context.actor, defaultZone: settings.defaultTimezone
        ) {
            job in
            if let n = newName { try Job.attribute("name")!.set(&job, n) }
            try attributes.apply(to: &job)
        }
        if global.json {
            try Output.json(JSON.object(saved.json(defaultZone: settings.defaultTimezone)))
            return
        }
        guard !global.quiet else { return }
        let changed = Job.attributes.filter { $0.get(old) != $0.get(saved) }.map(\.name)
        Output.line(
            "job '\(saved.name)': "
                + (changed.isEmpty ? "nothing changed" : "changed " + changed.joined(separator: ", ")))
    }
}
