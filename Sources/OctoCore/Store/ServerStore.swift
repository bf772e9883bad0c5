import MariaDB
import OctoTime

/// What octo asks the server about itself (for `octo doctor`).
public enum ServerStore {
    /// The server's clock and the account it sees (`user@host`).
    static func clockAndUser(_ db: Connection) throws -> (now: Instant, user: String) {
        let row = try db.query("SELECT NOW(6) AS now, CURRENT_USER() AS user").first!
        return (try row.decode("now"), try row.decode("user"))
    }

    /// The lines of `SHOW GRANTS` for the current account.
    static func grants(_ db: Connection) throws -> [String] {
        // one column, named after the account ("Grants for …")
        let result = try db.query("SHOW GRANTS")
        let column = result.columns.names.first ?? ""
        return try result.rows.map { row in try row.decode(column, as: String.self) }
    }
}
