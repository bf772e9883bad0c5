import OctoTime

extension NeedsStore.Graph {
    /// A job's fires as `--fire T` or `--date D` select them: `T` must be a
    /// fire of the job's schedule (any instant for a manual-only job); `D`
    /// means every fire on that local date (none for a manual-only job).
    public func fires(of job: Job, fire: Instant?, date: String?) throws(OctoError) -> [Instant] {
        guard let (schedule, zone) = timing(of: job) else {
            throw OctoError.usage("job '\(job.name)' has a schedule or time zone octo cannot read")
        }
        if let fire {
            guard schedule.isManual || schedule.next(after: fire - .microseconds(1), in: zone) == fire else {
                let near = schedule.next(after: fire, in: zone).map { "; its next fire after it is \($0.fireTimeText)" }
                throw OctoError.usage(
                    "\(fire.fireTimeText) is not a fire of job '\(job.name)' (schedule \(schedule.text))" + (near ?? "")
                )
            }
            return [fire]
        }
        guard let date else { return [] }
        let day = try TimeText.day(date, zone: (try? job.zone(default: defaultZone)) ?? zone)
        return try fires(of: job, schedule, in: zone, from: day.start, before: day.end, range: "on \(date)")
    }

    /// A job's fires from local date `from` to local date `to`, both included (`backfill`).
    public func fires(of job: Job, fromDate from: String, toDate to: String) throws(OctoError) -> [Instant] {
        guard let (schedule, zone) = timing(of: job) else {
            throw OctoError.usage("job '\(job.name)' has a schedule or time zone octo cannot read")
        }
        let own = (try? job.zone(default: defaultZone)) ?? zone
        let (start, end) = (try TimeText.day(from, zone: own).start, try TimeText.day(to, zone: own).end)
        guard start < end else { throw OctoError.invalid("to", to, expected: "a date on or after --from \(from)") }
        return try fires(of: job, schedule, in: zone, from: start, before: end, range: "from \(from) to \(to)")
    }

    /// At most this many fires per command (a minutely job over a year has 525,600); a range with more is
    /// refused, never cut short.
    public static let maximumFires = 10_000

    private func fires(
        of job: Job, _ schedule: Schedule, in zone: Zone, from start: Instant, before end: Instant, range: String
    ) throws(OctoError) -> [Instant] {
        guard !schedule.isManual else { return [] }
        var out: [Instant] = []
        var t = start - .microseconds(1)
        while let n = schedule.next(after: t, in: zone), n < end {
            guard out.count < Self.maximumFires else {
                throw OctoError.usage(
                    "job '\(job.name)' fires more than \(Self.maximumFires) times \(range); "
                        + "one command takes at most \(Self.maximumFires) fires: split the range")
            }
            out.append(n)
            t = n
        }
        return out
    }

    /// What `octo sh run JOB` records for `fires`, in order: with `upstream`,
    /// first a new run of every job JOB needs (transitively) for the fires
    /// JOB's runs need of it; then JOB's; with `downstream`, a run of every
    /// job below JOB (transitively) for each of its fires that needs one of
    /// the new runs — each waiting for the new runs it needs.
    public func rerun(_ job: Job, fires: [Instant], upstream: Bool, downstream: Bool) -> [(job: Job, fire: Instant)] {
        var picked: [String: Set<Instant>] = [job.name: Set(fires)]
        if upstream {
            var stack = fires.map { (job, $0) }
            while let (j, t) = stack.popLast() {
                for (up, ups) in needs(of: j, at: t) {
                    for f in ups where picked[up.name, default: []].insert(f).inserted { stack.append((up, f)) }
                }
            }
        }
        if downstream {
            let below = dependencies.downstream(of: job.name).compactMap { jobs[$0] }
            for d in ordered(below) {
                picked[d.name] = Set(firesNeedingPicked(d, picked))
            }
        }
        var out: [(job: Job, fire: Instant)] = []
        for j in ordered(picked.keys.compactMap { jobs[$0] }) {
            out += picked[j.name]!.sorted().map { (j, $0) }
        }
        return out
    }

    /// The fires of `d` whose needs include one of the picked (job, fire) pairs: from each picked fire of a job
    /// it needs, d's fires at or after it for as long as they need it (at most 1,000 after each).
    private func firesNeedingPicked(_ d: Job, _ picked: [String: Set<Instant>]) -> [Instant] {
        guard let (schedule, zone) = timing(of: d) else { return [] }
        var out: Set<Instant> = []
        for up in d.needs {
            for f in picked[up] ?? [] {
                if schedule.isManual {
                    out.insert(f)
                    continue
                }
                var t = f - .microseconds(1)
                var steps = 0
                while let n = schedule.next(after: t, in: zone), steps < 1000 {
                    guard needs(of: d, at: n).contains(where: { $0.upstream.name == up && $0.fires.contains(f) })
                    else { break }
                    out.insert(n)
                    t = n
                    steps += 1
                }
            }
        }
        return out.sorted()
    }
}
