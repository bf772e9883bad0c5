import MariaDB
import OctoCore

/// What every subcommand needs, built once per process: the resolved
/// configuration, the output settings, and (on first use) one connection
/// whose schema version has been checked.
final class Context {
    let config: OctoConfig
    let options: GlobalOptions
    let environment: [String: String]
    private var connection: Connection?
    private var cachedSettings: Settings?

    init(_ options: GlobalOptions) throws {
        self.options = options
        environment = processEnvironment()
        config = try OctoConfig(defaultsFile: options.defaultsFile, machine: options.machine, environment: environment)
        for w in config.warnings { Output.warning(w) }
    }

    /// The connection to octo's database, opened on first use; throws unless
    /// the schema is the one this binary knows.
    func database() throws -> Connection {
        if let c = connection { return c }
        let c = try config.connect()
        try Migrator.requireCurrent(c, database: config.database)
        connection = c
        return c
    }

    /// Cluster-wide settings, read once.
    func settings() throws -> Settings {
        if let s = cachedSettings { return s }
        let s = try SettingsStore.load(database())
        cachedSettings = s
        return s
    }

    /// Who is acting, for created_by/updated_by columns: `user@machine`.
    var actor: String { currentUserName() + "@" + config.machine }

    func close() {
        connection?.close()
        connection = nil
    }
}
