import ArgumentParser
import MariaDB
import OctoCore
import OctoTime

struct ShApply: OctoCommand {
    static let configuration = CommandConfiguration(
        commandName: "apply",
        abstract: "Make the jobs match a YAML file: create and update (and remove, with --prune).",
        discussion: """
            Shows the difference first. All or nothing: the whole file is checked before anything \
            is written, and the changes are made in one transaction. Attributes a job in the file \
            leaves out take their defaults, except owner, which keeps its current value.
            """
    )
    @Argument(help: "The YAML file (as written by octo sh export); - for stdin.") var file: String
    @Flag(help: "Also remove jobs that are not in the file.") var prune = false
    @Flag(help: "Show the difference and change nothing.") var dryRun = false
    @Flag(help: "With --prune, remove jobs even while a run of theirs is running.") var force = false
    @OptionGroup var global: GlobalOptions

    func run(_ context: Context) throws {
        let entries = try JobFile.parse(try readText(), path: file)
        let db = try context.database()
        let settings = try context.settings()
        let plan =
            dryRun
            ? ApplyPlan(entries, existing: try JobStore.all(db), prune: prune, me: currentUserName())
            : try JobStore.apply(
                db, entries, prune: prune, force: force, me: currentUserName(), by: context.actor,
                defaultZone: settings.defaultTimezone, database: context.config.database)
        if global.json {
            try Output.json(json(plan))
        } else if !global.quiet {
            show(plan)
        }
    }

    /// The file's text (stdin for `-`).
    private func readText() throws -> String {
        let bytes: [UInt8]
        if file == "-" {
            var all: [UInt8] = []
            while let line = readLine(strippingNewline: false) { all += Array(line.utf8) }
            bytes = all
        } else {
            guard let b = readFileBytes(file) else {
                throw OctoError.usage("cannot read job file '\(file.quotedForMessage)'")
            }
            bytes = b
        }
        guard let text = String(validating: bytes, as: UTF8.self) else {
            throw OctoError.usage("job file '\(file.quotedForMessage)' is not valid UTF-8")
        }
        return text
    }

    private func json(_ plan: ApplyPlan) -> JSON {
        JSON.object([
            "create": .array(plan.creates.map { .string($0.name) }),
            "update": .array(
                plan.updates.map { u in
                    .object([
                        "name": .string(u.new.name),
                        "changes": .object(
                            Dictionary(
                                uniqueKeysWithValues: u.changes.map {
                                    ($0.attribute, JSON.array([.string($0.old), .string($0.new)]))
                                }))
                    ])
                }),
            "remove": .array(plan.removes.map(JSON.string)),
            "unchanged": .int(Int64(plan.unchanged)),
            "applied": .bool(!dryRun)
        ])
    }

    private func show(_ plan: ApplyPlan) {
        for j in plan.creates { Output.line("+ \(j.name)") }
        for u in plan.updates {
            Output.line(
                "~ \(u.new.name): "
                    + u.changes.map {
                        "\($0.attribute) \(JobFile.scalar($0.old, numeric: false)) → \(JobFile.scalar($0.new, numeric: false))"
                    }.joined(separator: "; "))
        }
        for r in plan.removes { Output.line("- \(r)") }
        Output.line(
            "\(plan.creates.count) to create, \(plan.updates.count) to change, \(plan.removes.count) to remove, \(plan.unchanged) unchanged"
                + (dryRun ? " (dry run: nothing changed)" : ""))
    }
}
