import MariaDB
import OctoTime
import TestSupport
import Testing

@Suite(.database, .bounded)
struct ValueRoundTripTests {
    static let table = """
        CREATE TABLE t (id INT PRIMARY KEY, i BIGINT NULL, u BIGINT UNSIGNED NULL, d DOUBLE NULL,
                        s TEXT NULL, b BLOB NULL, ts DATETIME(6) NULL) DEFAULT CHARSET=utf8mb4
        """

    static let cases: [(String, Value, String)] = [
        ("null", .null, "s"),
        ("int min", .int(.min), "i"),
        ("int max", .int(.max), "i"),
        ("int zero", .int(0), "i"),
        ("uint max", .uint(.max), "u"),
        ("double", .double(-1234.5625e-3), "d"),
        ("double huge", .double(1.7976931348623157e308), "d"),
        ("empty text", .text(""), "s"),
        ("emoji and CJK", .text("déjà vu 🐙🚀 日本語のテキスト 𠜎"), "s"),
        ("quotes and SQL", .text("x'; DROP TABLE t; -- \\ \" `"), "s"),
        ("empty bytes", .bytes([]), "b"),
        ("bytes with NUL", .bytes([0, 1, 0, 255, 0x27, 0x5c, 0]), "b"),
        (
            "datetime micro",
            .instant(Instant(year: 2026, month: 11, day: 21, hour: 23, minute: 59, second: 59, microsecond: 999_999)!),
            "ts"
        ),
        (
            "datetime leap day",
            .instant(Instant(year: 2024, month: 2, day: 29, hour: 0, minute: 0, second: 0, microsecond: 1)!), "ts"
        ),
        ("datetime 1000", .instant(Instant(year: 1000, month: 1, day: 1)!), "ts")
    ]

    @Test("every value type survives a round trip through a table", arguments: 0..<cases.count)
    func roundTrip(_ index: Int) throws {
        let (_, value, column) = Self.cases[index]
        try TestDatabase.with { db, _ in
            try db.run(Self.table)
            let columns = ["i", "u", "d", "s", "b", "ts"]
            let values: [Value] = [1] + columns.map { $0 == column ? value : .null }
            try db.execute("INSERT INTO t (id, i, u, d, s, b, ts) VALUES (?, ?, ?, ?, ?, ?, ?)", values)
            let row = try #require(try db.query("SELECT * FROM t WHERE id = ?", [1]).first)
            #expect(row[column] == value)
        }
    }

    @Test func parametersAreNeverSQL() throws {
        try TestDatabase.with { db, _ in
            try db.run(Self.table)
            let hostile = "1); DROP TABLE t; --"
            try db.execute("INSERT INTO t (id, s) VALUES (?, ?)", [1, .text(hostile)])
            let n: Int = try #require(try db.query("SELECT COUNT(*) AS n FROM t WHERE s = ?", [.text(hostile)]).first)
                .decode("n")
            #expect(n == 1)
        }
    }

    @Test func nowIsUTCWithMicroseconds() throws {
        try TestDatabase.with { db, _ in
            let before = Instant.now()
            let row = try #require(try db.query("SELECT NOW(6) AS now, @@session.time_zone AS tz").first)
            let after = Instant.now()
            let now: Instant = try row.decode("now")
            #expect(try row.decode("tz", as: String.self) == "+00:00")
            // same machine, same clock: the server read it during the query (a second of slack for rounding)
            #expect(before - .seconds(1) <= now && now <= after + .seconds(1), "\(before) \(now) \(after)")
        }
    }

    @Test func decodingErrorsNameTheColumnAndType() throws {
        try TestDatabase.with { db, _ in
            let row = try #require(try db.query("SELECT 'abc' AS name, NULL AS missing").first)
            let e1 = #expect(throws: RowDecodingError.self) { try row.decode("name", as: Int.self) }
            #expect(e1?.column == "name")
            #expect(e1?.expected == "integer")
            #expect(e1?.found == "text")
            let e2 = #expect(throws: RowDecodingError.self) { try row.decode("missing", as: String.self) }
            #expect(e2?.description == "column 'missing': expected text, found NULL")
            #expect(try row.decode("missing", as: String?.self) == nil)
        }
    }

    @Test func wrongParameterCountIsAnError() throws {
        try TestDatabase.with { db, _ in
            let e = #expect(throws: MariaDBError.self) { try db.query("SELECT ? + ?", [1]) }
            #expect(e?.message.contains("2 placeholders but 1") == true)
        }
    }
}
