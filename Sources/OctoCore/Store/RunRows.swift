import MariaDB
import OctoTime

/// How a run is read from a row of `runs`.
extension RunQueue {
    static let runColumns = """
        id, job_id, job_name, fire_time, logical_date, attempt, route_key, trigger_kind, forced, state, reason, machine, queued_at,
        not_before, lease_token, lease_expires_at, pid, cursor_in, cursor_given, cursor_epoch, cursor_out, exit_code, exit_signal,
        started_at, ended_at
        """

    /// Every column of a run, for `run(from:)`.
    static let selectRuns = "SELECT " + runColumns + " FROM runs"

    static func run(from r: Row) throws -> Run {
        Run(
            id: try r.decode("id"), jobID: try r.decode("job_id"), jobName: try r.decode("job_name"),
            fireTime: try r.decode("fire_time"), logicalDate: try r.decode("logical_date"),
            attempt: try r.decode("attempt"), routeKey: try r.decode("route_key"),
            trigger: try r.decode("trigger_kind"), forced: try r.decode("forced"),
            state: try r.decode("state"), reason: try r.decode("reason"), machine: try r.decode("machine"),
            queuedAt: try r.decode("queued_at"), notBefore: try r.decode("not_before"),
            leaseToken: try r.decode("lease_token"), leaseExpiresAt: try r.decode("lease_expires_at"),
            pid: try r.decode("pid"), cursorIn: try r.decode("cursor_in"), cursorGiven: try r.decode("cursor_given"),
            cursorEpoch: try r.decode("cursor_epoch"), cursorOut: try r.decode("cursor_out"),
            exitCode: try r.decode("exit_code"), exitSignal: try r.decode("exit_signal"),
            startedAt: try r.decode("started_at"), endedAt: try r.decode("ended_at"))
    }
}
