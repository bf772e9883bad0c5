@testable import MariaDB
import TestSupport
import Testing

@Suite(.database)
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
            let e = #expect(throws: MariaDBError.self) { try db.execute("INSERT INTO d VALUES (?)", [.text("not-a-date-zzz")]) }
            #expect(e?.code.rawValue == 1292)
            #expect(e?.description.contains("zzz") == false)
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
        #expect(MariaDBError.redactingValues("Duplicate entry 'bob' for key 'PRIMARY'") == "Duplicate entry '…' for key 'PRIMARY'")
        #expect(MariaDBError.redactingValues("Duplicate entry 'a' for key' for key 'k'") == "Duplicate entry '…' for key 'k'")
        #expect(MariaDBError.redactingValues("Incorrect string value: '\\xF0\\x9F' for column `c` at row 1")
                == "Incorrect string value: '…' for column `c` at row 1")
        #expect(MariaDBError.redactingValues("Table 'x.y' doesn't exist") == "Table 'x.y' doesn't exist")
    }
}
