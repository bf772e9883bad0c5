import MariaDB
import OctoTime

/// What `octo sh apply` does to make the jobs match a file: decided purely
/// from the file's entries and the jobs as they are (`JobStore.apply` reads
/// them under their locks and applies the plan in the same transaction).
public struct ApplyPlan: Sendable {
    /// A job the file changes, and how: each attribute's name, old and new text.
    public struct Update: Sendable {
        public var old: Job
        public var new: Job
        public var changes: [(attribute: String, old: String, new: String)]
    }

    public var creates: [Job] = []
    public var updates: [Update] = []
    public var removes: [String] = []
    public var unchanged = 0

    /// Attributes a job in the file leaves out take their defaults, except owner: kept, or `me` for a new job.
    public init(_ entries: [JobFile.Entry], existing jobs: [Job], prune: Bool, me: String) {
        let existing = Dictionary(jobs.map { ($0.name, $0) }, uniquingKeysWith: { a, _ in a })
        for e in entries {
            var job = e.job
            if let old = existing[job.name] {
                if !e.given.contains("owner") { job.owner = old.owner }
                let changes = Job.attributes.compactMap { a -> (String, String, String)? in
                    a.get(old) == a.get(job) ? nil : (a.name, a.get(old), a.get(job))
                }
                if changes.isEmpty {
                    unchanged += 1
                } else {
                    updates.append(Update(old: old, new: job, changes: changes))
                }
            } else {
                if !e.given.contains("owner") { job.owner = me }
                creates.append(job)
            }
        }
        let inFile = Set(entries.map(\.job.name))
        removes = prune ? existing.keys.filter { !inFile.contains($0) }.sorted() : []
    }
}

extension JobStore {
    /// Makes the jobs match `entries`: the plan is decided from the jobs as
    /// they are under their row locks and applied in the same transaction,
    /// so a concurrent edit or apply is never overwritten with what was read
    /// before it (a deadlock is retried); applies run one at a time
    /// (`exclusively`). `force` removes jobs even while a run of theirs runs.
    public static func apply(
        _ db: Connection, _ entries: [JobFile.Entry], prune: Bool, force: Bool, me: String, by who: String,
        defaultZone: String, database: String
    ) throws -> ApplyPlan {
        try db.retrying { db in
            try exclusively(db, database: database) {
                try db.transaction { () throws -> ApplyPlan in
                    let plan = ApplyPlan(entries, existing: try allLocked(db), prune: prune, me: me)
                    for r in plan.removes {
                        let old = try removeInTransaction(db, r, force: force, by: who, defaultZone: defaultZone)
                        try audit(db, who, r, Audit.changes(from: old, to: nil))
                    }
                    for u in plan.updates {
                        try update(db, u.new, previous: u.old, by: who, defaultZone: defaultZone)
                        try audit(db, who, u.old.name, Audit.changes(from: u.old, to: try require(db, u.new.name)))
                    }
                    for c in plan.creates {
                        let saved = try insert(db, c, by: who, defaultZone: defaultZone)
                        try audit(db, who, saved.name, Audit.changes(from: nil, to: saved))
                    }
                    // the file as a whole: jobs may need each other in any order, and a job it removes must
                    // not be needed by one it keeps
                    try checkGraph(db, removed: plan.removes)
                    // the file's jobs, and those that need them (a schedule the file removed may be theirs)
                    let named = Set(plan.updates.map(\.new.name) + plan.creates.map(\.name))
                    let needers = try graph(db).needs.filter { !$0.value.filter(named.contains).isEmpty }.map(\.key)
                    try checkNeedsTiming(db, names: Array(named) + needers)
                    return plan
                }
            }
        }
    }

    /// One `apply` audit row for one job the file changed.
    private static func audit(_ db: Connection, _ who: String, _ job: String, _ changes: [Audit.Change]) throws {
        try AuditStore.record(db, Audit.Record(.apply, by: who, job: job, changes: changes))
    }
}
