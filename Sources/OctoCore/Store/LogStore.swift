import MariaDB
import OctoTime

/// Writes the `logs` table (reading it is `LogQuery`'s).
public enum LogStore {
    /// A round trip that proves the connection works.
    static func ping(_ db: Connection) throws { _ = try db.query("SELECT 1") }

    /// The most rows one INSERT carries.
    static let largestBatch = 512
    /// About the most content bytes one INSERT carries (16 MiB is the server's default packet limit).
    static let batchBytes = 4 << 20

    /// Inserts `rows` of one stream, in order, ignoring rows already stored.
    /// A few statement shapes only, so the prepared-statement cache stays small.
    static func insert(_ db: Connection, _ rows: ArraySlice<(LogLine, Int64)>, machine: String, streamID: Int64) throws
    {
        var i = rows.startIndex
        var values: [Value] = []
        while i < rows.endIndex {
            // the largest shape that fits the rows left and keeps the packet well under max_allowed_packet
            var bytes = 0
            var fits = 0
            while i + fits < rows.endIndex, fits < largestBatch, bytes < batchBytes {
                bytes += rows[i + fits].0.content.utf8.count
                fits += 1
            }
            let n = [largestBatch, 64, 8, 1].first { fits >= $0 }!
            values.removeAll(keepingCapacity: true)
            values.reserveCapacity(n * 10)
            for (line, seq) in rows[i..<(i + n)] {
                values += [
                    .instant(line.loggedAt), .text(line.jobName), line.runID.sqlValue, .text(machine),
                    .text(line.level.rawValue), line.code.map(\.rawValue).sqlValue,
                    .text(line.content), .int(line.truncated ? 1 : 0), .int(streamID), .int(seq)
                ]
            }
            try db.execute(insertSQL(rows: n), values)
            i += n
        }
    }

    static func insertSQL(rows: Int) -> String {
        "INSERT INTO logs (logged_at, job_name, run_id, machine, level, code, content, truncated, stream_id, seq) VALUES "
            + Array(repeating: "(?, ?, ?, ?, ?, ?, ?, ?, ?, ?)", count: rows).joined(separator: ", ")
            + " ON DUPLICATE KEY UPDATE seq = seq"
    }
}
