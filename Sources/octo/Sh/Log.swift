import ArgumentParser
import MariaDB
import OctoCore
import OctoTime

#if canImport(Glibc)
    import Glibc
#endif

struct ShLog: OctoCommand {
    static let configuration = CommandConfiguration(
        commandName: "log",
        abstract: "A job's or a run's log lines from every machine, newest last; --follow for new ones as they come.",
        discussion: """
            A number is a run id; write job:NAME for a job whose name is all digits. Any name lines were \
            logged under works (also `octo logger -n NAME` names that are not jobs). \
            Shows the last -n lines (default 100, 0 for all) of what matches. Times are shown in the job's \
            zone (else default_tz). --grep is case-sensitive. --machine M shows only lines from machine M. \
            --follow keeps printing new lines, from every machine, within a second, until interrupted.
            """
    )
    @Argument(help: "A job name or a run id.") var target: String
    @Flag(name: [.short, .long], help: "Keep printing new lines until interrupted.") var follow = false
    @Option(
        help: ArgumentHelp(
            "Only lines from this long ago (2h, 3d) or this time (2026-11-21T08:00, 2026-11-21).", valueName: "when"))
    var since: String?
    @Option(help: ArgumentHelp("Only lines before this (same forms as --since).", valueName: "when")) var until: String?
    @Option(
        help: ArgumentHelp(
            "This level and the more severe ones: fatal, error, warn, info, debug, trace, all.", valueName: "level"))
    var level: LevelFilter = .init(nil)
    @Option(help: ArgumentHelp("Only lines containing this text.", valueName: "text")) var grep: String?
    @Option(name: .short, parsing: .unconditional, help: "How many of the newest matching lines (0: all).") var n: Int =
        100
    @OptionGroup var global: GlobalOptions

    func validate() throws {
        if !(0...1_000_000).contains(n) {
            throw ValidationError("invalid -n '\(n)': expected a whole number from 0 (all) to 1000000")
        }
        if follow && until != nil { throw ValidationError("--follow and --until do not go together") }
        if follow && global.json { throw ValidationError("--follow prints lines as they come; it has no --json") }
    }

    func run(_ context: Context) throws {
        let db = try context.database()
        let settings = try context.settings()
        var filter = LogQuery.Filter()
        var zoneName = settings.defaultTimezone
        if let id = Int64(target), !target.hasPrefix("job:") {
            guard id > 0 else { throw OctoError.invalid("run id", target, expected: "a run id or a job name") }
            filter.runID = id
            if let r = try RunQueue.get(db, id), let j = try JobStore.get(db, r.jobName), !j.timezone.isEmpty {
                zoneName = j.timezone
            }
        } else {
            let name = target.hasPrefix("job:") ? String(target.dropFirst(4)) : target
            try Names.check("job name", name)
            filter.job = name
            if let j = try JobStore.get(db, name), !j.timezone.isEmpty { zoneName = j.timezone }
        }
        let zone = try Zone.named(zoneName)
        let now = try JobStore.serverNow(db)
        filter.since = try since.map { try when($0, now: now, zone: zone, what: "--since") }
        filter.until = try until.map { try when($0, now: now, zone: zone, what: "--until") }
        filter.level = level.level
        filter.grep = grep
        filter.machine = global.machine  // the flag only: here it filters, it does not name this machine

        let (lines, more) = try LogQuery.tail(db, filter, limit: n == 0 ? nil : n)
        if global.json {
            try Output.json(JSON.array(lines.map(json)))
            return
        }
        let style = LineStyle(colour: useColour(context.environment), zone: zone)
        if more && !global.quiet { Output.warning("showing the last \(n) lines; -n 0 shows all, --since narrows") }
        for l in lines { Output.line(style.render(l)) }
        if lines.isEmpty && !follow && !global.quiet {
            Output.warning("no log lines for \(filter.runID.map { "run \($0)" } ?? "'\(filter.job!)'") match")
        }
        Output.flush()
        guard follow else { return }
        let follower = LogQuery.Follower(filter, after: lines.last?.id ?? 0)
        // a database restart or failover is waited out, however long (Ctrl-C ends it): a follower is a person
        // watching, and the lines written meanwhile come when it is back
        let patient = RetryPolicy.until(.now + .seconds(10 * 365 * 86_400))
        while true {
            for l in try db.retrying(patient, { db in try follower.poll(db) }) { Output.line(style.render(l)) }
            Output.flush()
            usleep(250_000)
        }
    }

