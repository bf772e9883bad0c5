import MariaDB
import OctoTime

/// Reading the `logs` table: the lines of a job or a run, filtered, newest
/// last — and following it, `tail -f` style, across every machine.
public enum LogQuery {
    /// Which lines.
    public struct Filter: Sendable {
        /// A job's lines (by the name they were logged under: a job, or any `octo logger -n` name)…
        public var job: String?
        /// …or one run's.
        public var runID: Int64?
        public var since: Instant?
        public var until: Instant?
        /// This level and the more severe ones (nil: all).
        public var level: LogLevel?
        /// Lines containing this text (case-sensitive, like grep).
        public var grep: String?
        public var machine: String?

        public init(job: String? = nil, runID: Int64? = nil) { (self.job, self.runID) = (job, runID) }

        /// The WHERE clause and its values. Only the number of placeholders
        /// depends on the filter; every value is bound.
        func clause() -> (String, [Value]) {
            var conditions: [String] = []
            var values: [Value] = []
            if let runID {
                conditions.append("run_id = ?")
                values.append(.int(runID))
            }
            if let job {
                conditions.append("job_name = ?")
                values.append(.text(job))
            }
            if let since {
                conditions.append("logged_at >= ?")
                values.append(.instant(since))
            }
            if let until {
                conditions.append("logged_at < ?")
                values.append(.instant(until))
            }
            if let level {
                let levels = LogLevel.allCases.filter { $0 <= level }
                conditions.append("level IN (" + levels.map { _ in "?" }.joined(separator: ", ") + ")")
                values += levels.map { .text($0.rawValue) }
            }
            if let grep {
                conditions.append("INSTR(content, ?) > 0")
                values.append(.text(grep))
            }
            if let machine {
                conditions.append("machine = ?")
                values.append(.text(machine))
            }
            return (conditions.isEmpty ? "TRUE" : conditions.joined(separator: " AND "), values)
        }

        /// Whether `line` is one `clause()` selects (for lines read once and handed to many followers): the same
        /// conditions, compared as the binary collation of the table does, byte for byte.
        public func matches(_ line: Line) -> Bool {
            if let runID, line.runID != runID { return false }
            if let job, !line.jobName.utf8.elementsEqual(job.utf8) { return false }
            if let since, line.loggedAt < since { return false }
            if let until, !(line.loggedAt < until) { return false }
            if let level, line.level > level { return false }
            if let machine, !line.machine.utf8.elementsEqual(machine.utf8) { return false }
            if let grep, !grep.isEmpty, !line.content.utf8.contains(grep.utf8) { return false }
            return true
        }

        /// No condition at all: every line.
        var selectsEverything: Bool {
            runID == nil && job == nil && since == nil && until == nil && level == nil && grep == nil && machine == nil
        }
    }

    /// One stored line.
    public struct Line: Sendable, Equatable {
        public var id: Int64
        public var loggedAt: Instant
        public var jobName: String
        public var runID: Int64?
        public var machine: String
        public var level: LogLevel
        public var code: LogCode?
        public var content: String
        public var truncated: Bool
    }

    static let columns = "id, logged_at, job_name, run_id, machine, level, code, content, truncated"

    /// The newest `limit` lines matching (all when nil), oldest first, and
    /// whether older matching lines were left out.
    public static func tail(_ db: Connection, _ filter: Filter, limit: Int?) throws -> (lines: [Line], more: Bool) {
        let (whereSQL, values) = filter.clause()
        var sql = "SELECT \(columns) FROM logs WHERE \(whereSQL) ORDER BY logged_at DESC, id DESC"
        var params = values
        if let limit {
            sql += " LIMIT ?"
            params.append(.int(Int64(limit) + 1))
        }
        var lines = try db.query(sql, params).rows.map(line)
        let more = limit.map { lines.count > $0 } ?? false
        if more { lines.removeLast() }
        return (lines.reversed(), more)
    }

