import MariaDB
import OctoTime

/// The `logs` table is partitioned by day (`pYYYYMMDD` holds that UTC day),
/// with `p_past` below the first day and `p_future` above the last, so an
/// insert is never refused. Retention drops whole day partitions — never a
/// large DELETE.
public enum LogPartitions {
    /// How many days ahead of today partitions are kept ready.
    public static let daysAhead = 7

    /// A day partition: its name and the UTC day it holds.
    public struct Day: Sendable, Equatable {
        public let name: String
        /// Days since 1970-01-01 of the day this partition holds.
        public let day: Int
    }

    /// The day partitions that exist, oldest first.
    public static func days(_ db: Connection) throws -> [Day] {
        let rows = try db.query(
            """
            SELECT PARTITION_NAME AS name FROM information_schema.PARTITIONS
            WHERE TABLE_SCHEMA = DATABASE() AND TABLE_NAME = 'logs' AND PARTITION_NAME LIKE 'p2%'
            ORDER BY PARTITION_ORDINAL_POSITION
            """
        ).rows
        return try rows.compactMap { row in
            let name: String = try row.decode("name")
            return dayNumber(partition: name).map { Day(name: name, day: $0) }
        }
    }

    /// Creates the missing day partitions from today (server's UTC date) to
    /// `daysAhead` days later, by splitting `p_future`. Another machine doing
    /// the same at the same moment is harmless.
    public static func ensure(_ db: Connection, daysAhead: Int) throws {
        let today = try serverDay(db)
        let existing = try days(db)
        let last = existing.last?.day ?? (today - 1)
        guard last < today + daysAhead else { return }
        let newDays = (max(last + 1, today)...(today + daysAhead))
        let parts = newDays.map { d in
            "PARTITION \(partitionName(day: d)) VALUES LESS THAN ('\(dateText(day: d + 1))')"
        }
        do {
            try db.run(
                "ALTER TABLE logs REORGANIZE PARTITION p_future INTO (\(parts.joined(separator: ", ")), PARTITION p_future VALUES LESS THAN (MAXVALUE))"
            )
        } catch {
            // 1517 duplicate partition name / 1493 ranges out of order: another machine just did it
            guard error.code.rawValue == 1517 || error.code.rawValue == 1493 else { throw error }
        }
    }

    /// Log retention, as `octo monitor` runs it: day partitions kept ready
    /// `daysAhead` days ahead, days older than `retention` seconds dropped,
    /// and lines dated before 2000 (in `p_past`, older than any retention)
    /// removed. Safe on several machines at once. Returns the partitions dropped.
    @discardableResult
    public static func maintain(_ db: Connection, retention: Int64) throws -> [String] {
        try ensure(db, daysAhead: daysAhead)
        var dropped = try dropExpired(db, retention: retention)
        if try !db.query("SELECT 1 FROM logs PARTITION (p_past) LIMIT 1").rows.isEmpty {
            try db.run("ALTER TABLE logs TRUNCATE PARTITION p_past")
            dropped.append("p_past")
        }
        return dropped
    }

    /// Drops day partitions whose whole day is older than `retention`
    /// seconds before now. Returns the names dropped.
    @discardableResult
    public static func dropExpired(_ db: Connection, retention: Int64) throws -> [String] {
        try dropExpired(db, retention: retention, today: serverDay(db))
    }

    /// `dropExpired` as if the server's UTC day were `today` (days since 1970).
    static func dropExpired(_ db: Connection, retention: Int64, today: Int) throws -> [String] {
        let keepFrom = today - Int((retention + 86_399) / 86_400)
        let old = try days(db).filter { $0.day < keepFrom }
        guard !old.isEmpty else { return [] }
        do {
            try db.run("ALTER TABLE logs DROP PARTITION \(old.map(\.name).joined(separator: ", "))")
        } catch {
            // 1507: a partition is already gone (another machine dropped it)
            guard error.code.rawValue == 1507 else { throw error }
        }
        return old.map(\.name)
    }

    static func serverDay(_ db: Connection) throws -> Int {
        let now: Instant = try db.query("SELECT NOW(6) AS now").first!.decode("now")
        return Int(now.secondsSinceEpoch.floorDiv(86_400))
    }

    /// `p20261121` for that day.
    static func partitionName(day: Int) -> String {
        let (y, m, d) = CivilDate.civilFromDays(day)
        return "p" + String(y) + (m < 10 ? "0" : "") + String(m) + (d < 10 ? "0" : "") + String(d)
    }

    /// `2026-11-21` for that day.
    static func dateText(day: Int) -> String {
        let (y, m, d) = CivilDate.civilFromDays(day)
        return String(y) + "-" + (m < 10 ? "0" : "") + String(m) + "-" + (d < 10 ? "0" : "") + String(d)
    }

    static func dayNumber(partition name: String) -> Int? {
        let digits = Array(name.utf8.dropFirst())
        guard name.hasPrefix("p"), digits.count == 8, digits.allSatisfy({ $0 >= 48 && $0 <= 57 }),
            let v = Int(String(name.dropFirst()))
        else { return nil }
        let (y, m, d) = (v / 10_000, v / 100 % 100, v % 100)
        guard Instant(year: y, month: m, day: d) != nil else { return nil }
        return CivilDate.daysFromCivil(year: y, month: m, day: d)
    }
}
