import ArgumentParser
import MariaDB
import OctoCore

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
            throw OctoError.usage("octo sh edit \(name): name at least one attribute to change")
        }
        let db = try context.database()
        let settings = try context.settings()
        let (old, saved) = try JobStore.change(db, name, by: context.actor, defaultZone: settings.defaultTimezone) {
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

struct ShRm: OctoCommand {
    static let configuration = CommandConfiguration(
        commandName: "rm", abstract: "Remove a job (its run history stays).",
        discussion: "Refused while one of its runs is running, unless --force. Queued runs are cancelled."
    )
    @Argument(help: "The job to remove.") var name: String
    @Flag(help: "Remove even while a run is running (the run finishes on its own).") var force = false
    @OptionGroup var global: GlobalOptions

    func run(_ context: Context) throws {
        try JobStore.remove(try context.database(), name, force: force)
        if !global.quiet && !global.json { Output.line("removed job '\(name)'") }
        if global.json { try Output.json(JSON.object(["removed": .string(name)])) }
    }
}

struct ShPause: OctoCommand {
    static let configuration = CommandConfiguration(
        commandName: "pause", abstract: "Stop scheduling a job (manual runs still work).")
    @Argument(help: "The job to pause.") var name: String
    @OptionGroup var global: GlobalOptions
    func run(_ context: Context) throws { try setPaused(context, name, true, global) }
}

struct ShResume: OctoCommand {
    static let configuration = CommandConfiguration(
        commandName: "resume", abstract: "Schedule a paused job again.",
        discussion: "The next fire is computed from now: fires that fell while the job was paused are not caught up."
    )
    @Argument(help: "The job to resume.") var name: String
    @OptionGroup var global: GlobalOptions
    func run(_ context: Context) throws { try setPaused(context, name, false, global) }
}

private func setPaused(_ context: Context, _ name: String, _ paused: Bool, _ global: GlobalOptions) throws {
    let db = try context.database()
    let settings = try context.settings()
    // resuming computes the next fire from now: fires that fell while it was paused are not caught up
    let (old, _) = try JobStore.change(
        db, name, by: context.actor, defaultZone: settings.defaultTimezone,
        recompute: { old, new in old.paused && !new.paused }
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
