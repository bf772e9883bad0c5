import MariaDB
import OctoTime

#if canImport(Glibc)
    import Glibc
#endif

/// Writes log lines to the `logs` table in batches, falling back to the
/// local spool when the database is unreachable or fails. Used by the run
/// supervisor and by `octo logger`.
///
/// One writer is one *stream*: a random stream id plus a sequence number per
/// line identify each line, and the insert ignores a line already stored, so
/// a batch written again (after an unacknowledged insert, or from the spool)
/// is stored once.
///
/// Order: once a line of this stream went to the spool, every later line
/// follows it there until the writer is back in touch with the database and
/// has replayed its own spool file; only then are lines written directly
/// again. So a stream's lines reach the table in the order they were written
/// (but for lines a full spool refused, see `write`: kept beats in order).
///
///     let logs = LogWriter(db, machine: "w1", spool: Spool(stateDirectory: dir))
///     logs.append(line)
///     try logs.store()   // stored, or spooled durably; throws only if both fail
///     try logs.finish()  // at the end: last lines, and a last attempt to replay the spool
public final class LogWriter {
    public let machine: String
    public let streamID: Int64
    private var db: Connection?
    private let connect: (() throws -> Connection)?
    private let spool: Spool?
    private var spoolFile: SpoolFile.Writer?
    private var seq: Int64 = 0
    private var pending: [(LogLine, Int64)] = []
    private var nextRecovery: Double = 0
    private var recoveryDelay: Double = 1
    /// Monotonic microseconds when the oldest pending line arrived.
    public private(set) var oldestPendingAt: Int64?
    /// Lines this writer put into the spool (replayed or not).
    public private(set) var spooledLines = 0
    /// The database error that sent lines to the spool, for a warning.
    public private(set) var lastProblem: String?

    /// A writer on `db` (nil when the database could not be reached at all;
    /// `connect` is then used to try again). Without a `spool`, a failed
    /// store throws and the lines stay pending.
    public init(_ db: Connection?, machine: String, spool: Spool? = nil, connect: (() throws -> Connection)? = nil) {
        self.db = db
        self.machine = machine
        self.spool = spool
        self.connect = connect
        streamID = Int64.random(in: 1...Int64.max)  // SystemRandomNumberGenerator: getrandom(2)
    }

    public var pendingCount: Int { pending.count }
    /// True while lines go to the spool instead of the table.
    public var isSpooling: Bool { spoolFile != nil }
    /// The connection, when there is one.
    public var connection: Connection? { db }
    /// Seconds until the next attempt to reconnect and replay this stream's spool file (nil: not spooling).
    /// A caller waiting for input wakes up for it, so a silent program's spooled line is stored once the
    /// database is back, not only when the next line arrives.
    public var secondsUntilRecovery: Double? {
        guard spoolFile != nil else { return nil }
        return max(0, nextRecovery - Monotonic.seconds())
    }

    /// Queues a line for the next `store`.
    public func append(_ line: LogLine) {
        seq += 1
        if pending.isEmpty { oldestPendingAt = Monotonic.microseconds() }
        pending.append((line, seq))
    }

    /// Stores every pending line in the table, or — when the database is
    /// unreachable or fails, or this stream is already spooling — durably in
    /// the spool. While spooling it tries, with a growing delay, to reconnect
    /// and replay its spool file. Throws only when the spool fails too (the
    /// lines then stay pending).
    public func store() throws {
        if db == nil || spoolFile != nil { recover(force: false) }
        guard !pending.isEmpty else { return }
        if let db, spoolFile == nil {
            do {
                try db.retrying { _ in try write() }
                return
            } catch {
                lastProblem = "\(error)"
                if spool == nil { throw error }
            }
        }
        try spoolPending()
    }

    /// Stores the last lines and, if this stream spooled, makes one more
    /// attempt to replay its spool file now. Whatever is still in the spool
    /// afterwards waits there for the next replay.
    public func finish() throws {
        try store()
        if spoolFile != nil { recover(force: true) }
        spoolFile?.close()
        spoolFile = nil
    }

    /// Writes every pending line (retrying transient errors), without the
    /// spool. On failure the lines stay pending and the error is thrown.
    public func flush() throws {
        guard !pending.isEmpty, spoolFile == nil, let db else { return }
        try db.retrying { _ in try write() }
    }

    /// Writes every pending line once, without retrying (for use inside a
    /// transaction the caller holds and retries). The lines stay pending
    /// until `written()` confirms the transaction committed. A spooling
    /// stream has none left after `prepareForTransaction` — unless the spool
    /// refused them (a full disk) while the database was away: then they are
    /// written here, ahead of the spooled lines the next replay stores (each
    /// line keeps its time and sequence number), rather than dropped when the
    /// transaction commits.
    public func write() throws {
        guard !pending.isEmpty, let db else { return }
        try LogStore.insert(db, pending[...], machine: machine, streamID: streamID)
        if !db.inTransaction { written() }
    }

    /// Takes the pending lines away (the last resort when neither the
    /// database nor the spool can take them: the caller prints them).
    public func takePending() -> [LogLine] {
        defer { written() }
        return pending.map(\.0)
    }

    /// The pending lines are stored (the transaction that wrote them committed).
    public func written() {
        pending.removeAll(keepingCapacity: true)
        oldestPendingAt = nil
    }

    /// Before a transaction that will `write()` the pending lines: if this
    /// stream is spooling, replay the spool now, or else spool the pending
    /// lines, so lines never overtake spooled ones.
    public func prepareForTransaction() {
        guard spoolFile != nil else { return }
        recover(force: true)
        if spoolFile != nil { try? spoolPending() }
    }

    /// Puts the pending lines in this stream's spool file (durably).
    public func spoolPending() throws {
        guard !pending.isEmpty else { return }
        guard let spool else { throw OctoError.failure("the database is unreachable and there is no log spool") }
        if spoolFile == nil {
            spoolFile = try SpoolFile.Writer(directory: spool.directory, machine: machine, streamID: streamID)
            nextRecovery = Monotonic.seconds() + recoveryDelay
        }
        do {
            try spoolFile!.append(pending)
        } catch {
            // the disk is (nearly) full: keep what still fits, a few lines at a time; the rest stays pending
            // and the error goes to the caller (`octo logger` prints those lines rather than lose them)
            var kept = 0
            while kept < pending.count {
                let chunk = pending[kept..<min(pending.count, kept + 64)]
                do { try spoolFile!.append(chunk) } catch { break }
                kept += chunk.count
            }
            spooledLines += kept
            pending.removeFirst(kept)
            if pending.isEmpty { written() }
            throw error
        }
        spooledLines += pending.count
        written()
    }

    /// Reconnects if needed and replays this stream's spool file; on failure
    /// waits longer before the next attempt (1 s doubling up to 30 s).
    private func recover(force: Bool) {
        let now = Monotonic.seconds()
        guard force || now >= nextRecovery else { return }
        do {
            if db == nil, let connect { db = try connect() }
            guard let db else { throw OctoError.failure("no connection to the database") }
            try db.retrying(.probe) { db in try LogStore.ping(db) }
            if let f = spoolFile {
                _ = try f.replayAndRemove(into: db)
                spoolFile = nil
            }
            recoveryDelay = 1
        } catch {
            lastProblem = "\(error)"
            nextRecovery = now + recoveryDelay
            recoveryDelay = min(recoveryDelay * 2, 30)
        }
    }
}

extension RetryPolicy {
    /// Is the database back? One retry, so a reconnect after a lost connection counts.
    static let probe = RetryPolicy(attempts: 2, baseDelay: .milliseconds(20), maxDelay: .milliseconds(20))
}
