import MariaDB
import OctoCore
import OctoTime
import TestSupport
import Testing

#if canImport(Glibc)
    import Glibc
#endif

/// `octo sh metrics` end to end: a history made by real runs (succeeded,
/// failed, timeout, lost, skipped, cancelled), the output checked by
/// promtool, every counter compared with what `runs` says, and the counters
/// unchanged after the monitor purges that history.
@Suite(.database, .bounded)
struct MetricsTests {
    /// `name{labels} value` lines of an exposition, by `name{labels}`.
    static func samples(_ text: String) -> [String: Double] {
        var out: [String: Double] = [:]
        for line in text.split(separator: "\n") where !line.hasPrefix("#") {
            guard let space = line.lastIndex(of: " ") else { continue }
            let v = line[line.index(after: space)...]
            out[String(line[..<space])] = v == "+Inf" ? .infinity : Double(v)
        }
        return out
    }

    func octo(_ env: [String: String], _ args: String...) async throws -> OctoBinary.Result {
        try await OctoBinary.run(args, environment: env)
    }

    func metrics(_ env: [String: String]) async throws -> String {
        let r = try await octo(env, "sh", "metrics")
        #expect(r.status == 0, "\(r.stderr)")
        return r.stdout
    }

    /// promtool (Debian's prometheus package) accepts the text; under CI its absence is a failure.
    func checkWithPromtool(_ text: String) async throws {
        let dir = TemporaryDirectory()
        defer { dir.remove() }
        let file = dir.write("octo.prom", text)
        let r = try await Shell.run("command -v promtool >/dev/null || exit 99; promtool check metrics < '\(file)'")
        if r.status == 99 {
            Issue.record("promtool is missing: apt-get install prometheus (scripts/test installs it)")
            return
        }
        #expect(r.status == 0, "promtool: \(r.stdout) \(r.stderr)")
    }

