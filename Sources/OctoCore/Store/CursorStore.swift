import MariaDB
import OctoTime

/// The remote cursors (`cursors`, `cursor_history`): reads, and the one way
/// a value gets in — `store`, which moves a cursor only to a higher version
/// and records each value it stores in the history.
///
/// Who may write:
/// - a running run, fenced by its lease token (`octo cursor set` inside the
///   run, and its supervisor at the end): `push(…, check: .holder)`;
/// - `octo cursor sync`, for a value set while the database was out of
///   reach: `push(…, check: .afterwards)`, see `Check`;
/// - a person (`octo cursor set JOB VALUE`): `setByHand`, with a fresh epoch
///   so the value wins over every run started before it.
///
/// Lock order (after RunQueue's): the run row, then the cursor row.
public enum CursorStore {
    public struct Remote: Sendable, Equatable {
        public var value: String
        public var version: Int64
        public var updatedAt: Instant
        public var updatedRun: Int64?
        public var updatedBy: String
    }

    public static func get(_ db: Connection, job: String, lock: Bool = false) throws -> Remote? {
        try db.query(
            "SELECT value, version, updated_at, updated_run, updated_by FROM cursors WHERE job_name = ?"
                + (lock ? " FOR UPDATE" : ""), [.text(job)]
        ).first.map { r in
            Remote(
                value: try r.decode("value"), version: try r.decode("version"), updatedAt: try r.decode("updated_at"),
                updatedRun: try r.decode("updated_run"), updatedBy: try r.decode("updated_by"))
        }
    }

    /// One stored value of a job's cursor.
    public struct HistoryEntry: Sendable {
        public var value: String
        public var version: Int64
        public var runID: Int64?
        public var machine: String
        public var via: String
        public var storedAt: Instant
    }

    /// A job's stored values, newest first.
    public static func history(_ db: Connection, job: String, limit: Int) throws -> [HistoryEntry] {
        try db.query(
            """
            SELECT value, version, run_id, machine, via, set_at FROM cursor_history WHERE job_name = ?
            ORDER BY id DESC LIMIT ?
            """, [.text(job), .int(Int64(limit))]
        ).rows.map { r in
            HistoryEntry(
                value: try r.decode("value"), version: try r.decode("version"), runID: try r.decode("run_id"),
                machine: try r.decode("machine"), via: try r.decode("via"), storedAt: try r.decode("set_at"))
        }
    }

    /// What happened to a value offered to the database.
    public enum Outcome: Sendable, Equatable {
        /// Stored: the cursor now has it.
        case stored
        /// The database had this very value already (a repeated push).
        case alreadyStored
        /// Refused: the cursor has a version at least as new (shown).
        case stale(Remote)
        /// Refused: its run may no longer write (the reason says why).
        case fenced(String)

        /// The refusal, in words (nil when stored).
        public var refusal: String? {
            switch self {
            case .stored, .alreadyStored: nil
            case .stale(let r):
                "older than the stored cursor (version \(CursorVersion.text(r.version))"
                    + (r.updatedRun.map { ", run \($0)" } ?? ", set by \(r.updatedBy)") + ")"
            case .fenced(let why): why
            }
        }
    }

    /// How a run's right to write is checked.
    public enum Check: Sendable {
        /// The run must be running under the value's token (inside the run, and at its end).
        case holder
        /// For a value pushed later by `octo cursor sync`: accepted if it was
        /// set while its run held the lease — the run ended by its own
        /// supervisor (succeeded, failed, timeout), or it is running or lost
        /// and the value was set before the lease's expiry — and no run of
        /// the job was claimed after it (that run started from an older
        /// cursor; accepting the late value would let the cursor step back
        /// when the newer run stores its own). `clockOffset` (server minus
        /// this machine, µs) puts the set time on the server's clock. A
        /// cancelled run's values are refused (killed by a person or replaced).
        case afterwards(clockOffset: Int64)
    }

    /// Offers a value a run set (`LocalCursor` with its run and token) to
    /// the database, in one transaction.
    public static func push(_ db: Connection, _ c: LocalCursor, check: Check, via: String) throws -> Outcome {
        try db.retrying { db in try db.transaction { () throws -> Outcome in try offer(db, c, check: check, via: via) }
        }
    }

