import ArgumentParser
import MariaDB
import OctoCore
import OctoTime

#if canImport(Glibc)
    import Glibc
#endif

struct ShTrend: OctoCommand {
    static let configuration = CommandConfiguration(
        commandName: "trend",
        abstract: "Durations and outcomes of a job's last runs, drawn in the terminal, with the median and p95.",
        discussion: """
            One bar per finished run, oldest on the left, its height the duration on the printed scale; \
            under each bar a letter for its state (S succeeded, P passed, F failed, T timeout, L lost, K skipped, \
            C cancelled), in colour on a terminal (not with NO_COLOR set, TERM=dumb or into a pipe).
            """)
    @Argument(help: "The job.") var name: String
    @Option(name: .short, parsing: .unconditional, help: "How many runs, newest first.") var n: Int = 50
    @OptionGroup var global: GlobalOptions

    /// Bar rows of the chart.
    static let rows = 8

    func validate() throws {
        try checkCount(n)
    }

    func run(_ context: Context) throws {
        let db = try context.database()
        _ = try JobStore.require(db, name)
        let trend = Trend(try RunQueue.history(db, job: name, limit: n))
        if global.json {
            try Output.json(json(trend))
            return
        }
        guard !trend.points.isEmpty else {
            Output.line("no finished runs of \(name) yet")
            return
        }
        let env = context.environment
        let colour = isatty(1) == 1 && (env["NO_COLOR"] ?? "").isEmpty && env["TERM"] != "dumb"
        for line in ShTrend.chart(trend, colour: colour) { Output.line(line) }
        Output.line(
            "\(trend.points.count) runs; median \(trend.median.map(humanDuration) ?? "-"), "
                + "p95 \(trend.p95.map(humanDuration) ?? "-") (of \(trend.points.compactMap(\.duration).count) with a duration)"
        )
    }

    private func json(_ t: Trend) -> JSON {
        let d: (Double?) -> JSON = { $0.map(JSON.double) ?? .null }
        return .object([
            "job": .string(name), "median": d(t.median), "p95": d(t.p95), "longest": d(t.longest),
            "runs": .array(
                t.points.map { p in
                    .object([
                        "id": .int(p.runID), "state": .string(p.state.rawValue),
                        "fire_time": .string(p.fireTime.iso8601), "duration": d(p.duration)
                    ])
                })
        ])
    }

    /// The chart's lines: the scale on the left (the longest run at the top), bars, the axis, the state letters.
    static func chart(_ t: Trend, colour: Bool) -> [String] {
        let top = humanDuration(t.longest ?? 0)
        let mid = humanDuration((t.longest ?? 0) / 2)
        let width = max(top.count, mid.count, 2)
        func label(_ s: String) -> String { String(repeating: " ", count: width - s.count) + s }
        var lines: [String] = []
        for row in stride(from: rows, through: 1, by: -1) {
            let scale = row == rows ? label(top) + " ┤" : row == rows / 2 ? label(mid) + " ┤" : label("") + " │"
            let bars = t.points.map { p in t.height(p, rows: rows) >= row ? paint("█", p.state, colour) : " " }
            lines.append(scale + bars.joined())
        }
        lines.append(label("0s") + " └" + String(repeating: "─", count: t.points.count))
        lines.append(label("") + "  " + t.points.map { paint(letter($0.state), $0.state, colour) }.joined())
        return lines
    }

    static func letter(_ s: Run.State) -> String {
        switch s {
        case .succeeded: "S"
        case .passed: "P"
        case .failed: "F"
        case .timeout: "T"
        case .lost: "L"
        case .skipped: "K"
        case .cancelled: "C"
        case .waiting, .queued, .running: "?"
        }
    }

    static func paint(_ text: String, _ s: Run.State, _ colour: Bool) -> String {
        guard colour else { return text }
        let code: Int
        switch s {
        case .succeeded, .passed: code = 32
        case .failed: code = 31
        case .timeout: code = 35
        case .lost: code = 33
        case .skipped: code = 90
        case .cancelled, .waiting, .queued, .running: code = 36
        }
        return "\u{1B}[\(code)m" + text + "\u{1B}[0m"
    }
}
