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

    /// Takes the advisory lock `lock`, asking in steps of at most 10 s (and
    /// of the connection's lock wait, under its read timeout) for up to
    /// `patience` seconds: one long `GET_LOCK` would outlast the read timeout
    /// and look like a lost connection. `holder` names who holds it in the error.
    static func waitForLock(_ db: Connection, _ lock: String, patience: Int64, holder: String) throws {
        let deadline = ContinuousClock.now + .seconds(patience)
        let step = Int64(min(10, db.options.lockWait))
        while true {
            let got: Int? = try db.query("SELECT GET_LOCK(?, ?) AS got", [.text(lock), .int(step)]).first?.decode("got")
            if got == 1 { return }
            if got == nil { throw OctoError.failure("could not take the lock '\(lock)' (GET_LOCK returned NULL)") }
            if ContinuousClock.now >= deadline {
                throw OctoError.failure(
                    "another \(holder) has held the lock '\(lock)' for \(patience / 60) minutes; if none is running, look for a stuck session with SELECT IS_USED_LOCK('\(lock)')"
                )
            }
        }
    }
}
