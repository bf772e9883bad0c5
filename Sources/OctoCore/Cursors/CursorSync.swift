import MariaDB
import OctoTime

/// The two ways a value a run set reaches the database from this machine:
/// at once (`setInRun`, the local file first) and later (`sync`).
public enum CursorSync {
    /// Who is setting: the run, from the environment its supervisor gave it
    /// (`OCTO_JOB`, `OCTO_RUN_ID`, `OCTO_RUN_TOKEN`, `OCTO_CURSOR_EPOCH`).
    public struct RunIdentity: Sendable {
        public var job: String
        public var runID: Int64
        public var token: String
        public var epoch: Int64
        public var machine: String

        public init(job: String, runID: Int64, token: String, epoch: Int64, machine: String) {
            (self.job, self.runID, self.token, self.epoch, self.machine) = (job, runID, token, epoch, machine)
        }
    }

    public enum SetResult: Sendable {
        case stored(LocalCursor)
        /// The database could not be reached: the value waits in the local file.
        case keptLocally(LocalCursor, reason: String)
        case refused(reason: String)
    }

    /// `octo cursor set VALUE` inside a run: writes the local file (flushed),
    /// then offers the value to the database fenced by the run's token. The
    /// local file is the record: if the database is out of reach the value
    /// stays pending there for `sync` (or the run's end) to push.
    public static func setInRun(
        _ files: CursorFiles, _ who: RunIdentity, value: String, at now: Instant,
        database: () throws -> Connection
    ) throws -> SetResult {
        try files.update(who.job, durable: false) { (entry: inout LocalCursor?) throws -> SetResult in
            var n: Int64 = 1
            if let e = entry, CursorVersion.epoch(of: e.version) == who.epoch {
                n = CursorVersion.setNumber(of: e.version) + 1
            }
            guard n <= CursorVersion.setsPerRun else {
                return .refused(
                    reason:
                        "run \(who.runID) has already set its cursor \(CursorVersion.setsPerRun) times, the most one run may"
                )
            }
            let version = CursorVersion.make(epoch: who.epoch, set: n)
            if let e = entry, e.version >= version {
                return .refused(
                    reason:
                        "this machine already has a newer value (version \(CursorVersion.text(e.version)), run \(e.runID.map(String.init) ?? "none"))"
                )
            }
            var mine = LocalCursor(
                job: who.job, value: value, version: version, runID: who.runID, token: who.token,
                machine: who.machine, setAt: now, state: .pending)
            // this run's previous value could not be stored moments ago: do not make the job wait for
            // another connect timeout (the run's end, or a sync, stores the last value)
            let recentlyOutOfReach =
                entry.map { e in
                    e.state == .pending && e.runID == who.runID && now - e.setAt < .seconds(outOfReachPause)
                } ?? false
            entry = mine
            try files.writeNow(mine)  // on disk before the database hears of it
            if recentlyOutOfReach {
                return .keptLocally(
                    mine, reason: "the previous value waits too, set less than \(outOfReachPause) s ago")
            }
            let outcome: CursorStore.Outcome
            do {
                outcome = try CursorStore.push(try database(), mine, check: .holder, via: "run")
            } catch {
                guard CursorSync.isOutOfReach(error) else { throw error }
                return .keptLocally(mine, reason: "\(error)")
            }
            if let why = outcome.refusal {
                mine.state = .refused
                mine.note = why
                entry = mine
                return .refused(reason: why)
            }
            mine.state = .synced
            entry = mine
            return .stored(mine)
        }
    }

    /// Seconds after a failed attempt during which a run's further sets stay local without trying the database.
    static let outOfReachPause: Int64 = 5

    /// What `sync` did with each pending local cursor.
    public struct Report: Sendable {
        public var stored: [LocalCursor] = []
        public var refused: [(LocalCursor, String)] = []
        /// Local files that could not be read.
        public var damaged: [(String, String)] = []
    }

    /// Offers every pending local cursor to the database (`octo cursor
    /// sync`; also `consume` before it claims). A value is stored only if it
    /// is newer than the remote one and was set while its run held the lease
    /// (`CursorStore.Check.afterwards`); a refused value is marked so in its
    /// file and never offered again. Throws if the database cannot be
    /// reached (what was pushed so far stays pushed).
    public static func sync(_ db: Connection, _ files: CursorFiles) throws -> Report {
        var report = Report()
        // server clock minus ours, read once and only if something is pending (consume calls this every minute)
        var measuredOffset: Int64?
        for job in files.jobs() {
            do {
                guard try files.read(job)?.state == .pending else { continue }
            } catch {
                report.damaged.append((files.path(job), error.message))
                continue
            }
            try files.update(job, durable: false) { (entry: inout LocalCursor?) throws in
                guard var c = entry, c.state == .pending else { return }
                let offset = try measuredOffset ?? (JobStore.serverNow(db) - Instant.now()).microseconds
                measuredOffset = offset
                let outcome = try CursorStore.push(db, c, check: .afterwards(clockOffset: offset), via: "sync")
                if let why = outcome.refusal {
                    c.state = .refused
                    c.note = why
                    report.refused.append((c, why))
                } else {
                    c.state = .synced
                    report.stored.append(c)
                }
                entry = c
            }
        }
        return report
    }

    /// True for errors that mean "the database cannot be reached now".
    public static func isOutOfReach(_ error: any Error) -> Bool {
        guard let e = error as? MariaDBError else { return false }
        return e.isConnectFailure || e.isConnectionLost || e.code == .unknownHost
    }
}
