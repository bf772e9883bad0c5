/// The graph of `needs` between jobs, decided purely from each job's list:
/// which needs name no job, whether a change would close a cycle (and which),
/// what lies upstream and downstream of a job, and an order in which every
/// job comes after the jobs it needs.
public struct DependencyGraph: Sendable, Equatable {
    /// Each job's needs, by job name.
    public let needs: [String: [String]]

    public init(_ needs: [String: [String]]) { self.needs = needs }

    /// `(job, need)` pairs whose need names no job, sorted.
    public var unknownNeeds: [(job: String, need: String)] {
        needs.keys.sorted().flatMap { job in
            needs[job]!.filter { needs[$0] == nil }.map { (job: job, need: $0) }
        }
    }

    /// A cycle as the path that closes it, first job repeated at the end
    /// (`["load", "clean", "load"]`; a job needing itself: `["a", "a"]`), or
    /// nil when the graph is acyclic. Deterministic: jobs and needs are
    /// visited in name order.
    public var cycle: [String]? {
        var state: [String: Bool] = [:]  // false: on the current path, true: done
        var path: [String] = []
        func visit(_ job: String) -> [String]? {
            if let done = state[job] {
                if done { return nil }
                return Array(path[path.firstIndex(of: job)!...]) + [job]
            }
            state[job] = false
            path.append(job)
            for need in (needs[job] ?? []).sorted() where needs[need] != nil {
                if let c = visit(need) { return c }
            }
            path.removeLast()
            state[job] = true
            return nil
        }
        for job in needs.keys.sorted() {
            if let c = visit(job) { return c }
        }
        return nil
    }

    /// The cycle written as in the refusal: `load → clean → load`.
    public static func text(_ cycle: [String]) -> String { cycle.joined(separator: " → ") }

    /// The jobs `job` needs, directly or through others, sorted.
    public func upstream(of job: String) -> [String] { closure(from: job, next: { needs[$0] ?? [] }) }

    /// The jobs that need `job`, directly or through others, sorted.
    public func downstream(of job: String) -> [String] {
        var needers: [String: [String]] = [:]
        for (j, list) in needs { for n in list { needers[n, default: []].append(j) } }
        return closure(from: job, next: { needers[$0] ?? [] })
    }

    /// Every job after all of the jobs it needs; among jobs free to go, by
    /// name. Nil for a graph with a cycle.
    public var order: [String]? {
        var waiting = needs.mapValues { Set($0.filter { needs[$0] != nil }) }
        var out: [String] = []
        while !waiting.isEmpty {
            guard let next = waiting.filter({ $0.value.isEmpty }).keys.min() else { return nil }
            out.append(next)
            waiting[next] = nil
            for k in waiting.keys { waiting[k]!.remove(next) }
        }
        return out
    }

    private func closure(from job: String, next: (String) -> [String]) -> [String] {
        var seen: Set<String> = []
        var stack = next(job)
        while let j = stack.popLast() {
            guard j != job, seen.insert(j).inserted else { continue }
            stack += next(j)
        }
        return seen.sorted()
    }
}
