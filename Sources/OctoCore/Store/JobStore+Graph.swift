import MariaDB

/// The graph of `needs`, kept acyclic and without unknown names by every
/// change to the jobs: `add`, `edit`, `rm` and `apply` lock the graph first
/// (the `needs_graph` marker row, so two changes that each close half of a
/// cycle are checked one after the other), make their change, and check the
/// graph as it then is in the same transaction — a refusal rolls all of it
/// back.
extension JobStore {
    /// Locks the graph for the caller's transaction (before any job row).
    static func lockGraph(_ db: Connection) throws {
        _ = try db.query("SELECT value FROM markers WHERE name = 'needs_graph' FOR UPDATE")
    }

    /// True if some job has needs (one read of the jobs table, no join).
    static func anyNeeds(_ db: Connection) throws -> Bool {
        try db.query("SELECT 1 AS x FROM jobs WHERE needs <> '' LIMIT 1").first != nil
    }

    /// Every job's needs, by name, as the caller's transaction sees them.
    public static func graph(_ db: Connection) throws -> DependencyGraph {
        var needs: [String: [String]] = [:]
        for row in try db.query("SELECT name, needs FROM jobs").rows {
            needs[try row.decode("name")] = (try row.decode("needs", as: String.self)).split(separator: ",").map(
                String.init)
        }
        return DependencyGraph(needs)
    }

    /// Refuses (a usage error naming the value) a graph with a need that names
    /// no job or with a cycle. `removed`: the jobs just removed; a needer of
    /// one is named as such.
    static func checkGraph(_ db: Connection, removed: [String] = [], changed: String? = nil) throws {
        let graph = try graph(db)
        let unknown = graph.unknownNeeds
        if let removed = removed.first(where: { r in unknown.contains { $0.need == r } }) {
            let needers = unknown.filter { $0.need == removed }.map(\.job)
            throw OctoError.usage(
                "job '\(removed)' is needed by \(needers.joined(separator: ", ")); "
                    + "change their needs first, or use --force (which removes it from them)")
        }
        if let u = unknown.first {
            throw OctoError.usage(
                "invalid needs '\(graph.needs[u.job]!.joined(separator: ",").quotedForMessage)' of job '\(u.job)': "
                    + "no job named '\(u.need.quotedForMessage)'")
        }
        if var cycle = graph.cycle {
            // named from the job the change is about: `load → clean → load` for an edit of load
            if let changed, cycle.count > 2, let i = cycle.dropLast().firstIndex(of: changed) {
                cycle = Array(cycle[i..<(cycle.count - 1)] + cycle[..<i]) + [changed]
            }
            if cycle.count == 2 {
                throw OctoError.usage("invalid needs of job '\(cycle[0])': a job cannot need itself")
            }
            throw OctoError.usage("invalid needs: that would close a cycle: \(DependencyGraph.text(cycle))")
        }
    }

    /// Refuses (a usage error) a job of `names` that has a schedule of its own and needs a job whose runs are
    /// manual (no schedule, no needs — or following such a job): a manual run is for the moment it is made,
    /// never one of the scheduled job's fires, so every run of it would wait until `needs_timeout` and be
    /// skipped. Only the jobs a change names are checked (an older graph is not refused whole).
    static func checkNeedsTiming(_ db: Connection, names: [String]) throws {
        guard !names.isEmpty else { return }
        var jobs: [String: (schedule: String, needs: [String])] = [:]
        for row in try db.query("SELECT name, schedule, needs FROM jobs").rows {
            jobs[try row.decode("name")] = (
                try row.decode("schedule"),
                (try row.decode("needs", as: String.self)).split(separator: ",").map(String.init)
            )
        }
        func manual(_ name: String, depth: Int = 0) -> Bool {
            guard let j = jobs[name], depth < 100 else { return false }
            if !j.schedule.isEmpty { return (try? Schedule(j.schedule))?.isManual ?? false }
            guard let first = j.needs.first else { return true }
            return manual(first, depth: depth + 1)
        }
        for name in names {
            guard let j = jobs[name], !j.schedule.isEmpty, (try? Schedule(j.schedule))?.isManual == false else {
                continue
            }
            if let m = j.needs.first(where: { manual($0) }) {
                throw OctoError.usage(
                    "invalid needs of job '\(name)': it has a schedule, and '\(m)' runs only when run by hand — "
                        + "its runs are for those moments, never for \(name)'s fires; give \(m) a schedule, or "
                        + "remove \(name)'s so that it follows \(m)")
            }
        }
    }

    /// `rm --force` of a job others need: it leaves their needs (an `edit`
    /// audit row each), and their waiting runs stop waiting for it (the next
    /// `produce` releases those whose other needs are met).
    static func dropNeed(_ db: Connection, _ removed: Job, by who: String, defaultZone: String) throws {
        let needers = try db.query(
            JobStore.selectJobs + " WHERE FIND_IN_SET(?, needs) > 0 ORDER BY id FOR UPDATE", [.text(removed.name)]
        ).rows.map(job(from:))
        for old in needers {
            var new = old
            new.needs.removeAll { $0 == removed.name }
            try update(db, new, previous: old, by: who, defaultZone: defaultZone)
            try AuditStore.record(
                db, Audit.Record(.edit, by: who, job: old.name, changes: Audit.changes(from: old, to: new)))
        }
        try NeedsStore.forget(db, upstreamID: removed.id!)
    }
}
