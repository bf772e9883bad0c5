import MariaDB
import OctoTime

/// Creates and upgrades octo's database.
///
/// Safe to run twice, or from several machines at once: an advisory lock
/// (`GET_LOCK`) lets one of them do the work while the others wait (up to
/// 10 minutes, in steps shorter than the read timeout), and every step is
/// idempotent anyway (`IF NOT EXISTS`, `INSERT IGNORE`).
public enum Migrator {
    /// What `initialize` found and did.
    public struct Outcome: Sendable, Equatable {
        public let databaseCreated: Bool
        public let from: Int
        public let to: Int
        public var applied: [Int] { from < to ? Array((from + 1)...to) : [] }
    }

    /// The schema version recorded in the connected database; 0 when octo's
    /// tables do not exist yet.
    public static func currentVersion(_ db: Connection) throws -> Int {
        do {
            return try db.query("SELECT COALESCE(MAX(version), 0) AS v FROM schema_version").first?.decode("v") ?? 0
        } catch let e as MariaDBError where e.code == .noSuchTable {
            return 0
        }
    }

    /// Throws unless the connected database has exactly the schema this binary knows.
    public static func requireCurrent(_ db: Connection, database: String) throws {
        let v = try currentVersion(db)
        if v == 0 { throw OctoError.failure("database '\(database)' has no octo schema; run: octo init") }
        if v < Schema.latest {
            throw OctoError.failure(
                "database '\(database)' has schema v\(v), this octo needs v\(Schema.latest); run: octo init")
        }
        if v > Schema.latest { throw newerSchema(v, database) }
    }

    static func newerSchema(_ v: Int, _ database: String) -> OctoError {
        OctoError.failure(
            "database '\(database)' has schema v\(v), newer than this octo knows (v\(Schema.latest)); upgrade octo on this machine"
        )
    }

    /// Creates the database if needed, applies the missing migrations, writes
    /// default settings that have no row yet, and makes sure the log table has
    /// day partitions for the coming week.
    public static func initialize(_ config: OctoConfig, settings defaults: Settings, by who: String) throws -> Outcome {
        // A migration's DDL may rewrite a big table, and on a busy server even a CREATE TABLE can take long: that
        // is work, not a hang, so init reads with a long timeout (an hour) where the cron path keeps its short one.
        // Lock waits stay at their 20 s (retried by the lock wait loop, or reported).
        let db = try config.connectWithoutDatabase(
            readTimeout: max(config.connection.readTimeout, Migrator.statementPatience))
        defer { db.close() }
        let exists = try !db.query(
            "SELECT SCHEMA_NAME FROM information_schema.SCHEMATA WHERE SCHEMA_NAME = ?",
            [.text(config.database)]
        ).rows.isEmpty
        if !exists {
            // an identifier cannot be bound; Names.checkDatabase allows no backquote
            try db.run("CREATE DATABASE IF NOT EXISTS `\(config.database)` CHARACTER SET utf8mb4 COLLATE utf8mb4_bin")
        }
        try db.selectDatabase(config.database)

        let lock = "octo.init." + config.database
        try waitForLock(db, lock)
        defer { _ = try? db.query("SELECT RELEASE_LOCK(?)", [.text(lock)]) }

        let from = try currentVersion(db)
        if from > Schema.latest { throw newerSchema(from, config.database) }
        for m in Schema.migrations where m.version > from {
            for statement in m.statements { try db.run(statement) }
            try db.execute(
                "INSERT IGNORE INTO schema_version (version, summary, applied_at, applied_by) VALUES (?, ?, NOW(6), ?)",
                [.int(Int64(m.version)), .text(m.summary), .text(who)])
        }
        try SettingsStore.seedDefaults(db, defaults, by: who)
        try LogPartitions.ensure(db, daysAhead: LogPartitions.daysAhead)
        return Outcome(databaseCreated: !exists, from: from, to: Schema.latest)
    }

    /// How long one statement of `octo init` may take (seconds): the read timeout of its connection.
    static let statementPatience: UInt32 = 3600

    /// How long an `octo init` waits for another one (whose migrations may rewrite big tables).
    static let lockPatience: Int64 = 600

    /// Takes the advisory lock, waiting in steps shorter than the connection's read timeout: one GET_LOCK that
    /// waited longer would look to the client like a lost connection (error 2013) while the other init works.
    static func waitForLock(_ db: Connection, _ lock: String) throws {
        try ServerStore.waitForLock(db, lock, patience: lockPatience, holder: "octo init")
    }
}
