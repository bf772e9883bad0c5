import MariaDB
import OctoTime
import Synchronization

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
    ///
    /// A batch of `bulkRows` or more is streamed through `LOAD DATA LOCAL INFILE … IGNORE` (the server's bulk
    /// path; `IGNORE` skips the rows the unique key `(stream_id, seq, logged_at)` already holds) when the server
    /// allows it (`local_infile`, on by default; once refused, never tried again in this process); the rest
    /// through multi-row INSERTs.
    static func insert(_ db: Connection, _ rows: ArraySlice<(LogLine, Int64)>, machine: String, streamID: Int64) throws
    {
        if rows.count >= bulkRows && !bulkRefused.load(ordering: .relaxed) {
            do {
                try load(db, rows, machine: machine, streamID: streamID)
                return
            } catch let e as MariaDBError where e.code == .localInfileDisabled || e.code == .commandNotAllowed {
                bulkRefused.store(true, ordering: .relaxed)
            } catch is FileNotAsked {
                bulkRefused.store(true, ordering: .relaxed)  // a proxy between us? INSERT works through any
            }
        }
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
                    .instant(storable(line.loggedAt)), .text(line.jobName), line.runID.sqlValue, .text(machine),
                    .text(line.level.rawValue), line.code.map(\.rawValue).sqlValue,
                    .text(line.content), .int(line.truncated ? 1 : 0), .int(streamID), .int(seq)
                ]
            }
            try db.execute(insertSQL(rows: n), values)
            i += n
        }
    }

    /// Batches smaller than this go through INSERT: `LOAD DATA LOCAL` costs a second round trip (the server
    /// asks for the file), which a few rows — a run's start and end lines — do not repay.
    static let bulkRows = 64

    /// Set once the server refused `LOAD DATA LOCAL` (its `local_infile` is off).
    static let bulkRefused = Atomic<Bool>(false)

    static let loadSQL = """
        LOAD DATA LOCAL INFILE 'octo-log-lines' IGNORE INTO TABLE logs CHARACTER SET utf8mb4 \
        FIELDS TERMINATED BY '\\t' ESCAPED BY '\\\\' LINES TERMINATED BY '\\n' \
        (logged_at, job_name, run_id, machine, level, code, content, truncated, stream_id, seq)
        """

    /// `rows` as `LOAD DATA` fields (tab-separated, one line each, `\N` for NULL), in statements of about
    /// `loadBytes` each, formatted while they are sent (about `chunkBytes` at a time: the server stores one
    /// chunk while the next is made, and no batch is held twice). What repeats is formatted once: the machine
    /// and stream id per call, a time's date and second per second (most lines of a batch share them).
    static func load(_ db: Connection, _ rows: ArraySlice<(LogLine, Int64)>, machine: String, streamID: Int64) throws {
        var stream: [UInt8] = [9]  // \t machine, after the run id
        appendEscaped(machine, to: &stream)
        var streamTail: [UInt8] = [9]  // \t stream id \t, after `truncated`
        appendNumber(streamID, to: &streamTail)
        streamTail.append(9)
        var second = SecondText()
        var i = rows.startIndex
        while i < rows.endIndex {
            var sent = 0
            let first = i
            _ = try db.loadLocal(loadSQL) { buffer in
                while i < rows.endIndex, buffer.count < chunkBytes, sent < loadBytes {
                    let before = buffer.count
                    let (line, seq) = rows[i]
                    second.append(storable(line.loggedAt), to: &buffer)
                    buffer.append(9)
                    appendEscaped(line.jobName, to: &buffer)
                    buffer.append(9)
                    appendNumber(line.runID, to: &buffer)
                    buffer += stream
                    buffer.append(9)
                    buffer += line.level.rawValue.utf8
                    buffer.append(9)
                    appendNumber(line.code.map { Int64($0.rawValue) }, to: &buffer)
                    buffer.append(9)
                    appendEscaped(line.content, to: &buffer)
                    buffer.append(9)
                    buffer.append(line.truncated ? 0x31 : 0x30)
                    buffer += streamTail
                    appendNumber(seq, to: &buffer)
                    buffer.append(10)
                    sent += buffer.count - before
                    i += 1
                }
            }
            // a server (or a proxy) that ended the statement without asking for the file would loop here for ever
            guard i > first else { throw FileNotAsked() }
        }
    }

    /// The server ended a `LOAD DATA LOCAL` statement without asking for its rows: the INSERT path takes them
    /// (rows of earlier statements are skipped there).
    struct FileNotAsked: Error {}

    /// About how many bytes of rows `load` makes at a time.
    static let chunkBytes = 16_384
    /// About the most bytes of rows one `LOAD DATA` statement (one transaction) carries: usually a whole batch
    /// of the logger's (`LogPipeline.capBytes` of content, plus the other fields; content that is mostly
    /// escaped bytes can take two statements).
    static let loadBytes = 16 << 20

    /// `t`, or the nearest time of `DATETIME`'s range (`LogFormat.storable`). The parser makes no time outside
    /// (only a spool an older octo wrote can hold one, from a zone offset that moved 9999-12-31 into the year
    /// 10000, or 1000-01-01 into 999); either way of storing would turn a time after the range into a zero date,
    /// which no reader takes for a time, and keep one before it outside the range MariaDB documents.
    static func storable(_ t: Instant) -> Instant {
        let s = t.secondsSinceEpoch
        if s > LogFormat.storable.upperBound {
            return Instant(secondsSinceEpoch: LogFormat.storable.upperBound) + .microseconds(999_999)
        }
        if s < LogFormat.storable.lowerBound { return Instant(secondsSinceEpoch: LogFormat.storable.lowerBound) }
        return t
    }

    /// `YYYY-MM-DD HH:MM:SS.ffffff` (UTC, as the session's time zone) of a time `DATETIME` holds
    /// (`LogFormat.storable`), the part up to the second kept from the last time of the same second.
    struct SecondText {
        private var second = Int64.min
        private var text: [UInt8] = []

        mutating func append(_ t: Instant, to buffer: inout [UInt8]) {
            if t.secondsSinceEpoch != second {
                second = t.secondsSinceEpoch
                // `YYYY-MM-DDTHH:MM:SS`, as `DATETIME` reads it with a space: made once per second
                text = t.utc.iso8601().utf8.map { $0 == 0x54 ? 0x20 : $0 }
            }
            buffer += text
            var fraction = t.microsecond
            var digits: (UInt8, UInt8, UInt8, UInt8, UInt8, UInt8, UInt8) = (0x2E, 0, 0, 0, 0, 0, 0)
            withUnsafeMutableBytes(of: &digits) { d in
                for i in stride(from: 6, through: 1, by: -1) {
                    d[i] = 0x30 + UInt8(fraction % 10)
                    fraction /= 10
                }
                buffer.append(contentsOf: d)
            }
        }
    }

    static func appendNumber(_ n: Int64?, to buffer: inout [UInt8]) {
        guard let n else {
            buffer.append(0x5C)  // \N: NULL
            buffer.append(0x4E)
            return
        }
        if n < 0 { buffer.append(0x2D) }
        var v = n.magnitude
        var divisor: UInt64 = 1
        while divisor <= v / 10 { divisor *= 10 }
        repeat {
            buffer.append(0x30 + UInt8(v / divisor))
            v %= divisor
            divisor /= 10
        } while divisor > 0
    }

    /// The field with `\`, tab, newline and NUL escaped (`ESCAPED BY '\\'`).
    static func appendEscaped(_ bytes: UnsafeBufferPointer<UInt8>, to buffer: inout [UInt8]) {
        // runs of bytes that need no escape are copied whole (most lines are one such run)
        var start = 0
        for (i, b) in bytes.enumerated() where b == 0x5C || b == 0x09 || b == 0x0A || b == 0x00 {
            buffer.append(contentsOf: UnsafeBufferPointer(rebasing: bytes[start..<i]))
            buffer.append(0x5C)
            buffer.append(b == 0x09 ? 0x74 : b == 0x0A ? 0x6E : b == 0x00 ? 0x30 : 0x5C)
            start = i + 1
        }
        buffer.append(contentsOf: UnsafeBufferPointer(rebasing: bytes[start...]))
    }

    static func appendEscaped(_ text: String, to buffer: inout [UInt8]) {
        // a native string's bytes in place; a bridged or lazily-decoded one through a copy
        if text.utf8.withContiguousStorageIfAvailable({ appendEscaped($0, to: &buffer) }) == nil {
            var copy = text
            copy.withUTF8 { appendEscaped($0, to: &buffer) }
        }
    }

    static func insertSQL(rows: Int) -> String {
        "INSERT INTO logs (logged_at, job_name, run_id, machine, level, code, content, truncated, stream_id, seq) VALUES "
            + Array(repeating: "(?, ?, ?, ?, ?, ?, ?, ?, ?, ?)", count: rows).joined(separator: ", ")
            + " ON DUPLICATE KEY UPDATE seq = seq"
    }
}
