import MariaDB
import OctoTime

/// The graph's jobs with their runs for one date or fire time (`octo sh status`, the dashboard's `/graph`).
public struct GraphStatus: Sendable {
    public struct Row: Sendable {
        public var job: String
        /// How many needs deep: 0 for a job that needs none of the jobs shown.
        public var depth: Int
        /// The latest attempt of each of its runs for the date (or fire time).
        public var runs: [Run]
    }
    public var date: String?
    public var fireTime: Instant?
    /// In the order the jobs run (every job after what it needs).
    public var rows: [Row]
    /// What the waiting runs among them wait for.
    public var unmet: [NeedsStore.Unmet]

    /// The jobs shown: `job`, all above and below it; else every job that needs or is needed.
    public static func part(of graph: DependencyGraph, around job: String?) throws -> Set<String> {
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

    /// Reads the status of the graph (around `job`) for `date` (a logical date) or `fire`; with neither, today's
    /// date in `defaultZone`.
    public static func read(
        _ db: Connection, around job: String?, date: String?, fire: Instant?, defaultZone: Zone
    ) throws -> GraphStatus {
        let deps = try JobStore.graph(db)
        let shown = try part(of: deps, around: job)
        let day = try date ?? defaultZone.logicalDate(JobStore.serverNow(db))
        if date != nil { _ = try TimeText.day(day, zone: defaultZone) }
        let order = (deps.order ?? deps.needs.keys.sorted()).filter(shown.contains)
        var depth: [String: Int] = [:]
        for j in order { depth[j] = (deps.needs[j] ?? []).compactMap { depth[$0] }.max().map { $0 + 1 } ?? 0 }
        var rows: [Row] = []
        for j in order {
            guard let found = try JobStore.get(db, j) else { continue }
            let runs = try RunQueue.latestAttempts(db, jobID: found.id!, date: fire == nil ? day : nil, fire: fire)
            rows.append(Row(job: j, depth: depth[j] ?? 0, runs: runs))
        }
        let unmet = try NeedsStore.unmet(db, runIDs: rows.flatMap { $0.runs.filter { $0.state == .waiting }.map(\.id) })
        return GraphStatus(date: fire == nil ? day : nil, fireTime: fire, rows: rows, unmet: unmet)
    }

    /// A row's runs as people read them: `2 succeeded, 1 waiting — waits for …`, or `no run`.
    public func summary(_ row: Row) -> String {
        let counts = Dictionary(grouping: row.runs, by: \.state).map { "\($0.value.count) \($0.key.rawValue)" }.sorted()
        var state = row.runs.isEmpty ? "no run" : counts.joined(separator: ", ")
        let waits = unmet.filter { u in row.runs.contains { $0.id == u.runID } }
        if let w = waits.first {
            state += " — waits for " + NeedsStore.waitText(w) + (waits.count > 1 ? " and \(waits.count - 1) more" : "")
        }
        return state
    }
}
