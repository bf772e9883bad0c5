import MariaDB
import OctoTime

/// What `octo produce` does with one due job: a pure plan from the job, the
/// server's now and what is queued or running, so that misfire and
/// concurrency rules can be tested without a database and `--dry-run` shows
/// exactly what a real run would write.
public struct ProductionPlan: Sendable, Equatable {
    public struct Fire: Sendable, Equatable {
        public var fireTime: Instant
        public var trigger: Run.Trigger
    }
    public struct Skip: Sendable, Equatable {
        /// The (first) fire time the skipped row is recorded at.
        public var fireTime: Instant
        public var reason: String
    }

    /// Fires to queue, oldest first.
    public var queue: [Fire] = []
    /// Skipped fires, each recorded as one `skipped` run.
    public var skip: [Skip] = []
    /// `replace`: the job's queued and running runs are cancelled first.
    public var cancelActive = false
    /// The job's next fire after now (nil: no more fires).
    public var nextFire: Instant?

    /// Missed fires beyond this are not all queued by the `all` policy.
    public static let catchUpCap = 100
    /// Fires counted one by one after a very long outage, at most.
    static let enumerationLimit = 100_000

    /// Plans job's production at `now`.
    /// - `activeRuns`: the job's runs queued or running now.
    /// - `misfireThreshold`: fires later than this are missed; earlier ones are on time.
    ///
    /// Misfire: `once` queues the latest missed fire (unless an on-time fire
    /// supersedes it), `skip` queues only on-time fires, `all` queues every
    /// missed fire up to the last 100 (oldest first). Missed fires not queued
    /// are recorded as one `skipped` run at the first of them, its reason
    /// naming how many and which. Concurrency: `forbid` records a fire that
    /// finds a run queued or running as skipped; `replace` cancels the active
    /// runs and queues only the latest fire; `queue` and `allow` queue every
    /// fire (claims enforce how many run at once).
    public static func plan(
        schedule: Schedule, zone: Zone, firstDue: Instant, now: Instant, misfire: Job.Misfire,
        concurrency: Job.Concurrency, activeRuns: Int, misfireThreshold: Int64
    ) -> ProductionPlan {
        var plan = ProductionPlan()
        plan.nextFire = schedule.next(after: now, in: zone)
        let (fires, overflow) = dueFires(schedule: schedule, zone: zone, from: firstDue, to: now)
        guard !fires.isEmpty else { return plan }
        let threshold = Duration.seconds(misfireThreshold)
        let (queued, notQueued) = applyMisfire(
            misfire, onTime: fires.filter { now - $0 < threshold }, missed: fires.filter { now - $0 >= threshold })
        if let first = notQueued.first, let last = notQueued.last {
            let count = overflow ? "over \(notQueued.count)" : "\(notQueued.count)"
            let span =
                notQueued.count == 1 ? "at \(first.fireTimeText)" : "from \(first.fireTimeText) to \(last.fireTimeText)"
            plan.skip.append(
                Skip(fireTime: first, reason: "\(count) missed fire(s) \(span) not run (misfire \(misfire.rawValue))"))
        }
        plan.applyConcurrency(concurrency, to: queued, activeRuns: activeRuns)
        plan.skip.sort { $0.fireTime < $1.fireTime }
        return plan
    }

    /// The fires from `first` up to `now`, at most `enumerationLimit` (then `overflow`).
    static func dueFires(schedule: Schedule, zone: Zone, from first: Instant, to now: Instant) -> (
        fires: [Instant], overflow: Bool
    ) {
        var fires: [Instant] = []
        var t = first
        while t <= now {
            if fires.count == enumerationLimit { return (fires, true) }
            fires.append(t)
            guard let n = schedule.next(after: t, in: zone) else { break }
            t = n
        }
        return (fires, false)
    }

    /// Which fires are queued (oldest first) and which missed ones are not.
    static func applyMisfire(_ misfire: Job.Misfire, onTime: [Instant], missed: [Instant]) -> (
        queued: [Fire], notQueued: [Instant]
    ) {
        let onTimeFires = onTime.map { Fire(fireTime: $0, trigger: .schedule) }
        guard let latest = missed.last else { return (onTimeFires, []) }
        switch misfire {
        case .skip:
            return (onTimeFires, missed)
        case .all:
            let kept = missed.suffix(catchUpCap)
            return (
                kept.map { Fire(fireTime: $0, trigger: .catchup) } + onTimeFires, Array(missed.dropLast(kept.count))
            )
        case .once:
            guard onTime.isEmpty else { return (onTimeFires, missed) }
            return ([Fire(fireTime: latest, trigger: .catchup)], Array(missed.dropLast()))
        }
    }

    /// Queues `fires` as the job's concurrency policy allows.
    mutating func applyConcurrency(_ concurrency: Job.Concurrency, to fires: [Fire], activeRuns: Int) {
        switch concurrency {
        case .forbid:
            var active = activeRuns
            for f in fires {
                if active > 0 {
                    skip.append(
                        Skip(
                            fireTime: f.fireTime, reason: "a run of this job was queued or running (concurrency forbid)"
                        ))
                } else {
                    queue.append(f)
                    active += 1
                }
            }
        case .replace:
            guard let latest = fires.last else { return }
            for f in fires.dropLast() {
                skip.append(
                    Skip(
                        fireTime: f.fireTime,
                        reason: "replaced by the fire at \(latest.fireTime.fireTimeText) (concurrency replace)"))
            }
            cancelActive = activeRuns > 0
            queue = [latest]
        case .queue, .allow:
            queue = fires
        }
    }
}
