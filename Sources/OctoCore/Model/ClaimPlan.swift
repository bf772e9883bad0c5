/// Which queued runs a claim takes: a pure decision from the candidates (in
/// queue order), their jobs and what runs of those jobs are active, so the
/// concurrency rules of claiming are tested without a database
/// (`RunQueue.claim` reads the inputs under locks and applies the plan in the
/// same transaction).
public struct ClaimPlan: Sendable, Equatable {
    /// A queue row this machine may take.
    public struct Candidate: Sendable, Equatable {
        public var runID: Int64
        public var jobID: Int64
        /// The machine of a broadcast run; empty otherwise (see `Routing.series`).
        public var routeKey: String
        /// `octo sh run --force`: ignores the concurrency policy.
        public var forced: Bool

        public init(runID: Int64, jobID: Int64, routeKey: String = "", forced: Bool = false) {
            (self.runID, self.jobID, self.routeKey, self.forced) = (runID, jobID, routeKey, forced)
        }
    }

    /// The runs a concurrency policy counts together: a job's, or a broadcast job's on one machine.
    public struct Series: Hashable, Sendable {
        public var job: Int64
        public var routeKey: String

        public init(job: Int64, routeKey: String) { (self.job, self.routeKey) = (job, routeKey) }
    }

    /// A series' running runs, and its stopping ones (cancelled, the process group not yet seen gone).
    public struct Active: Sendable, Equatable {
        public var running = 0
        public var stopping = 0

        public init(running: Int = 0, stopping: Int = 0) { (self.running, self.stopping) = (running, stopping) }
    }

    /// Runs to start, in queue order.
    public var take: [(runID: Int64, job: Job)] = []
    /// Runs of `forbid` jobs that found one running: skipped if they are scheduled (not manual) runs.
    public var skipIfScheduled: [Int64] = []

    /// Takes candidates in order while `free` slots last. A run whose series
    /// already has as many active runs as its job allows (`max_parallel` with
    /// `allow`, else 1; a stopping run counts) waits for its turn — unless
    /// forced; one of a `forbid` job that finds one *running* is skipped
    /// instead. A candidate whose job is gone is left alone.
    public static func plan(
        _ candidates: [Candidate], jobs: [Int64: Job], active: [Series: Active], free: Int
    ) -> ClaimPlan {
        var plan = ClaimPlan()
        var active = active
        for c in candidates where plan.take.count < free {
            guard let job = jobs[c.jobID] else { continue }
            let cap = job.effectiveConcurrency == .allow ? max(1, job.maxParallel) : 1
            let series = Series(job: c.jobID, routeKey: c.routeKey)
            let now = active[series] ?? Active()
            if !c.forced, now.running + now.stopping >= cap {
                if now.running >= cap, job.effectiveConcurrency == .forbid { plan.skipIfScheduled.append(c.runID) }
                continue
            }
            plan.take.append((c.runID, job))
            active[series] = Active(running: now.running + 1, stopping: now.stopping)
        }
        return plan
    }

    public static func == (a: ClaimPlan, b: ClaimPlan) -> Bool {
        a.take.map(\.runID) == b.take.map(\.runID) && a.skipIfScheduled == b.skipIfScheduled
    }
}