    @Test func countersMatchTheRunsAndSurviveThePurgeOfHistory() async throws {
        try await TestDatabase.withInitializedOcto { db, env, _ in
            // w1 registers once and must still be up at the end, however long a loaded machine takes
            #expect(try db.execute("UPDATE settings SET value = '1h' WHERE name = 'machine_ttl'") == 1)
            for (name, command, extra) in [
                ("ok", "true", [String]()), ("bad", "exit 3", ["--schedule", "0 0 1 1 *"]),
                ("slow", "sleep 60", ["--timeout", "1s"]),
                ("ghost", "true", []), ("late", "true", ["--schedule", "0 0 1 1 *", "--misfire", "skip"]),
                ("gone", "true", [])
            ] {
                let r = try await OctoBinary.run(
                    ["sh", "add", name, "--command", command] + extra, environment: env)
                #expect(r.status == 0, "\(r.stderr)")
            }
            _ = try await octo(env, "register")
            // succeeded ×2, failed, timeout: run here, to the end
            for job in ["ok", "ok", "bad", "slow"] { _ = try await octo(env, "sh", "run", job, "--here", "--wait") }
            // lost: claimed by a machine that then vanished (a lease of one second, never renewed)
            _ = try await octo(env, "sh", "run", "ghost")
            let claimed = try RunQueue.claim(db, machine: "w1", limit: 1, lease: 1)
            #expect(claimed.count == 1)
            #expect(
                try await Processes.waitUntil(seconds: 120) {
                    try db.query("SELECT lease_expires_at < NOW(6) AS gone FROM runs WHERE job_name = 'ghost'").first!
                        .decode("gone", as: Bool.self)
                })
            _ = try await octo(env, "monitor")
            // skipped: a fire missed by ten minutes under misfire skip (a yearly schedule: no later fire is due,
            // whatever the time of day the test runs at)
            try db.execute("UPDATE jobs SET next_fire_at = NOW(6) - INTERVAL 10 MINUTE WHERE name = 'late'")
            _ = try await octo(env, "produce")
            // cancelled: a queued run killed; another one cancelled by removing its job, which comes back
            _ = try await octo(env, "sh", "run", "bad")
            _ = try await octo(env, "sh", "kill", "bad")
            _ = try await octo(env, "sh", "run", "gone")
            _ = try await octo(env, "sh", "rm", "gone")
            _ = try await octo(env, "sh", "add", "gone", "--command", "true")
            // gauges: one queued run, one paused job
            _ = try await octo(env, "sh", "run", "ok")
            _ = try await octo(env, "sh", "pause", "bad")

            let text = try await metrics(env)
            try await checkWithPromtool(text)
            let json = try await octo(env, "sh", "metrics", "--json")
            #expect(json.status == 2 && json.stdout.isEmpty && json.stderr.contains("--json"), "\(json.stderr)")
            let m = Self.samples(text)
            // every counter equals what runs says
            var expected: [String: Double] = [:]
            for row in try db.query(
                "SELECT job_name, state, COUNT(*) AS n FROM runs WHERE state NOT IN ('queued', 'running') GROUP BY job_name, state"
            ).rows {
                let key =
                    "octo_job_runs_total{job=\"\(try row.decode("job_name", as: String.self))\",state=\"\(try row.decode("state", as: String.self))\"}"
                expected[key] = Double(try row.decode("n", as: Int64.self))
            }
            let counted = m.filter { $0.key.hasPrefix("octo_job_runs_total") && $0.value > 0 }
            #expect(counted == expected)
            #expect(
                Set(expected.keys.map { $0.split(separator: "state=")[1] }) == [
                    "\"succeeded\"}", "\"failed\"}", "\"timeout\"}", "\"lost\"}", "\"skipped\"}", "\"cancelled\"}"
                ], "the history has every final state")
            #expect(m["octo_job_runs_total{job=\"ok\",state=\"succeeded\"}"] == 2)
            #expect(m["octo_job_runs_total{job=\"ok\",state=\"failed\"}"] == 0)
            #expect(m["octo_job_runs_total{job=\"gone\",state=\"cancelled\"}"] == 1, "a removed job's counters resume")
            // the histogram: runs that started, their total duration
            let started = try db.query(
                """
                SELECT COUNT(*) AS n, SUM(TIMESTAMPDIFF(MICROSECOND, started_at, ended_at)) AS us FROM runs
                WHERE job_name = 'slow' AND started_at IS NOT NULL AND ended_at IS NOT NULL
                """
            ).first!
            #expect(
                m["octo_job_duration_seconds_count{job=\"slow\"}"] == Double(try started.decode("n", as: Int64.self)))
            let sum = Double(try started.decode("us", as: Int64.self)) / 1e6
            #expect(abs((m["octo_job_duration_seconds_sum{job=\"slow\"}"] ?? 0) - sum) < 1e-5)
            #expect(m["octo_job_duration_seconds_bucket{job=\"slow\",le=\"1\"}"] == 0, "a timeout of 1s runs past 1s")
            #expect(m["octo_job_duration_seconds_bucket{job=\"slow\",le=\"+Inf\"}"] == 1)
            #expect(m["octo_job_duration_seconds_count{job=\"late\"}"] == 0, "a skipped run has no duration")
            // gauges
            #expect(m["octo_job_queued{job=\"ok\"}"] == 1 && m["octo_queue_depth"] == 1)
            #expect(m["octo_job_paused{job=\"bad\"}"] == 1 && m["octo_job_paused{job=\"ok\"}"] == 0)
            #expect(m["octo_job_next_fire_timestamp_seconds{job=\"bad\"}"] == nil, "a paused job does not fire")
            #expect(m["octo_machine_up{machine=\"w1\"}"] == 1)
            let next = try JobStore.require(db, "late").nextFireAt!
            #expect(m["octo_job_next_fire_timestamp_seconds{job=\"late\"}"] == Double(next.secondsSinceEpoch))
            let lastOK: Instant = try db.query(
                "SELECT MAX(ended_at) AS t FROM runs WHERE job_name = 'ok' AND state = 'succeeded'"
            )
            .first!.decode("t")
            #expect(
                m["octo_job_last_success_timestamp_seconds{job=\"ok\"}"] == Double(lastOK.microseconds) / 1e6)
            let openFailed = try db.query(
                "SELECT COUNT(*) AS n FROM alerts WHERE kind = 'failed' AND state = 'pending'"
            )
            .first!.decode("n", as: Int64.self)
            #expect(openFailed > 0 && m["octo_alerts_open{kind=\"failed\"}"] == Double(openFailed))

            // the monitor purges the history (ended 40 days ago, run_retention 30d): counters stay
            let counters = text.split(separator: "\n").filter {
                $0.hasPrefix("octo_job_runs_total") || $0.hasPrefix("octo_job_duration_seconds")
                    || $0.hasPrefix("octo_job_last_")
            }
            try db.execute(
                "UPDATE runs SET ended_at = ended_at - INTERVAL 40 DAY, started_at = started_at - INTERVAL 40 DAY WHERE state NOT IN ('queued', 'running')"
            )
            _ = try await octo(env, "monitor")
            #expect(
                try db.query("SELECT COUNT(*) AS n FROM runs WHERE state <> 'queued'").first!.decode(
                    "n", as: Int64.self) == 0)
            let after = try await metrics(env).split(separator: "\n").filter {
                $0.hasPrefix("octo_job_runs_total") || $0.hasPrefix("octo_job_duration_seconds")
                    || $0.hasPrefix("octo_job_last_")
            }
            #expect(after == counters)
        }
    }

    @Test(arguments: [
        ("plain", "plain"), ("a\"b", "a\\\"b"), ("a\\b", "a\\\\b"), ("a\nb", "a\\nb"), ("日本", "日本")
    ])
    func labelValuesAreEscaped(_ raw: String, _ escaped: String) {
        var s = Metrics.Snapshot()
        s.machines = [Metrics.Machine(name: raw, up: true, slots: 2, slotsInUse: 1)]
        #expect(Metrics.render(s).contains("octo_machine_slots{machine=\"\(escaped)\"} 2\n"))
    }

    @Test func theHistogramIsCumulativeWithSumAndCount() {
        var j = Metrics.Job(name: "j")
        j.durationBuckets = [0: 2, 3: 1, Metrics.buckets.count: 4]
        j.durationSum = 1234.5
        var s = Metrics.Snapshot()
        s.jobs = [j]
        let m = Self.samples(Metrics.render(s))
        #expect(m["octo_job_duration_seconds_bucket{job=\"j\",le=\"1\"}"] == 2)
        #expect(m["octo_job_duration_seconds_bucket{job=\"j\",le=\"15\"}"] == 2)
        #expect(m["octo_job_duration_seconds_bucket{job=\"j\",le=\"30\"}"] == 3)
        #expect(m["octo_job_duration_seconds_bucket{job=\"j\",le=\"86400\"}"] == 3)
        #expect(m["octo_job_duration_seconds_bucket{job=\"j\",le=\"+Inf\"}"] == 7)
        #expect(m["octo_job_duration_seconds_count{job=\"j\"}"] == 7)
        #expect(m["octo_job_duration_seconds_sum{job=\"j\"}"] == 1234.5)
    }
}
