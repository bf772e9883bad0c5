import MariaDB
import OctoTime

/// A machine that may get new work: active, and seen within `machine_ttl`.
public struct LiveMachine: Sendable, Equatable {
    public var name: String
    public var groups: [String]
    public var unixUser: String
    public var slots: Int
    public var cpus: Int
    public var load1: Double
    /// Runs running on it now, or queued for it (assigned, not yet claimed).
    public var running: Int

    public init(
        name: String, groups: [String] = [], unixUser: String = "", slots: Int = 1, cpus: Int = 1,
        load1: Double = 0, running: Int = 0
    ) {
        (self.name, self.groups, self.unixUser, self.slots, self.cpus, self.load1, self.running) =
            (name, groups, unixUser, slots, cpus, load1, running)
    }

    public var freeSlots: Int { max(0, slots - running) }
}

/// Where a queued run goes: decided when it is queued, redone when its
/// machine goes stale before claiming it.
public enum Routing {
    /// One queued run's place: an assigned machine (nil: any eligible worker
    /// claims it) and, for broadcasts, the machine it is for.
    public struct Route: Sendable, Equatable {
        public var machine: String?
        public var routeKey: String
        public init(machine: String?, routeKey: String = "") { (self.machine, self.routeKey) = (machine, routeKey) }
        public static let anyone = Route(machine: nil)
    }

    /// `routes` by route key, in key order: the series a job's concurrency
    /// policy applies to. A broadcast (`strategy all`) job has one series per
    /// machine — its run on one machine never holds back, skips or replaces
    /// its run on another; any other job is one series (route key "").
    public static func series(_ routes: [Route]) -> [(routeKey: String, routes: [Route])] {
        Dictionary(grouping: routes, by: \.routeKey).sorted { $0.key < $1.key }.map { ($0.key, $0.value) }
    }

    /// True if `machine` may run `job`: its user matches (or the job has
    /// none) and it is in the job's target (`any`, a machine list, `group:NAME`).
    public static func eligible(_ machine: LiveMachine, user: String, target: String) -> Bool {
        guard user.isEmpty || user == machine.unixUser else { return false }
        return targets(target, name: machine.name, groups: machine.groups)
    }

    /// Why `machine` (in `groups`, its octo running as `user`) may not run
    /// `job`, in one line; nil when it may. `sh run --on` and `--here` refuse
    /// with it, the claim applies the same rule in SQL.
    public static func refusal(job: Job, machine: String, groups: [String], user: String) -> String? {
        if !job.user.isEmpty && job.user != user {
            return
                "job \(job.name) runs as user '\(job.user.quotedForMessage)' and octo on \(machine) runs as '\(user.quotedForMessage)'"
        }
        if !targets(job.target, name: machine, groups: groups) {
            return "machine \(machine) is not in job \(job.name)'s target '\(job.target.quotedForMessage)'"
        }
        return nil
    }

    /// The target rule alone, as the claim query applies it in SQL.
    public static func targets(_ target: String, name: String, groups: [String]) -> Bool {
        if target == "any" { return true }
        if target.hasPrefix("group:") { return groups.contains(String(target.dropFirst(6))) }
        return target.split(separator: ",").contains { $0 == name }
    }

    /// The routes for one fire of `job` over `live` machines (sorted by name):
    /// - `any`: unassigned, whichever eligible worker claims first;
    /// - `first`: the first live machine in the target's listed order (by name for `any` and groups);
    /// - `random`: a random eligible machine;
    /// - `least-loaded`: free slots first, then the lowest load per CPU;
    /// - `all`: one run per eligible live machine.
    /// With no eligible live machine the run is left unassigned (the monitor
    /// alerts on runs nobody claims), a broadcast included.
    public static func routes(for job: Job, live: [LiveMachine]) -> [Route] {
        let eligible = live.filter { Routing.eligible($0, user: job.user, target: job.target) }
        guard !eligible.isEmpty else { return [.anyone] }
        switch job.strategy {
        case .first:
            if job.target != "any", !job.target.hasPrefix("group:") {
                for name in job.target.split(separator: ",") {
                    if let m = eligible.first(where: { $0.name == name }) { return [Route(machine: m.name)] }
                }
            }
            return [Route(machine: eligible[0].name)]
        case .random:
            return [Route(machine: eligible.randomElement()!.name)]
        case .leastLoaded:
            let best = eligible.min { a, b in
                let fa = a.freeSlots > 0 ? 0 : 1
                let fb = b.freeSlots > 0 ? 0 : 1
                if fa != fb { return fa < fb }
                let la = a.load1 / Double(max(1, a.cpus))
                let lb = b.load1 / Double(max(1, b.cpus))
                if la != lb { return la < lb }
                return a.name < b.name
            }!
            return [Route(machine: best.name)]
        case .all:
            return eligible.map { Route(machine: $0.name, routeKey: $0.name) }
        case .any:
            return [.anyone]
        }
    }
}