    /// `2h` ago, or a time in the job's zone.
    func when(_ text: String, now: Instant, zone: Zone, what: String) throws -> Instant {
        if let first = text.unicodeScalars.first, first.properties.numericType != nil, !text.contains("-") {
            guard let seconds = try? Durations.parse(text) else {
                throw OctoError.invalid(
                    what, text, expected: "a duration like 2h or 3d, or a time like 2026-11-21T08:00")
            }
            return now - .seconds(seconds)
        }
        do { return try TimeText.parse(text, zone: zone) } catch {
            throw OctoError.invalid(what, text, expected: "a duration like 2h or 3d, or a time like 2026-11-21T08:00")
        }
    }

    func json(_ l: LogQuery.Line) -> JSON {
        .object([
            "id": .int(l.id), "time": .string(l.loggedAt.iso8601), "job": .string(l.jobName),
            "run": l.runID.map(JSON.int) ?? .null,
            "machine": .string(l.machine), "level": .string(l.level.rawValue),
            "code": l.code.map { .int(Int64($0.rawValue)) } ?? .null,
            "content": .string(l.content), "truncated": .bool(l.truncated)
        ])
    }

    func useColour(_ env: [String: String]) -> Bool {
        isatty(1) == 1 && env["NO_COLOR"].map(\.isEmpty) ?? true && env["TERM"] != "dumb"
    }
}

/// How a log line looks on a terminal:
/// `2026-11-21 13:00:15.592+01:00 w1 #12 error  disk full`.
struct LineStyle {
    let colour: Bool
    let zone: Zone

    func render(_ l: LogQuery.Line) -> String {
        let t = zone.format(l.loggedAt)
        let ms = String(l.loggedAt.microsecond / 1000 + 1000).dropFirst()
        // 2026-11-21T13:00:15+01:00 → 2026-11-21 13:00:15.592+01:00
        let time = String(t.prefix(10)) + " " + t.dropFirst(11).prefix(8) + "." + ms + t.dropFirst(19)
        let tag = l.code.map { c in c == .start ? "start" : c == .heartbeat ? "beat" : "end" } ?? l.level.rawValue
        let padded = tag + String(repeating: " ", count: max(0, 6 - tag.count))
        let run = l.runID.map { "#\($0) " } ?? ""
        let cut = l.truncated ? " [cut]" : ""
        // what a job printed is data: no escape sequence of it reaches the terminal
        let content = l.content.escapedForTerminal
        guard colour else { return "\(time) \(l.machine) \(run)\(padded) \(content)\(cut)" }
        let c: String
        switch (l.code, l.level) {
        case (.some, _): c = "\u{1B}[36m"  // cyan: start/heartbeat/end
        case (nil, .fatal), (nil, .error): c = "\u{1B}[31m"
        case (nil, .warn): c = "\u{1B}[33m"
        case (nil, .debug), (nil, .trace): c = "\u{1B}[2m"
        default: c = ""
        }
        let reset = c.isEmpty ? "" : "\u{1B}[0m"
        return "\u{1B}[2m\(time)\u{1B}[0m \(l.machine) \(run)\(c)\(padded)\(reset) \(content)\(cut)"
    }
}

/// `--level`: a log level (that level and the more severe ones) or `all`.
struct LevelFilter: ExpressibleByArgument {
    let level: LogLevel?

    init(_ level: LogLevel?) { self.level = level }

    init?(argument: String) {
        if argument == "all" {
            level = nil
        } else if let l = LogLevel(rawValue: argument) {
            level = l
        } else {
            return nil
        }
    }

    static var allValueStrings: [String] { LogLevel.allCases.map(\.rawValue) + ["all"] }
    var defaultValueDescription: String { level?.rawValue ?? "all" }
}
