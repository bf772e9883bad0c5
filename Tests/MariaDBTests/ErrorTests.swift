import OctoTime
import TestSupport
import Testing

@testable import MariaDB

#if canImport(Glibc)
    import Glibc
#endif

@Suite(.database, .bounded)
struct ErrorTests {
    @Test func duplicateKeyHasCodeStateAndNoValue() throws {
        try TestDatabase.with { db, _ in
            try db.run("CREATE TABLE u (name VARCHAR(64) PRIMARY KEY)")
            let secret = "alice-secret-value"
            try db.execute("INSERT INTO u VALUES (?)", [.text(secret)])
            let e = #expect(throws: MariaDBError.self) { try db.execute("INSERT INTO u VALUES (?)", [.text(secret)]) }
            #expect(e?.code == .duplicateKey)
            #expect(e?.code.rawValue == 1062)
            #expect(e?.sqlState == "23000")
            #expect(e?.isDuplicateKey == true)
            #expect(e?.isTransient == false)
            #expect(e?.description.contains(secret) == false)
            #expect(e?.description.contains("PRIMARY") == true)
        }
    }

    @Test func incorrectValueMessageHidesTheValue() throws {
        try TestDatabase.with { db, _ in
            try db.run("CREATE TABLE d (t DATETIME(6))")
            let e = #expect(throws: MariaDBError.self) {
                try db.execute("INSERT INTO d VALUES (?)", [.text("not-a-date-zzz")])
            }
            #expect(e?.code.rawValue == 1292)
            #expect(e?.description.contains("zzz") == false)
        }
    }

    /// A statement that waits for a row lock or a metadata lock longer than `lockWaitSeconds` gets the server's
    /// 1205 on a live connection, before the client's read timeout would call it a lost connection (2013).
    @Test func lockWaitsEndAsLockWaitTimeoutsOnALiveConnection() async throws {
        try await TestDatabase.withFresh { fresh in
            let db = try fresh.connect()
            defer { db.close() }
            #expect(ConnectionOptions.lockWaitSeconds < Int(ConnectionOptions().readTimeout))
            let waits = try #require(db.query("SELECT @@innodb_lock_wait_timeout AS r, @@lock_wait_timeout AS m").first)
            #expect(try waits.decode("r", as: Int.self) == ConnectionOptions.lockWaitSeconds)
            #expect(try waits.decode("m", as: Int.self) == ConnectionOptions.lockWaitSeconds)
            try db.run("CREATE TABLE r (id INT PRIMARY KEY)")
            try db.run("CREATE TABLE m (id INT PRIMARY KEY)")
            try db.run("INSERT INTO r VALUES (1)")
            // another client holds a row lock and a metadata lock, busy (not idle) until the test ends its session —
            // far longer than both waits below, however slow the machine (a 60 s hold ran out on a loaded one)
            let holder = try await Shell.run(
                """
                mariadb --defaults-file="$DEFAULTS" -D "$DB" -e 'BEGIN; SELECT id FROM r WHERE id = 1 FOR UPDATE; SELECT id FROM m; SELECT SLEEP(3600); COMMIT' \
                  >/dev/null 2>&1 </dev/null & echo $!
                """, environment: ["DEFAULTS": TestDatabase.defaultsFile ?? "", "DB": fresh.name])
            let pid = try #require(pid_t(holder.stdout.trimmingWhitespace()))
            defer { kill(pid, SIGKILL) }
            var holderSession: Int64?
            let busy = await Processes.waitUntil(seconds: 120) {
                holderSession = try? db.query(
                    "SELECT ID FROM information_schema.PROCESSLIST WHERE INFO = 'SELECT SLEEP(3600)' AND DB = ?",
                    [.text(fresh.name)]
                ).first?.decode("ID")
                return holderSession != nil
            }
            #expect(busy, "the holder never got its locks")
            defer { if let id = holderSession { _ = try? db.run("KILL \(id)") } }  // a server-given number
            // the two waits on a thread of their own: the test runner's few threads go on with the other tests
            nonisolated(unsafe) let waiting = db
            let (row, ddl) = try await Threads.run { () -> (MariaDBError?, MariaDBError?) in
                func failure(_ body: () throws(MariaDBError) -> Void) -> MariaDBError? {
                    do { try body() } catch { return error }
                    return nil
                }
                return (
                    failure { () throws(MariaDBError) in
                        _ = try waiting.query("SELECT id FROM r WHERE id = 1 FOR UPDATE")
                    },
                    failure { () throws(MariaDBError) in try waiting.run("ALTER TABLE m ADD COLUMN c INT") }
                )
            }
            #expect(row?.code == .lockWaitTimeout && row?.isTransient == true, "\(String(describing: row))")
            #expect(ddl?.code == .lockWaitTimeout, "\(String(describing: ddl))")
            #expect(
                try db.query("SELECT 1 AS one").first?.decode("one", as: Int.self) == 1, "the connection is still alive"
            )
        }
    }

    @Test func syntaxError() throws {
        try TestDatabase.with { db, _ in
            let e = #expect(throws: MariaDBError.self) { try db.query("SELEKT 1") }
            #expect(e?.code.rawValue == 1064)
            #expect(e?.sqlState == "42000")
            #expect(e?.operation == "prepare")
            #expect(e?.isTransient == false)
        }
    }

    @Test func unreachableSocket() throws {
        var o = ConnectionOptions()
        o.readOptionFiles = false
        o.socket = "/nonexistent/octo.sock"
        o.host = "localhost"
        let e = #expect(throws: MariaDBError.self) { _ = try Connection(o) }
        #expect(e?.code == .cannotConnectSocket)
        #expect(e?.isConnectFailure == true)
        #expect(e?.operation == "connect")
    }

    @Test func closedConnectionThrowsServerGone() throws {
        try TestDatabase.with { _, fresh in
            let db = try fresh.connect()
            db.close()
            let e = #expect(throws: MariaDBError.self) { try db.query("SELECT 1") }
            #expect(e?.isConnectionLost == true)
            db.close()  // twice is fine
        }
    }

    @Test func redaction() {
        #expect(
            MariaDBError.redactingValues("Duplicate entry 'bob' for key 'PRIMARY'")
                == "Duplicate entry '…' for key 'PRIMARY'")
        #expect(
            MariaDBError.redactingValues("Duplicate entry 'a' for key' for key 'k'")
                == "Duplicate entry '…' for key 'k'")
        #expect(
            MariaDBError.redactingValues("Incorrect string value: '\\xF0\\x9F' for column `c` at row 1")
                == "Incorrect string value: '…' for column `c` at row 1")
        #expect(MariaDBError.redactingValues("Table 'x.y' doesn't exist") == "Table 'x.y' doesn't exist")
    }
}
