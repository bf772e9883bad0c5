import ArgumentParser
import MariaDB
import OctoCore
import OctoTime

struct ShAudit: OctoCommand {
    static let configuration = CommandConfiguration(
        commandName: "audit",
        abstract: "Who changed what: the audit trail of jobs, runs, settings, cursors, machines and alerts.",
        discussion: """
            Newest first. Each row is one change a person made (sh add/edit/rm/pause/resume/run/kill/apply/\
            settings, cursor set by hand, register --drain/--remove/--active, sh alerts ack), written in the \
            same transaction as the change. A job's trail stays after the job is removed.
            """)
    @Argument(help: "Only changes of this job.") var name: String?
    @Option(parsing: .unconditional, help: "How far back, a duration (7d, 12h).") var since = "7d"
    @Option(name: .short, parsing: .unconditional, help: "How many rows at most, newest first.") var n: Int = 50
    @OptionGroup var global: GlobalOptions

    func validate() throws {
        try checkCount(n)
        do {
            if let name { try Names.check("job name", name) }
            _ = try Durations.parse(since, what: "--since")
        } catch { throw ValidationError(error.message) }
    }

    func run(_ context: Context) throws {
        let db = try context.database()
        let entries = try AuditStore.list(db, job: name, since: try Durations.parse(since, what: "--since"), limit: n)
        if global.json {
            try Output.json(JSON.array(entries.map(Self.json)))
            return
        }
        guard !entries.isEmpty else {
            Output.line("no changes" + (name.map { " of \($0)" } ?? "") + " in the last \(since)")
            return
        }
        let zone = try Zone.named(try context.settings().defaultTimezone)
        var t = Table(["id", "time", "actor", "action", "on", "change"])
        for e in entries {
            let r = e.record
            let on = [r.job, r.run.map { "run \($0)" }, r.subject.isEmpty ? nil : r.subject].compactMap { $0 }
            t.add([
                "\(e.id)", zone.format(e.at), r.actor, r.action.rawValue, on.joined(separator: ", "),
                r.changes.map(Self.text).joined(separator: "; ")
            ])
        }
        Output.line(t.render())
    }

    /// The `--json` shape of one row (field names in docs/reference.md).
    static func json(_ e: Audit.Entry) -> JSON {
        .object([
            "id": .int(e.id), "at": .string(e.at.iso8601), "actor": .string(e.record.actor),
            "action": .string(e.record.action.rawValue), "job": e.record.job.map(JSON.string) ?? .null,
            "run": e.record.run.map(JSON.int) ?? .null, "subject": .string(e.record.subject),
            "changes": Audit.json(e.record.changes)
        ])
    }

    /// `schedule "0 2 * * *" → "0 3 * * *"`; `command = "…"` for an add, `command was "…"` for a removal.
    static func text(_ c: Audit.Change) -> String {
        switch (c.old, c.new) {
        case (.null, let new): return "\(c.attribute) = \(value(new))"
        case (let old, .null): return "\(c.attribute) was \(value(old))"
        default: return "\(c.attribute) \(value(c.old)) → \(value(c.new))"
        }
    }

    static func value(_ v: JSON) -> String {
        let s: String
        switch v {
        case .string(let text): s = JobFile.scalar(text, numeric: false)
        default: s = (try? v.text()) ?? "?"
        }
        return s.count > 60 ? String(s.prefix(59)) + "…" : s
    }
}
