import MariaDB
import OctoCore
import OctoTime

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

extension Context {
    /// This machine's local cursors.
    var cursorFiles: CursorFiles { CursorFiles(stateDirectory: config.stateDirectory) }

    /// Pushes pending local cursors; refusals and damaged files become
    /// warnings (unless `quiet`). Throws only when the database fails.
    @discardableResult
    func syncCursors(_ db: Connection, quiet: Bool = false) throws -> CursorSync.Report {
        let report = try CursorSync.sync(db, cursorFiles)
        if !quiet {
            for (c, why) in report.refused {
                Output.warning(
                    "cursor of \(c.job), version \(CursorVersion.text(c.version)) from run \(c.runID.map(String.init) ?? "-"), refused: \(why)"
                )
            }
            for (path, why) in report.damaged { Output.warning("\(path): \(why)") }
        }
        return report
    }
}

extension Context {
    /// How jobs started from this process run: octo's environment, plus
    /// what a job needs to call octo back (`octo cursor set`, `octo logger`)
    /// with the same database and machine.
    func supervisorOptions(_ settings: Settings) -> Supervisor.Options {
        var env = Context.withoutSecrets(environment)
        env["OCTO_MACHINE"] = config.machine
        if let f = config.connection.defaultsFile { env["OCTO_DEFAULTS_FILE"] = f }
        var options = Supervisor.Options(settings: settings, environment: env)
        options.spool = spool
        options.cursors = cursorFiles
        return options
    }

    /// `environment` without the database password variables: a job gets the
    /// option file (OCTO_DEFAULTS_FILE), which holds what it needs to call
    /// octo back, and its own children do not inherit a password.
    static func withoutSecrets(_ environment: [String: String]) -> [String: String] {
        environment.filter { $0.key != "OCTO_DB_PASSWORD" && $0.key != "MYSQL_PWD" }
    }

    /// This machine's log spool.
    var spool: Spool { Spool(stateDirectory: config.stateDirectory) }

    /// Replays log lines spooled during a database outage (by any octo
    /// process of this state directory); problems become a warning — the
    /// lines stay for the next replay.
    func replaySpool(_ db: Connection) {
        do {
            let r = try spool.replay(db)
            if r.lines > 0 && options.verbose {
                Output.line("replayed \(r.lines) spooled log lines from \(r.files) file(s)")
            }
            for f in r.setAside {
                Output.warning(
                    "\(f): not a log spool file this octo can read (no valid header, or not a regular file of this user's); set aside, not replayed"
                )
            }
            for f in r.damaged {
                Output.warning(
                    "\(f): a damaged record; the lines before it are stored, the rest is kept in the file, not replayed"
                )
            }
            for f in r.refused {
                Output.warning("\(f.file): the database refuses a line of it (\(f.error)); set aside, not replayed")
            }
        } catch {
            Output.warning("could not replay the log spool in \(spool.directory): \(error)")
        }
    }
}