    /// A run's lines after line id `after`, in id order (for `octo sh run --wait`).
    public static func lines(_ db: Connection, runID: Int64, after: Int64, limit: Int = Int(Int32.max)) throws -> [Line]
    {
        try db.query(
            "SELECT \(columns) FROM logs WHERE run_id = ? AND id > ? ORDER BY id LIMIT ?",
            [.int(runID), .int(after), .int(Int64(limit))]
        ).rows.map(line)
    }

    /// Follows the table: each `poll()` returns the matching lines that
    /// became visible since the last one, in id order, each line once.
    ///
    /// Ids are allocated when a line is inserted, but a transaction may
    /// commit after one with a larger id, so the follower keeps looking back
    /// `lookBack` seconds' worth of ids and skips the ones it already showed.
    /// It watches lines stamped at most `horizon` seconds before they became
    /// visible: lines replayed later from a spool keep their old time and
    /// appear in `tail`, not here.
    public final class Follower {
        let filter: Filter
        let horizon: Int64?
        private var seen: Set<Int64> = []
        /// Ids at or below this were all visible `lookBack` ago.
        private var floorID: Int64
        private var recentMax: [(at: Double, id: Int64)] = []
        static let lookBack = 3.0
        public static let horizon: Int64 = 120

        /// Starts after the lines already shown (`after`: the largest id shown). `horizon`: only lines stamped
        /// at most that many seconds ago (nil: any, for a reader of every line, which goes by id alone).
        public init(_ filter: Filter, after: Int64, horizon: Int64? = Follower.horizon) {
            self.filter = filter
            self.horizon = horizon
            floorID = after
        }

        public func poll(_ db: Connection) throws -> [Line] {
            var f = filter
            if let horizon {
                let now = try JobStore.serverNow(db)
                f.since = max(filter.since ?? now - .seconds(horizon), now - .seconds(horizon))
            }
            let (whereSQL, values) = f.clause()
            let rows = try db.query(
                "SELECT \(LogQuery.columns) FROM logs WHERE \(whereSQL) AND id > ? ORDER BY id",
                values + [.int(floorID)]
            ).rows
            let fresh = try rows.map(LogQuery.line).filter { !seen.contains($0.id) }
            for l in fresh { seen.insert(l.id) }
            // reading every line, each id is a line: the floor also moves up over the ids seen with no gap below
            // them, so a steady stream is read once, not again for `lookBack` seconds
            if f.selectsEverything { while seen.remove(floorID + 1) != nil { floorID += 1 } }
            // move the floor up to the largest id seen lookBack seconds ago, forget what lies below it
            let t = Monotonic.seconds()
            recentMax.append((t, max(fresh.last?.id ?? 0, recentMax.last?.id ?? floorID)))
            while let first = recentMax.first, t - first.at >= Follower.lookBack {
                floorID = max(floorID, first.id)
                recentMax.removeFirst()
            }
            let floor = floorID
            seen = seen.filter { $0 > floor }
            return fresh
        }
    }

    /// The matching lines after id `after`, oldest id first, at most `limit` (a followed search's stored lines,
    /// chunk by chunk: as far back as its filter reaches, not only the follower's two minutes).
    public static func lines(_ db: Connection, _ filter: Filter, after: Int64, limit: Int) throws -> [Line] {
        let (whereSQL, values) = filter.clause()
        return try db.query(
            "SELECT \(LogQuery.columns) FROM logs WHERE \(whereSQL) AND id > ? ORDER BY id LIMIT ?",
            values + [.int(after), limit.sqlValue]
        ).rows.map(LogQuery.line)
    }

    /// The largest line id stored (0: none).
    public static func lastID(_ db: Connection) throws -> Int64 {
        try db.query("SELECT COALESCE(MAX(id), 0) AS id FROM logs").first?.decode("id") ?? 0
    }

    static func line(_ r: Row) throws -> Line {
        let code: Int64? = try r.decode("code")
        return Line(
            id: try r.decode("id"), loggedAt: try r.decode("logged_at"), jobName: try r.decode("job_name"),
            runID: try r.decode("run_id"), machine: try r.decode("machine"), level: try r.decode("level"),
            code: try code.map(LogCode.stored), content: try r.decode("content"),
            truncated: try r.decode("truncated"))
    }
}
