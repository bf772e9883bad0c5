import ArgumentParser
import MariaDB
import OctoCore

struct ShExport: OctoCommand {
    static let configuration = CommandConfiguration(
        commandName: "export", abstract: "All jobs as YAML on stdout, by name (the format octo sh apply reads).")
    @OptionGroup var global: GlobalOptions

    func run(_ context: Context) throws {
        let jobs = try JobStore.all(context.database())
        if global.json {
            let zone = try context.settings().defaultTimezone
            try Output.json(JSON.array(jobs.map { .object($0.definition.json(defaultZone: zone)) }))
            return
        }
        print(JobFile.render(jobs), terminator: "")
    }
}

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
        let entries = try JobFile.parse(text, path: file)

        let db = try context.database()
        let settings = try context.settings()
        let me = currentUserName()
        let plan: ApplyPlan
        if dryRun {
            plan = ApplyPlan(entries, existing: try JobStore.all(db), prune: prune, me: me)
        } else {
            // decided from the jobs as they are under their row locks, and applied in the same transaction, so a
            // concurrent edit or apply is never overwritten with what was read before it (a deadlock is retried)
            plan = try db.retrying { db in
                try JobStore.exclusively(db, database: context.config.database) {
                    try db.transaction { () throws -> ApplyPlan in
                        let plan = ApplyPlan(entries, existing: try JobStore.allLocked(db), prune: prune, me: me)
                        for r in plan.removes { try JobStore.removeInTransaction(db, r, force: force) }
                        for u in plan.updates {
                            try JobStore.update(
                                db, u.new, previous: u.old, by: context.actor, defaultZone: settings.defaultTimezone)
                        }
                        for c in plan.creates {
                            _ = try JobStore.add(db, c, by: context.actor, defaultZone: settings.defaultTimezone)
                        }
                        return plan
                    }
                }
            }
        }
        if global.json {
            try Output.json(
                JSON.object([
                    "create": .array(plan.creates.map { .string($0.name) }),
                    "update": .array(
                        plan.updates.map { u in
                            .object([
                                "name": .string(u.new.name),
                                "changes": .object(
                                    Dictionary(
                                        uniqueKeysWithValues: u.changes.map {
                                            ($0.0, JSON.array([.string($0.1), .string($0.2)]))
                                        }))
                            ])
                        }),
                    "remove": .array(plan.removes.map(JSON.string)),
                    "unchanged": .int(Int64(plan.unchanged)),
                    "applied": .bool(!dryRun)
                ]))
        } else if !global.quiet {
            for j in plan.creates { Output.line("+ \(j.name)") }
            for u in plan.updates {
                Output.line(
                    "~ \(u.new.name): "
                        + u.changes.map {
                            "\($0.0) \(JobFile.scalar($0.1, numeric: false)) → \(JobFile.scalar($0.2, numeric: false))"
                        }.joined(separator: "; "))
            }
            for r in plan.removes { Output.line("- \(r)") }
            Output.line(
                "\(plan.creates.count) to create, \(plan.updates.count) to change, \(plan.removes.count) to remove, \(plan.unchanged) unchanged"
                    + (dryRun ? " (dry run: nothing changed)" : ""))
        }
    }
}

/// What `apply` does to make the jobs match a file: decided purely from the
/// file's entries and the jobs as they are.
struct ApplyPlan {
    var creates: [Job] = []
    var updates: [(old: Job, new: Job, changes: [(String, String, String)])] = []
    var removes: [String] = []
    var unchanged = 0

    /// Attributes a job in the file leaves out take their defaults, except owner: kept, or `me` for a new job.
    init(_ entries: [JobFile.Entry], existing jobs: [Job], prune: Bool, me: String) {
        let existing = Dictionary(jobs.map { ($0.name, $0) }, uniquingKeysWith: { a, _ in a })
        for e in entries {
            var job = e.job
            if let old = existing[job.name] {
                if !e.given.contains("owner") { job.owner = old.owner }
                let changes = Job.attributes.compactMap { a -> (String, String, String)? in
                    a.get(old) == a.get(job) ? nil : (a.name, a.get(old), a.get(job))
                }
                if changes.isEmpty { unchanged += 1 } else { updates.append((old, job, changes)) }
            } else {
                if !e.given.contains("owner") { job.owner = me }
                creates.append(job)
            }
        }
        let inFile = Set(entries.map(\.job.name))
        removes = prune ? existing.keys.filter { !inFile.contains($0) }.sorted() : []
    }
}
