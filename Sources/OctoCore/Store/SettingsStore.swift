import MariaDB
import OctoTime

/// Reads and writes the `settings` table.
public enum SettingsStore {
    /// The settings in the database; a missing or unreadable row keeps its default.
    public static func load(_ db: Connection) throws -> Settings {
        var s = Settings()
        for row in try db.query("SELECT name, value FROM settings").rows {
            let name: String = try row.decode("name")
            if let key = Settings.key(name) { try? s.set(key, try row.decode("value")) }
        }
        return s
    }

    /// Writes one setting (already validated) and who changed it.
    public static func save(_ db: Connection, _ key: Settings.Key, of settings: Settings, by who: String) throws {
        try db.execute(
            """
            INSERT INTO settings (name, value, updated_at, updated_by) VALUES (?, ?, NOW(6), ?)
            ON DUPLICATE KEY UPDATE value = VALUES(value), updated_at = VALUES(updated_at), updated_by = VALUES(updated_by)
            """, [.text(key.name), .text(settings.value(of: key)), .text(who)])
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
