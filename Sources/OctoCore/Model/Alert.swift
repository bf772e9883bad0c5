import MariaDB
import OctoTime

/// What an alert is about.
public enum AlertKind: String, SQLTextEnum {
    /// A run exited with a code its job does not accept.
    case failed
    /// A run was killed by a signal.
    case signal
    case timeout
    /// A run's lease lapsed (its machine or supervisor went away).
    case lost
    /// A `100 start` line outside a run with no `120 end` in time.
    case missingEnd = "missing_end"
    /// A `120 end` line outside a run with an exit code that is not accepted.
    case badExit = "bad_exit"
    /// A log line at or above the job's alert level.
    case log
    /// A job's next fire is overdue: no producer is running.
    case missedFire = "missed_fire"
    /// A run queued too long: no live machine can take it.
    case unclaimed
    /// A machine stopped sending heartbeats.
    case machineStale = "machine_stale"
    /// The first success after a failure alert.
    case recovered
    /// A run still running after its job's `warn_after` (it goes on; `timeout` still kills).
    case slow
    /// A waiting run's upstream run for its fire ended for good without succeeding (one per upstream run).
    case blocked
    /// A run still waiting for its needs after the `needs_timeout` setting: recorded skipped.
    case needsTimeout = "needs_timeout"

    /// Kinds a later success answers with a `recovered` alert.
    public static let failures: [AlertKind] = [.failed, .signal, .timeout, .lost, .missingEnd, .badExit]
}

/// One thing the monitor found (or several of the same kind, counted).
public struct Occurrence: Sendable, Equatable {
    public var kind: AlertKind
    /// The job (or the name lines were logged under); empty for machine alerts.
    public var job: String
    public var runID: Int64?
    public var machine: String?
    /// When it happened (a run's end, a line's time), not when it was found.
    public var at: Instant
    public var line: String

    public init(_ kind: AlertKind, job: String, runID: Int64? = nil, machine: String? = nil, at: Instant, line: String)
    {
        (self.kind, self.job, self.runID, self.machine, self.at, self.line) = (kind, job, runID, machine, at, line)
    }
}

/// A row of the `alerts` table.
public struct Alert: Sendable, Equatable {
    public enum State: String, SQLTextEnum {
        /// Waiting for delivery (again, after a failed attempt, at `nextAttemptAt`).
        case pending
        case sent
        /// The alert command failed `AlertStore.maxAttempts` times.
        case failed
        /// Closed by hand (`octo sh alerts ack`).
        case acked
    }

    public var id: Int64
    public var kind: AlertKind
    public var job: String
    public var runID: Int64?
    public var machine: String?
    public var firstAt: Instant
    public var lastAt: Instant
    public var occurrences: Int
    /// A follow-up counting the repeats within a merge window.
    public var summary: Bool
    public var recovered: Bool
    public var firstLine: String
    public var lastLine: String
    public var state: State
    public var attempts: Int
    public var nextAttemptAt: Instant
    public var sentAt: Instant?
    public var lastError: String

    /// One line for a mail subject or a terminal, control characters of log
    /// content made visible (`escapedForTerminal`): no ESC, BEL or CR of a job's
    /// output reaches a mail client or a terminal through it.
    public var subject: String { rawSubject.escapedForTerminal }

    private var rawSubject: String {
        let name = job.isEmpty ? (machine.map { "machine \($0)" } ?? "octo") : "job \(job)"
        let run = runID.map { " (run \($0)" + (machine.map { " on \($0)" } ?? "") + ")" } ?? ""
        if summary {
            return
                "[octo] \(name): \(occurrences) more \(kind.rawValue) alert(s) between \(firstAt.iso8601) and \(lastAt.iso8601)"
        }
        switch kind {
        case .recovered: return "[octo] \(name) recovered\(run)"
        case .machineStale: return "[octo] \(name) is stale: no heartbeat since \(firstAt.iso8601)"
        default: return "[octo] \(name): \(kind.rawValue)\(run): \(firstLine.prefix(120))"
        }
    }
}
