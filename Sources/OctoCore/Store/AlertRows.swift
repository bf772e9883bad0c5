import MariaDB
import OctoTime

/// How an alert is read from a row of `alerts`.
extension AlertStore {
    static let alertColumns = """
        id, kind, job_name, run_id, machine, first_at, last_at, occurrences, summary, recovered, first_line, last_line, \
        state, attempts, next_attempt_at, sent_at, last_error
        """

    static func alert(from r: Row) throws -> Alert {
        Alert(
            id: try r.decode("id"), kind: try r.decode("kind"), job: try r.decode("job_name"),
            runID: try r.decode("run_id"), machine: try r.decode("machine"), firstAt: try r.decode("first_at"),
            lastAt: try r.decode("last_at"), occurrences: try r.decode("occurrences"), summary: try r.decode("summary"),
            recovered: try r.decode("recovered"), firstLine: try r.decode("first_line"),
            lastLine: try r.decode("last_line"),
            state: try r.decode("state"), attempts: try r.decode("attempts"),
            nextAttemptAt: try r.decode("next_attempt_at"), sentAt: try r.decode("sent_at"),
            lastError: try r.decode("last_error"))
    }
}
