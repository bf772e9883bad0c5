import ArgumentParser
import MariaDB
import OctoCore
import OctoTime

struct ShAlerts: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "alerts", abstract: "List alerts with their delivery state; ack one by hand.",
        subcommands: [ShAlertsList.self, ShAlertsAck.self], defaultSubcommand: ShAlertsList.self)
}

struct ShAlertsList: OctoCommand {
    static let configuration = CommandConfiguration(
        commandName: "list", abstract: "Alerts, newest first.",
        discussion:
            "--open: not delivered yet, delivery failed, or a failure no success has answered yet (and not acked).")
    @Flag(help: "Only open alerts.") var open = false
    @Option(help: ArgumentHelp("Only this job's alerts.", valueName: "name")) var job: String?
    @Option(name: .short, parsing: .unconditional, help: "How many.") var n: Int = 50
    @OptionGroup var global: GlobalOptions

    func validate() throws {
        if let job, !Names.isValidName(job) {
            throw ValidationError("invalid job name '\(job.quotedForMessage)': expected \(Names.nameRule)")
        }
        try checkCount(n)
    }

    func run(_ context: Context) throws {
        let db = try context.database()
        let alerts = try AlertStore.list(db, job: job, open: open, limit: n)
        if global.json {
            try Output.json(
                JSON.array(
                    alerts.map { a in
                        .object([
                            "id": .int(a.id), "kind": .string(a.kind.rawValue), "job": .string(a.job),
                            "run": a.runID.map(JSON.int) ?? .null,
                            "machine": a.machine.map(JSON.string) ?? .null, "first_at": .string(a.firstAt.iso8601),
                            "last_at": .string(a.lastAt.iso8601), "occurrences": .int(Int64(a.occurrences)),
                            "summary": .bool(a.summary),
                            "recovered": .bool(a.recovered), "state": .string(a.state.rawValue),
                            "attempts": .int(Int64(a.attempts)),
                            "sent_at": a.sentAt.map { .string($0.iso8601) } ?? .null,
                            "last_error": .string(a.lastError),
                            "first_line": .string(a.firstLine), "last_line": .string(a.lastLine)
                        ])
                    }))
            return
        }
        if alerts.isEmpty {
            Output.line(open ? "no open alerts" : "no alerts")
            return
        }
        var t = Table(["id", "first", "kind", "job", "run", "count", "state", "line"])
        for a in alerts {
            let state =
                a.state.rawValue
                + (a.state == .failed || (a.state == .pending && a.attempts > 0) ? " (\(a.attempts) attempts)" : "")
                + (a.recovered && AlertKind.failures.contains(a.kind) ? ", recovered" : "")
            t.add([
                "\(a.id)", a.firstAt.iso8601.prefix(19) + "Z", a.kind.rawValue + (a.summary ? " (summary)" : ""),
                a.job.isEmpty ? (a.machine ?? "-") : a.job, a.runID.map(String.init) ?? "-", "\(a.occurrences)", state,
                String(a.firstLine.prefix(60))
            ])
        }
        Output.line(t.render())
    }
}

struct ShAlertsAck: OctoCommand {
    static let configuration = CommandConfiguration(
        commandName: "ack", abstract: "Close an alert by hand: not delivered (again), no longer open.")
    @Argument(help: "The alert id.") var id: Int64
    @OptionGroup var global: GlobalOptions

    func validate() throws {
        if id < 1 { throw ValidationError("invalid alert id '\(id)': expected a whole number of at least 1") }
    }

    func run(_ context: Context) throws {
        let db = try context.database()
        guard try AlertStore.ack(db, id, by: context.actor) else {
            throw OctoError.usage("no alert \(id) (see octo sh alerts)")
        }
        if !global.quiet { Output.line("alert \(id) acknowledged") }
    }
}
