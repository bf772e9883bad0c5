/// Running `alert_command` for one alert: `/bin/sh -c COMMAND` with the
/// alert as one JSON object on stdin and, in its environment,
/// `OCTO_ALERT_ID`, `OCTO_ALERT_KIND`, `OCTO_ALERT_JOB`, `OCTO_ALERT_TO`
/// (the job's `alert_to`), `OCTO_ALERT_SUBJECT`. Exit 0 means delivered;
/// anything else (or running longer than the timeout: SIGTERM to its process
/// group, then SIGKILL 5 s later) is a failed attempt. The timeout bounds the
/// whole delivery, and whatever the command left running in its group when it
/// exited (`mail … &`) is killed: nothing it starts can hold the monitor.
///
///     alert_command = mail -s "$OCTO_ALERT_SUBJECT" "${OCTO_ALERT_TO:-ops@example.com}"
public enum AlertDelivery {
    /// Runs the command; nil when it succeeded, else what went wrong (one line).
    public static func run(_ command: String, alert: Alert, recipients: String, timeout: Int64) -> String? {
        let vars = [
            "OCTO_ALERT_ID=\(alert.id)", "OCTO_ALERT_KIND=\(alert.kind.rawValue)", "OCTO_ALERT_JOB=\(alert.job)",
            "OCTO_ALERT_TO=\(recipients)", "OCTO_ALERT_SUBJECT=\(alert.subject)"
        ]
        let argv = ["env"] + vars + ["/bin/sh", "-c", command]
        do {
            let r = try ChildProcess.run(
                argv, input: Array((json(alert, recipients: recipients) + "\n").utf8), timeout: Double(timeout))
            if r.status == 0 { return nil }
            let err = String(decoding: r.stderr, as: UTF8.self).split(separator: "\n").last.map(String.init) ?? ""
            let why = r.status == 124 ? "timed out after \(timeout)s" : "exit \(r.status)"
            return "alert command failed (\(why))" + (err.isEmpty ? "" : ": \(err)")
        } catch {
            return error.message
        }
    }

    /// The alert as JSON: `{"id", "kind", "job", "run", "machine", "first_at", "last_at", "occurrences",
    /// "summary", "first_line", "last_line", "subject", "to"}` (times UTC ISO 8601; keys sorted).
    public static func json(_ a: Alert, recipients: String) -> String {
        let o: JSON = .object([
            "id": .int(a.id), "kind": .string(a.kind.rawValue), "job": .string(a.job),
            "run": a.runID.map(JSON.int) ?? .null, "machine": a.machine.map(JSON.string) ?? .null,
            "first_at": .string(a.firstAt.iso8601), "last_at": .string(a.lastAt.iso8601),
            "occurrences": .int(Int64(a.occurrences)), "summary": .bool(a.summary),
            "first_line": .string(a.firstLine), "last_line": .string(a.lastLine),
            "subject": .string(a.subject), "to": .string(recipients)
        ])
        // encoding strings, numbers and booleans cannot fail
        return (try? o.text()) ?? "{}"
    }
}
