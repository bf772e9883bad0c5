import ArgumentParser
import MariaDB
import OctoCore
import OctoTime

struct ShAdd: OctoCommand {
    static let configuration = CommandConfiguration(
        commandName: "add", abstract: "Define a new job.",
        discussion:
            "Every attribute has a flag; --command is required. Example:\n  octo sh add backup --command 'pg_dump app | gzip > /backup/app.gz' --schedule '30 2 * * *' --timezone Europe/London --retries 2"
    )
    @Argument(help: "The job's name (\(Names.nameRule)).") var name: String
    @OptionGroup var attributes: JobAttributeOptions
    @OptionGroup var global: GlobalOptions

    func run(_ context: Context) throws {
        var job = Job(name: name, command: "")
        try Job.attribute("name")!.set(&job, name)
        guard attributes.command != nil else { throw OctoError.usage("octo sh add needs --command") }
        job.owner = currentUserName()
        try attributes.apply(to: &job)
        let db = try context.database()
        let settings = try context.settings()
        let saved = try JobStore.add(db, job, by: context.actor, defaultZone: settings.defaultTimezone)
        if global.json {
            try Output.json(JSON.object(saved.json(defaultZone: settings.defaultTimezone)))
            return
        }
        guard !global.quiet else { return }
        let zone = try saved.zone(default: settings.defaultTimezone)
        Output.line(
            "added job '\(saved.name)'; next fire: "
                + (saved.nextFireAt.map { zone.format($0) } ?? "none (manual only)"))
    }
}
