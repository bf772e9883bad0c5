import MariaDB
import OctoTime
import TestSupport
import Testing

@testable import OctoCore

@Suite(.database, .bounded)
struct SchemaTests {
    @Test func freshDatabaseGetsEveryTableAndDefaults() throws {
        let fresh = try TestDatabase.create()
        defer { fresh.drop() }
        var defaults = Settings()
        defaults.defaultTimezone = "Europe/London"
        let outcome = try Migrator.initialize(fresh.config(), settings: defaults, by: "tester")
        #expect(outcome == Migrator.Outcome(databaseCreated: false, from: 0, to: Schema.latest))
        let db = try fresh.connect()
        defer { db.close() }
        let tables = Set(
            try db.query("SELECT TABLE_NAME AS t FROM information_schema.TABLES WHERE TABLE_SCHEMA = DATABASE()")
                .rows.map { try $0.decode("t", as: String.self) })
        #expect(
            tables == [
                "schema_version", "settings", "machines", "jobs", "runs", "queue", "cursors", "cursor_history",
                "logs", "alerts", "markers", "alert_streams", "alert_sources", "open_starts", "cursor_epochs", "audit",
                "run_counts", "run_needs", "users", "web_sessions", "login_failures"
            ])
        #expect(Set(Schema.objects) == tables, "octo doctor checks privileges on Schema.objects")
        let s = try SettingsStore.load(db)
        #expect(s.defaultTimezone == "Europe/London")
        #expect(s.lease == 60)
        // DATETIME(6), never TIMESTAMP
        let timestamps: Int = try #require(
            try db.query(
                """
                SELECT COUNT(*) AS n FROM information_schema.COLUMNS WHERE TABLE_SCHEMA = DATABASE() AND DATA_TYPE = 'timestamp'
                """
            ).first
        ).decode("n")
        #expect(timestamps == 0)
    }

    @Test func createsTheDatabaseAndIsIdempotent() throws {
        let name = "octo_t_new_" + String(UInt32.random(in: 0...UInt32.max), radix: 36)
        let fresh = FreshDatabase(name: name)  // not created yet: init must create it
        defer { fresh.drop() }
        let first = try Migrator.initialize(fresh.config(), settings: Settings(), by: "a")
        #expect(first.databaseCreated)
        #expect(first.applied == Array(1...Schema.latest))
        let db = try fresh.connect()
        defer { db.close() }
        try db.execute("UPDATE settings SET value = ? WHERE name = ?", ["7d", "log_retention"])
        let second = try Migrator.initialize(fresh.config(), settings: Settings(), by: "b")
        #expect(!second.databaseCreated)
        #expect(second.applied.isEmpty)
        #expect(try SettingsStore.load(db).logRetention == 7 * 86_400, "init never overwrites a chosen setting")
        let versions: Int = try #require(try db.query("SELECT COUNT(*) AS n FROM schema_version").first).decode("n")
        #expect(versions == Schema.latest)
    }

    @Test func upgradeToV6GivesQueuedBroadcastRunsTheirRouteKey() throws {
        try TestDatabase.with { db, fresh in
            // a v5 database (as the v5 binary left it) with a queued broadcast run and a queued ordinary run
            for m in Schema.migrations where m.version <= 5 {
                for statement in m.statements { try db.run(statement) }
                try db.execute(
                    "INSERT INTO schema_version (version, summary, applied_at, applied_by) VALUES (?, ?, NOW(6), 'v5')",
                    [.int(Int64(m.version)), .text(m.summary)])
            }
            try db.execute(
                "INSERT INTO jobs (id, name, command, created_at, created_by, updated_at, updated_by) VALUES (1, 'b', 'true', NOW(6), 't', NOW(6), 't')"
            )
            for (id, route) in [(1, "w1"), (2, "")] {
                try db.execute(
                    """
                    INSERT INTO runs (id, job_id, job_name, fire_time, attempt, route_key, trigger_kind, state, machine, queued_at, not_before)
                    VALUES (?, 1, 'b', NOW(6), 1, ?, 'schedule', 'queued', NULLIF(?, ''), NOW(6), NOW(6))
                    """, [.int(Int64(id)), .text(route), .text(route)])
                try db.execute(
                    "INSERT INTO queue (run_id, job_id, machine, not_before) VALUES (?, 1, NULLIF(?, ''), NOW(6))",
                    [.int(Int64(id)), .text(route)])
            }
            let outcome = try Migrator.initialize(fresh.config(), settings: Settings(), by: "t")
            #expect(outcome.from == 5 && outcome.to == Schema.latest)
            let keys = try db.query("SELECT run_id, route_key FROM queue ORDER BY run_id").rows.map {
                (try $0.decode("run_id", as: Int64.self), try $0.decode("route_key", as: String.self))
            }
            #expect(keys.map(\.0) == [1, 2] && keys.map(\.1) == ["w1", ""])
            let indexes = Set(
                try db.query(
                    "SELECT INDEX_NAME AS i FROM information_schema.STATISTICS WHERE TABLE_SCHEMA = DATABASE() AND TABLE_NAME = 'runs'"
                )
                .rows.map { try $0.decode("i", as: String.self) })
            #expect(indexes.contains("runs_job_live") && !indexes.contains("runs_job_state"))
        }
    }

    @Test func refusesANewerSchema() throws {
        try TestDatabase.with { db, fresh in
            _ = try Migrator.initialize(fresh.config(), settings: Settings(), by: "t")
            try db.execute(
                "INSERT INTO schema_version VALUES (?, 'from the future', NOW(6), 'x')",
                [.int(Int64(Schema.latest + 1))])
            let e = #expect(throws: OctoError.self) {
                try Migrator.initialize(fresh.config(), settings: Settings(), by: "t")
            }
            #expect(e?.message.contains("newer than this octo") == true)
            #expect(throws: OctoError.self) { try Migrator.requireCurrent(db, database: fresh.name) }
        }
    }

    @Test func logPartitionsAreKeptAheadAndDroppedByDay() throws {
        try TestDatabase.with { db, fresh in
            _ = try Migrator.initialize(fresh.config(), settings: Settings(), by: "t")
            let today = try LogPartitions.serverDay(db)
            #expect(try LogPartitions.days(db).map(\.day) == Array(today...(today + LogPartitions.daysAhead)))
            try LogPartitions.ensure(db, daysAhead: LogPartitions.daysAhead)  // again: nothing to do
            #expect(try LogPartitions.days(db).count == LogPartitions.daysAhead + 1)

            func insert(daysAhead: Int, _ text: String) throws {
                try db.execute(
                    """
                    INSERT INTO logs (logged_at, job_name, machine, level, content, stream_id, seq)
                    VALUES (NOW(6) + INTERVAL ? DAY, 'j', 'm', 'info', ?, 1, ?)
                    """, [.int(Int64(daysAhead)), .text(text), .int(Int64(daysAhead))])
            }
            // lines dated far ahead and long ago still land (catch-all partitions)
            try db.execute(
                """
                INSERT INTO logs (logged_at, job_name, machine, level, content, stream_id, seq)
                VALUES ('2999-01-01', 'j', 'm', 'info', 'future', 2, 1), ('1999-01-01', 'j', 'm', 'info', 'past', 2, 2)
                """)
            try insert(daysAhead: 0, "today")
            try insert(daysAhead: 1, "tomorrow")
            try insert(daysAhead: 3, "in three days")
            // five days from now, a 3-day retention keeps days today+2 onwards
            let dropped = try LogPartitions.dropExpired(db, retention: 3 * 86_400, today: today + 5)
            #expect(dropped == [LogPartitions.partitionName(day: today), LogPartitions.partitionName(day: today + 1)])
            let left = Set(
                try db.query("SELECT content FROM logs").rows.map { try $0.decode("content", as: String.self) })
            #expect(left == ["future", "past", "in three days"])
            #expect(try LogPartitions.dropExpired(db, retention: 3 * 86_400, today: today + 5).isEmpty)
            // the maintenance monitor runs: today's partitions exist again ahead, the pre-2000 line goes, recent ones stay
            let maintained = try LogPartitions.maintain(db, retention: 3 * 86_400)
            #expect(maintained == ["p_past"])
            #expect(try LogPartitions.days(db).last?.day == today + LogPartitions.daysAhead)
            let after = Set(
                try db.query("SELECT content FROM logs").rows.map { try $0.decode("content", as: String.self) })
            #expect(after == ["future", "in three days"])
            #expect(try LogPartitions.maintain(db, retention: 3 * 86_400).isEmpty)
        }
    }

    @Test func partitionNames() {
        let day = CivilDate.daysFromCivil(year: 2026, month: 3, day: 9)
        #expect(LogPartitions.partitionName(day: day) == "p20260309")
        #expect(LogPartitions.dateText(day: day) == "2026-03-09")
        #expect(LogPartitions.dayNumber(partition: "p20260309") == day)
        #expect(LogPartitions.dayNumber(partition: "p20260230") == nil)
        #expect(LogPartitions.dayNumber(partition: "p_future") == nil)
    }
}
