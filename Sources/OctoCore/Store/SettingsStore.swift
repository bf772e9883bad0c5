import MariaDB
import OctoTime

/// Reads and writes the `settings` table.
public enum SettingsStore {
    /// The settings in the database; a missing or unreadable row keeps its default.
    public static func load(_ db: Connection) throws -> Settings {
        var s = Settings()
        for row in try db.query("SELECT name, value FROM settings").rows {
            let name: String = try row.decode("name")
            if let key = Settings.key(name) { try? s.set(key, try row.decode("value"), given: false) }
        }
        return s
    }

    /// Writes one setting (already validated) and who changed it, with its
    /// `settings` audit row (old and new value) in the same transaction.
    public static func save(_ db: Connection, _ key: Settings.Key, of settings: Settings, by who: String) throws {
        let value = settings.value(of: key)
        try db.retrying { db in
            try db.transaction {
                let old =
                    try db.query("SELECT value FROM settings WHERE name = ? FOR UPDATE", [.text(key.name)]).first
                    .map { try $0.decode("value", as: String.self) } ?? Settings().value(of: key)
                try db.execute(
                    """
                    INSERT INTO settings (name, value, updated_at, updated_by) VALUES (?, ?, NOW(6), ?)
                    ON DUPLICATE KEY UPDATE value = VALUES(value), updated_at = VALUES(updated_at), updated_by = VALUES(updated_by)
                    """, [.text(key.name), .text(value), .text(who)])
                guard old != value else { return }
                if key.isZone { try JobStore.followDefaultZone(db, value) }
                try AuditStore.record(
                    db,
                    Audit.Record(
                        .settings, by: who, subject: "settings",
                        changes: [Audit.Change(key.name, .string(old), .string(value))]
                    ))
            }
        }
    }

    /// Writes every setting that has no row yet (never overwrites a choice).
    static func seedDefaults(_ db: Connection, _ settings: Settings, by who: String) throws {
        for key in Settings.keys {
            try db.execute(
                "INSERT IGNORE INTO settings (name, value, updated_at, updated_by) VALUES (?, ?, NOW(6), ?)",
                [.text(key.name), .text(settings.value(of: key)), .text(who)])
        }
    }
}