    /// `push` in the caller's transaction (the supervisor's completion).
    static func offer(_ db: Connection, _ c: LocalCursor, check: Check, via: String) throws -> Outcome {
        guard let runID = c.runID else { return .fenced("it names no run") }
        guard
            let r = try db.query(
                "SELECT job_name, state, lease_token, lease_expires_at FROM runs WHERE id = ? FOR UPDATE",
                [.int(runID)]
            ).first
        else {
            return .fenced("run \(runID) no longer exists")
        }
        let state: Run.State = try r.decode("state")
        let token: String? = try r.decode("lease_token")
        guard token == c.token else { return .fenced("the lease token is not run \(runID)'s") }
        // a run's token is for its own job's cursor (`OCTO_JOB=other octo cursor set …` in a job is refused)
        let job: String = try r.decode("job_name")
        guard job == c.job else {
            return .fenced("run \(runID) is a run of '\(job.quotedForMessage)', not of '\(c.job.quotedForMessage)'")
        }
        switch check {
        case .holder:
            guard state == .running else {
                return .fenced("run \(runID) is \(state.rawValue): its lease is no longer this machine's")
            }
        case .afterwards(let offset):
            switch state {
            case .succeeded, .failed, .timeout:
                break
            case .running, .lost:
                let expiry: Instant? = try r.decode("lease_expires_at")
                let setAt = c.setAt + .microseconds(offset)
                guard let expiry, setAt < expiry else {
                    return .fenced(
                        "set at \(setAt.iso8601), after run \(runID)'s lease expired"
                            + (expiry.map { " (\($0.iso8601))" } ?? ""))
                }
            case .cancelled, .queued, .skipped, .waiting, .passed:
                return .fenced("run \(runID) was \(state.rawValue)")
            }
            // a run claimed after this one started from an older cursor and redoes the work: its values
            // supersede these (taking these now would move the value back when it stores its own)
            if let later = try db.query(
                "SELECT id FROM runs WHERE job_name = ? AND cursor_epoch > ? ORDER BY id LIMIT 1",
                [.text(c.job), .int(CursorVersion.epoch(of: c.version))]
            ).first {
                return .fenced(
                    "run \(try later.decode("id", as: Int64.self)) of \(c.job) started after run \(runID) and supersedes it"
                )
            }
        }
        return try store(db, job: c.job, value: c.value, version: c.version, runID: runID, by: c.machine, via: via)
    }

    /// Sets a job's cursor by hand (`octo cursor set JOB VALUE` outside a
    /// run). Refused while the job is running unless `force`; the value gets
    /// a fresh epoch, so it wins over every run started before it (a running
    /// run's later values are refused as older). The `cursor set` audit row
    /// (old and new value) is written in the same transaction.
    public static func setByHand(_ db: Connection, job: String, value: String, by who: String, force: Bool) throws -> (
        Outcome, version: Int64
    ) {
        try db.retrying { db in
            try db.transaction { () throws -> (Outcome, version: Int64) in
                if !force,
                    let running = try db.query(
                        "SELECT id FROM runs WHERE job_name = ? AND state = 'running' ORDER BY id LIMIT 1",
                        [.text(job)]
                    ).first
                {
                    let id: Int64 = try running.decode("id")
                    throw OctoError.failure(
                        "job '\(job.quotedForMessage)' is running (run \(id)); its own cursor sets would be refused after this one: add --force to set it anyway"
                    )
                }
                let epoch: Int64 = try db.query("SELECT NEXT VALUE FOR cursor_epochs AS e").first!.decode("e")
                let version = CursorVersion.make(epoch: epoch, set: 1)
                let old = try get(db, job: job, lock: true)?.value
                let outcome = try store(
                    db, job: job, value: value, version: version, runID: nil, by: who, via: "manual")
                if case .stored = outcome {
                    try AuditStore.record(
                        db,
                        Audit.Record(
                            .cursorSet, by: who, job: job,
                            changes: [Audit.Change("cursor", old.map(JSON.string) ?? .null, .string(value))]))
                }
                return (outcome, version)
            }
        }
    }

    /// Stores `value` at `version` if that is newer than the cursor's (in the caller's transaction).
    static func store(
        _ db: Connection, job: String, value: String, version: Int64, runID: Int64?, by: String, via: String
    ) throws -> Outcome {
        // a new cursor: insert it, unless another writer got there first (then it is an update like any other)
        if try get(db, job: job) == nil,
            try db.execute(
                """
                INSERT IGNORE INTO cursors (job_name, value, version, updated_at, updated_run, updated_by) VALUES (?, ?, ?, NOW(6), ?, ?)
                """, [.text(job), .text(value), .int(version), runID.sqlValue, .text(by)]) == 1
        {
            // stored; the history row follows
        } else {
            guard let current = try get(db, job: job, lock: true) else {
                throw OctoError.failure("the cursor of \(job.quotedForMessage) vanished while being set")
            }
            if current.version == version && current.updatedRun == runID && current.value == value {
                return .alreadyStored
            }
            if current.version >= version { return .stale(current) }
            try db.execute(
                """
                UPDATE cursors SET value = ?, version = ?, updated_at = NOW(6), updated_run = ?, updated_by = ?
                WHERE job_name = ? AND version < ?
                """, [.text(value), .int(version), runID.sqlValue, .text(by), .text(job), .int(version)])
        }
        try db.execute(
            """
            INSERT INTO cursor_history (job_name, value, version, run_id, machine, via, set_at) VALUES (?, ?, ?, ?, ?, ?, NOW(6))
            """, [.text(job), .text(value), .int(version), runID.sqlValue, .text(by), .text(via)])
        return .stored
    }
}
