import OctoTime

// The JSON shapes the CLI's --json prints and the dashboard's /api serves: one definition for both.

extension Job {
    /// The job as JSON: its attributes under their names, plus what octo keeps.
    public func json(defaultZone: String) -> [String: JSON] {
        var o: [String: JSON] = [:]
        for a in Job.attributes { o[a.name] = .string(a.get(self)) }
        o["max_parallel"] = .int(Int64(maxParallel))
        o["retries"] = .int(Int64(retries))
        o["paused"] = .bool(paused)
        o["ok_codes"] = .array(okCodes.map { .int(Int64($0)) })
        o["needs"] = .array(needs.map(JSON.string))
        o["effective_timezone"] = .string(timezone.isEmpty ? defaultZone : timezone)
        o["next_fire"] = nextFireAt.map { .string($0.iso8601) } ?? .null
        o["created_at"] = createdAt.map { .string($0.iso8601) } ?? .null
        o["created_by"] = .string(createdBy)
        o["updated_at"] = updatedAt.map { .string($0.iso8601) } ?? .null
        o["updated_by"] = .string(updatedBy)
        return o
    }
}

extension JobStore.Summary {
    /// A job as `octo sh ls --json` and `/api/jobs` show it: the job, and its last run.
    public func json(defaultZone: String) -> JSON {
        var o = job.json(defaultZone: defaultZone)
        o["last_state"] = lastState.map { .string($0.rawValue) } ?? .null
        o["last_duration_s"] = lastDuration.map(JSON.double) ?? .null
        o["last_started"] = lastStarted.map { .string($0.iso8601) } ?? .null
        return .object(o)
    }
}

extension Run {
    /// A run as `octo sh runs --json` and `/api/jobs/NAME/runs` show it; `waitsFor` says what a waiting run waits for.
    public func json(waitsFor: [String]) -> JSON {
        .object([
            "id": .int(id), "fire_time": .string(fireTime.iso8601),
            "logical_date": .string(logicalDate), "waits_for": .array(waitsFor.map(JSON.string)),
            "trigger": .string(trigger.rawValue),
            "attempt": .int(Int64(attempt)), "machine": machine.map(JSON.string) ?? .null,
            "state": .string(state.rawValue), "stopping": .bool(isStopping),
            "reason": .string(reason),
            "started_at": startedAt.map { .string($0.iso8601) } ?? .null,
            "ended_at": endedAt.map { .string($0.iso8601) } ?? .null,
            "duration": duration.map(JSON.double) ?? .null,
            "exit_code": exitCode.map { .int(Int64($0)) } ?? .null,
            "signal": exitSignal.map { .int(Int64($0)) } ?? .null,
            "cursor_in": cursorIn.map(JSON.string) ?? .null,
            "cursor_out": cursorOut.map(JSON.string) ?? .null
        ])
    }
}

extension NeedsStore {
    /// What a waiting run waits for, for people: `b for 2026-12-01T10:00:00Z (run 17 failed)`.
    public static func waitText(_ u: NeedsStore.Unmet) -> String {
        if u.afterRun { return "run \(u.latestRun.map(String.init) ?? "?") to end (backfill --max-parallel)" }
        let latest = u.latestRun.map { id in " (run \(id) \(u.latestState?.rawValue ?? "gone"))" } ?? " (no run yet)"
        return "\(u.upstream) for \(u.fireTime.fireTimeText)" + latest
    }
}
