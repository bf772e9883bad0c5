import MariaDB

#if canImport(Glibc)
import Glibc
#endif

/// Writes log lines to the `logs` table in batches. One writer is one
/// *stream*: a random stream id plus a sequence number per line identify
/// each line, and the insert ignores a line already stored, so writing a
/// batch again after an unacknowledged insert stores it once.
///
/// Used by the run supervisor and by `octo logger`.
public final class LogWriter {
    public let machine: String
    public let streamID: Int64
    private let db: Connection
    private var seq: Int64 = 0
    private var pending: [(LogLine, Int64)] = []
    /// Monotonic microseconds when the oldest pending line arrived.
    public private(set) var oldestPendingAt: Int64?

    public init(_ db: Connection, machine: String) {
        self.db = db
        self.machine = machine
        streamID = Int64.random(in: 1...Int64.max)  // SystemRandomNumberGenerator: getrandom(2)
    }

    public var pendingCount: Int { pending.count }

    /// Queues a line for the next `flush`.
    public func append(_ line: LogLine) {
        seq += 1
        if pending.isEmpty { oldestPendingAt = Monotonic.microseconds() }
        pending.append((line, seq))
    }

    /// Writes every pending line (retrying transient errors). On failure the
    /// lines stay pending and the error is thrown.
    public func flush() throws {
        guard !pending.isEmpty else { return }
        try db.retrying { _ in try write() }
    }

    /// Writes every pending line once, without retrying (for use inside a
    /// transaction the caller holds and retries). The lines stay pending
    /// until `written()` confirms the transaction committed.
    public func write() throws {
        guard !pending.isEmpty else { return }
        do {
            var i = 0
            while i < pending.count {
                // a few statement shapes only, so the prepared-statement cache stays small
                let n = [64, 16, 4, 1].first { pending.count - i >= $0 }!
                var values: [Value] = []
                values.reserveCapacity(n * 10)
                for (line, seq) in pending[i..<(i + n)] {
                    values += [.instant(line.loggedAt), .text(line.jobName), line.runID.map(Value.int) ?? .null, .text(machine),
                               .text(line.level.rawValue), line.code.map { .int(Int64($0.rawValue)) } ?? .null,
                               .text(line.content), .int(line.truncated ? 1 : 0), .int(streamID), .int(seq)]
                }
                try db.execute(LogWriter.insertSQL(rows: n), values)
                i += n
            }
        }
        if !db.inTransaction { written() }
    }

    /// The pending lines are stored (the transaction that wrote them committed).
    public func written() {
        pending.removeAll(keepingCapacity: true)
        oldestPendingAt = nil
    }

    static func insertSQL(rows: Int) -> String {
        "INSERT INTO logs (logged_at, job_name, run_id, machine, level, code, content, truncated, stream_id, seq) VALUES "
            + Array(repeating: "(?, ?, ?, ?, ?, ?, ?, ?, ?, ?)", count: rows).joined(separator: ", ")
            + " ON DUPLICATE KEY UPDATE seq = seq"
    }
}
