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
        let shown = try Self.part(of: graph, around: name)
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

    /// The jobs shown: `job`, all above and below it; else every job that needs or is needed.
    static func part(of graph: DependencyGraph, around job: String?) throws -> Set<String> {
        if let job {
            guard graph.needs[job] != nil else { throw OctoError.usage("no job named '\(job.quotedForMessage)'") }
            return Set([job] + graph.upstream(of: job) + graph.downstream(of: job))
        }
        var out: Set<String> = []
        for (j, list) in graph.needs where !list.isEmpty {
            out.insert(j)
            out.formUnion(list.filter { graph.needs[$0] != nil })
        }
        return out
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
        let deps = try JobStore.graph(db)
        let shown = try ShGraph.part(of: deps, around: name)
        let defaultZone = try Zone.named(settings.defaultTimezone)
        let fireTime = try fire.map { try TimeText.parse($0, zone: defaultZone) }
        let day = try date ?? defaultZone.logicalDate(JobStore.serverNow(db))
        if date != nil { _ = try TimeText.day(day, zone: defaultZone) }
        let order = (deps.order ?? deps.needs.keys.sorted()).filter(shown.contains)
        var depth: [String: Int] = [:]
        for j in order { depth[j] = (deps.needs[j] ?? []).compactMap { depth[$0] }.max().map { $0 + 1 } ?? 0 }
        var rows: [(job: String, runs: [Run])] = []
        for j in order {
            guard let job = try JobStore.get(db, j) else { continue }
            rows.append(
                (j, try RunQueue.latestAttempts(db, jobID: job.id!, date: fireTime == nil ? day : nil, fire: fireTime)))
        }
        let unmet = try NeedsStore.unmet(db, runIDs: rows.flatMap { $0.runs.filter { $0.state == .waiting }.map(\.id) })
        if global.json {
            try Output.json(
                JSON.object([
                    "date": fireTime == nil ? .string(day) : .null,
                    "fire_time": fireTime.map { .string($0.fireTimeText) } ?? .null,
                    "jobs": .array(
                        rows.map { r in
                            .object([
                                "job": .string(r.job), "depth": .int(Int64(depth[r.job] ?? 0)),
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
            let counts = Dictionary(grouping: r.runs, by: \.state).map { "\($0.value.count) \($0.key.rawValue)" }
                .sorted()
            var state = r.runs.isEmpty ? "no run" : counts.joined(separator: ", ")
            let waits = unmet.filter { u in r.runs.contains { $0.id == u.runID } }
            if let w = waits.first {
                state +=
                    " — waits for " + NeedsStore.waitText(w) + (waits.count > 1 ? " and \(waits.count - 1) more" : "")
            }
            t.add([String(repeating: "  ", count: depth[r.job] ?? 0) + r.job, "\(r.runs.count)", state])
        }
        Output.line((fireTime.map { "fire time \($0.fireTimeText)" } ?? "date \(day)") + "\n" + t.render())
    }
}
