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
        // Kahn's algorithm with the free jobs in a min-heap: O((jobs + needs) log jobs)
        var unmet: [String: Int] = [:]
        var needers: [String: [String]] = [:]
        for (job, list) in needs {
            let known = Set(list.filter { needs[$0] != nil })
            unmet[job] = known.count
            for n in known { needers[n, default: []].append(job) }
        }
        var free = MinHeap(unmet.filter { $0.value == 0 }.map(\.key))
        var out: [String] = []
        out.reserveCapacity(needs.count)
        while let next = free.pop() {
            out.append(next)
            for j in needers[next] ?? [] {
                unmet[j]! -= 1
                if unmet[j] == 0 { free.push(j) }
            }
        }
        return out.count == needs.count ? out : nil
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

/// A binary min-heap of names (the free jobs of `order`, smallest name first).
private struct MinHeap {
    private var items: [String] = []

    init(_ names: [String]) { for n in names { push(n) } }

    mutating func push(_ name: String) {
        items.append(name)
        var i = items.count - 1
        while i > 0, items[(i - 1) / 2] > items[i] {
            items.swapAt(i, (i - 1) / 2)
            i = (i - 1) / 2
        }
    }

    mutating func pop() -> String? {
        guard let top = items.first else { return nil }
        let last = items.removeLast()
        guard !items.isEmpty else { return top }
        items[0] = last
        var i = 0
        while true {
            let (l, r) = (2 * i + 1, 2 * i + 2)
            var m = i
            if l < items.count, items[l] < items[m] { m = l }
            if r < items.count, items[r] < items[m] { m = r }
            if m == i { return top }
            items.swapAt(i, m)
            i = m
        }
    }
}
