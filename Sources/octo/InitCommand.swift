import ArgumentParser
import OctoCore
import OctoTime

struct InitCommand: OctoCommand {
    static let configuration = CommandConfiguration(
        commandName: "init",
        abstract: "Create or upgrade octo's database schema (idempotent).",
        discussion: """
            Creates the database if it does not exist, applies the schema migrations this \
            octo knows, writes default settings that are not set yet (default_tz is this \
            machine's time zone) and prepares the log table's day partitions. Safe to run \
            again, and from several machines at once. Refuses a database whose schema is \
            newer than this binary. Needs CREATE, ALTER, DROP and INDEX privileges.
            """
    )

    @OptionGroup var global: GlobalOptions

    func run(_ context: Context) throws {
        var defaults = Settings()
        defaults.defaultTimezone = Zone.definableLocalName(environment: context.environment)
        let outcome = try Migrator.initialize(context.config, settings: defaults, by: context.actor)
        if global.json {
            struct Result: Encodable {
                let database: String
                let created: Bool
                let from: Int
                let to: Int
                let applied: [Int]
            }
            try Output.json(
                Result(
                    database: context.config.database, created: outcome.databaseCreated,
                    from: outcome.from, to: outcome.to, applied: outcome.applied))
            return
        }
        guard !global.quiet else { return }
        let db = "database '\(context.config.database)'"
        if outcome.databaseCreated { Output.line("created \(db)") }
        if outcome.applied.isEmpty {
            Output.line("\(db): schema is up to date (v\(outcome.to))")
        } else {
            Output.line("\(db): schema v\(outcome.from) → v\(outcome.to)")
        }
    }
}
