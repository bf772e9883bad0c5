import ArgumentParser
import MariaDB
import OctoCore
import OctoTime

struct ShGraph: OctoCommand {
    static let configuration = CommandConfiguration(
        commandName: "graph", abstract: "The jobs' needs as an indented tree, or Graphviz DOT.",
        discussion: """
            Each job is listed under every job it needs. With JOB, only the jobs above and below it. \
            --dot writes a digraph (an edge from each need to the job that needs it):\n  \
            octo sh graph --dot | dot -Tsvg > graph.svg
            """)
    @Argument(help: "Only this job's part of the graph.") var name: String?
    @Flag(help: "Graphviz DOT instead of the tree.") var dot = false
    @OptionGroup var global: GlobalOptions

    func run(_ context: Context) throws {
        let db = try context.database()
        let graph = try JobStore.graph(db)
        let shown = try GraphStatus.part(of: graph, around: name)
        let needs = graph.needs.filter { shown.contains($0.key) }.mapValues { $0.filter(shown.contains) }
        var neededBy: [String: [String]] = [:]
        for (j, list) in needs { for n in list { neededBy[n, default: []].append(j) } }
        if global.json {
            try Output.json(
                JSON.array(
                    shown.sorted().map { j in
                        .object([
                            "name": .string(j), "needs": .array((needs[j] ?? []).map(JSON.string)),
                            "needed_by": .array((neededBy[j] ?? []).sorted().map(JSON.string))
                        ])
                    }))
            return
        }
        if dot {
            var out = "digraph octo {\n  rankdir=LR;\n  node [shape=box];\n"
            for j in shown.sorted() { out += "  \(Self.dotID(j));\n" }
            for j in shown.sorted() {
                for n in needs[j] ?? [] { out += "  \(Self.dotID(n)) -> \(Self.dotID(j));\n" }
            }
            print(out + "}")
            return
        }
        if shown.isEmpty {
            Output.line("no job needs another (see octo sh add --needs)")
            return
        }
        var lines: [String] = []
        func tree(_ j: String, _ depth: Int, _ path: Set<String>) {
            lines.append(String(repeating: "  ", count: depth) + (depth == 0 ? "" : "└ ") + j)
            for child in (neededBy[j] ?? []).sorted() where !path.contains(child) {
                tree(child, depth + 1, path.union([child]))
            }
        }
        for root in shown.sorted() where (needs[root] ?? []).isEmpty { tree(root, 0, [root]) }
        for l in lines { Output.line(l.escapedForTerminal) }
    }

    /// A DOT identifier: the name in double quotes (job names hold no quote or backslash; escaped all the same).
    static func dotID(_ name: String) -> String {
        "\"" + name.replacing("\\", with: "\\\\").replacing("\"", with: "\\\"") + "\""
    }
}

struct ShStatus: OctoCommand {
    static let configuration = CommandConfiguration(
        commandName: "status", abstract: "The graph's jobs with the state of their runs for one date or fire time.",
        discussion: """
            Every job of the graph (with JOB, the jobs above and below it), in the order they run, indented by \
            depth, with the latest attempt of each of its runs for the date (default: today in default_tz) \
            or for the fire time. A waiting run names what it waits for.
            """)
    @Argument(help: "Only this job's part of the graph.") var name: String?
    @Option(parsing: .unconditional, help: ArgumentHelp("The logical date (YYYY-MM-DD).", valueName: "date"))
    var date: String?
    @Option(parsing: .unconditional, help: ArgumentHelp("A fire time instead of a date.", valueName: "time"))
    var fire: String?
    @OptionGroup var global: GlobalOptions

    func validate() throws {
        if fire != nil && date != nil { throw ValidationError("--fire and --date exclude each other") }
    }

    func run(_ context: Context) throws {
        let db = try context.database()
        let settings = try context.settings()
        let defaultZone = try Zone.named(settings.defaultTimezone)
        let fireTime = try fire.map { try TimeText.parse($0, zone: defaultZone) }
        let status = try GraphStatus.read(db, around: name, date: date, fire: fireTime, defaultZone: defaultZone)
        let rows = status.rows
        let unmet = status.unmet
        if global.json {
            try Output.json(
                JSON.object([
                    "date": status.date.map(JSON.string) ?? .null,
                    "fire_time": fireTime.map { .string($0.fireTimeText) } ?? .null,
                    "jobs": .array(
                        rows.map { r in
                            .object([
                                "job": .string(r.job), "depth": .int(Int64(r.depth)),
                                "runs": .array(
                                    r.runs.map { run in
                                        .object([
                                            "id": .int(run.id), "fire_time": .string(run.fireTime.fireTimeText),
                                            "attempt": .int(Int64(run.attempt)), "state": .string(run.state.rawValue),
                                            "waits_for": .array(
                                                unmet.filter { $0.runID == run.id }.map {
                                                    .string(NeedsStore.waitText($0))
                                                })
                                        ])
                                    })
                            ])
                        })
                ]))
            return
        }
        if rows.isEmpty {
            Output.line("no job needs another (see octo sh add --needs)")
            return
        }
        var t = Table(["job", "runs", "state"])
        for r in rows {
            t.add([String(repeating: "  ", count: r.depth) + r.job, "\(r.runs.count)", status.summary(r)])
        }
        Output.line(
            (fireTime.map { "fire time \($0.fireTimeText)" } ?? "date \(status.date ?? "")") + "\n" + t.render())
    }
}
