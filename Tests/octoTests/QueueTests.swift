import MariaDB
import OctoCore
import OctoTime
import TestSupport
import Testing

#if canImport(Glibc)
    import Glibc
#endif

/// `octo produce`, `octo consume` and `octo sh run/kill/runs` end to end:
/// the built binary, real jobs, several processes with distinct --machine names.
@Suite(.database, .bounded)
struct QueueTests {
    /// The start of the server's current minute and an hourly schedule firing
    /// at it: a job made due then has its next fire an hour later, however
    /// long a loaded machine takes past the end of this minute.
    func dueThisMinute(_ db: Connection) throws -> (at: String, schedule: String) {
        let row = try db.query("SELECT DATE_FORMAT(NOW(6), '%Y-%m-%d %H:%i:00') AS at, MINUTE(NOW(6)) AS m").first!
        return (try row.decode("at"), "\(try row.decode("m", as: Int.self)) * * * *")
    }

    // MARK: - Producing

    @Test func tenProducersQueueEachFireExactlyOnce() async throws {
        try await withInit { fresh, db in
            // every job is due at the start of the current minute (on time: within misfire_threshold)
            let due = try dueThisMinute(db)
            for i in 0..<200 { try addJob(db, "job\(i)", "true", ["schedule": due.schedule, "concurrency": "queue"]) }
            try db.execute("UPDATE jobs SET next_fire_at = ?", [.text(due.at)])
            let results = try await withThrowingTaskGroup(of: OctoBinary.Result.self) { group in
                for p in 0..<10 { group.addTask { try await octo(fresh, ["produce", "--machine", "p\(p)"]) } }
                return try await group.reduce(into: []) { $0.append($1) }
            }
            #expect(results.allSatisfy { $0.status == 0 }, "\(results.map(\.stderr))")
            let perFire = try db.query("SELECT job_id, fire_time, COUNT(*) AS n FROM runs GROUP BY job_id, fire_time")
                .rows
            #expect(perFire.count == 200)
            #expect(try perFire.allSatisfy { try $0.decode("n", as: Int.self) == 1 })
            #expect(try db.query("SELECT COUNT(*) AS n FROM queue").first!.decode("n", as: Int.self) == 200)
            #expect(
                try db.query("SELECT COUNT(*) AS n FROM jobs WHERE next_fire_at <= NOW(6)").first!.decode(
                    "n", as: Int.self) == 0)
            // and again: nothing is due any more
            #expect(try await octo(fresh, ["produce", "--json"]).stdout.contains("\"queued\":[]"))
        }
    }

    @Test func misfirePoliciesAfterAThreeHourOutage() async throws {
        try await withInit { fresh, db in
            let now = try JobStore.serverNow(db)
            // hourly at a minute half an hour away from now: exactly 3 fires fall in the outage
            let minute = (now.utc.minute + 30) % 60
            let schedule = try Schedule("\(minute) * * * *")
            let utcZone = try Zone.named("UTC")
            let first = try #require(schedule.next(after: now - .seconds(3 * 3600), in: utcZone))
            let fires = [first, first + .seconds(3600), first + .seconds(7200)]
            for policy in ["once", "skip", "all"] {
                try addJob(db, policy, "true", ["schedule": schedule.text, "misfire": policy, "concurrency": "queue"])
            }
            try addJob(db, "capped", "true", ["schedule": "* * * * *", "misfire": "all", "concurrency": "queue"])
            try db.execute("UPDATE jobs SET next_fire_at = ? WHERE name IN ('once', 'skip', 'all')", [.instant(first)])
            try db.execute(
                "UPDATE jobs SET next_fire_at = DATE_FORMAT(NOW(6) - INTERVAL 3 HOUR, '%Y-%m-%d %H:%i:00') WHERE name = 'capped'"
            )

            let dry = try await octo(fresh, ["produce", "--dry-run"])
            #expect(
                dry.status == 0 && dry.stdout.contains("would queue once fire \(fires[2].fireTimeText) (catchup)"),
                "\(dry.stdout)")
            #expect(
                try db.query("SELECT COUNT(*) AS n FROM runs").first!.decode("n", as: Int.self) == 0,
                "a dry run writes nothing")

            let r = try await octo(fresh, ["produce", "--machine", "p1"])
            #expect(r.status == 0, "\(r.stderr)")
            let once = try runs(db, "once")
            let skip = try runs(db, "skip")
            let all = try runs(db, "all")
            #expect(once.filter { $0.state == .queued }.map(\.fireTime) == [fires[2]])
            #expect(once.filter { $0.state == .queued }.allSatisfy { $0.trigger == .catchup })
            #expect(once.filter { $0.state == .skipped }.map(\.reason).first?.hasPrefix("2 missed fire(s)") == true)
            #expect(skip.filter { $0.state == .queued }.isEmpty)
            #expect(skip.filter { $0.state == .skipped }.map(\.reason).first?.hasPrefix("3 missed fire(s)") == true)
            #expect(all.filter { $0.state == .queued }.map(\.fireTime) == fires)
            #expect(all.filter { $0.state == .skipped }.isEmpty)
            for name in ["once", "skip", "all"] {
                #expect(try JobStore.get(db, name)?.nextFireAt == fires[2] + .seconds(3600))
            }
            let capped = try runs(db, "capped")
            let catchups = capped.filter { $0.trigger == .catchup }
            #expect(catchups.count == 100)
            let skipped = try #require(capped.first { $0.state == .skipped })
            #expect(catchups.allSatisfy { $0.fireTime > skipped.fireTime }, "the latest 100 missed fires are queued")
            #expect(capped.filter { $0.trigger == .schedule && $0.state == .queued }.count <= 1)
        }
    }

    // MARK: - Consuming

    @Test func fourConsumersDrainFiveHundredRunsExactlyOnce() async throws {
        try await withInit { fresh, db in
            let dir = TemporaryDirectory()
            defer { dir.remove() }
            for m in 1...4 { try await register(fresh, "c\(m)", ["--slots", "4"]) }
            var jobs: [Job] = []
            for i in 0..<10 {
                jobs.append(
                    try addJob(
                        db, "noop\(i)", "echo $OCTO_RUN_ID >> \(dir.path)/ran",
                        ["concurrency": "allow", "max_parallel": "50"]))
            }
            let fb = try addJob(
                db, "fb",
                "s=$(date +%s%N); sleep 0.05; echo $s $(date +%s%N) >> \(dir.path)/fb; echo $OCTO_RUN_ID >> \(dir.path)/ran"
            )
            let now = try JobStore.serverNow(db)
            var queued = 0
            for k in 0..<490 {
                if try RunQueue.enqueue(
                    db, job: jobs[k % 10], .init(fireTime: now + .microseconds(Int64(k)), trigger: .manual)) != nil
                {
                    queued += 1
                }
            }
            for k in 0..<10 {
                if try RunQueue.enqueue(db, job: fb, .init(fireTime: now + .microseconds(Int64(k)), trigger: .manual))
                    != nil
                {
                    queued += 1
                }
            }
            #expect(queued == 500)
            let results = try await withThrowingTaskGroup(of: OctoBinary.Result.self) { group in
                for m in 1...4 { group.addTask { try await octo(fresh, ["consume", "--machine", "c\(m)", "--wait"]) } }
                return try await group.reduce(into: []) { $0.append($1) }
            }
            #expect(results.allSatisfy { $0.status == 0 }, "\(results.map(\.stderr))")
            let ran = String(decoding: readFileBytes(dir.path + "/ran") ?? [], as: UTF8.self).split(separator: "\n")
            #expect(ran.count == 500, "every run executed exactly once")
            #expect(Set(ran).count == 500)
            let states = try db.query("SELECT state, COUNT(*) AS n FROM runs GROUP BY state").rows
            #expect(
                try states.map { "\(try $0.decode("state", as: String.self))=\(try $0.decode("n", as: Int.self))" } == [
                    "succeeded=500"
                ])
            let machines = try db.query("SELECT COUNT(DISTINCT machine) AS n FROM runs").first!.decode(
                "n", as: Int.self)
            #expect(machines >= 2, "the work was shared")
            // the forbid job's runs never overlapped, on any machine
            let intervals = String(decoding: readFileBytes(dir.path + "/fb") ?? [], as: UTF8.self).split(
                separator: "\n"
            )
            .map { $0.split(separator: " ").map { Int64($0)! } }.sorted { $0[0] < $1[0] }
            #expect(intervals.count == 10)
            for (a, b) in zip(intervals, intervals.dropFirst()) { #expect(a[1] <= b[0], "overlap: \(a) and \(b)") }
            #expect(try db.query("SELECT COUNT(*) AS n FROM queue").first!.decode("n", as: Int.self) == 0)
        }
    }

    @Test func exitCodesSignalsAcceptedCodesAndOutput() async throws {
        try await withInit { fresh, db in
            try await register(fresh, "w1", ["--slots", "8"])
            try addJob(db, "three", "echo out; echo err >&2; exit 3", ["ok_codes": "0,3"])
            try addJob(db, "four", "exit 4")
            try addJob(db, "signal", "kill -9 $$")
            try addJob(
                db, "env",
                "echo \"$OCTO_JOB|$OCTO_RUN_ID|$OCTO_ATTEMPT|$OCTO_FIRE_TIME|$OCTO_MACHINE|${OCTO_CURSOR}|${#OCTO_RUN_TOKEN}\""
            )
            for name in ["three", "four", "signal", "env"] {
                #expect(try await octo(fresh, ["sh", "run", name, "-q"]).status == 0)
            }
            let r = try await octo(fresh, ["consume", "--machine", "w1"])
            #expect(r.status == 1, "a failed run makes consume exit 1")
            #expect(r.stderr.contains("four failed: exit code 4 is not accepted"), "\(r.stderr)")
            let three = try #require(try runs(db, "three").first)
            #expect(three.state == .succeeded && three.exitCode == 3 && three.machine == "w1")
            let four = try #require(try runs(db, "four").first)
            #expect(four.state == .failed && four.exitCode == 4)
            let sig = try #require(try runs(db, "signal").first)
            #expect(sig.state == .failed && sig.exitSignal == 9 && sig.exitCode == nil)
            // output lines and the 100/120 markers, stderr as warn
            let lines = try db.query(
                "SELECT level, code, content FROM logs WHERE run_id = ? ORDER BY logged_at, seq", [.int(three.id)]
            ).rows
                .map {
                    "\(try $0.decode("level", as: String.self)) \(try $0.decode("code", as: Int?.self).map(String.init) ?? "-") \(try $0.decode("content", as: String.self))"
                }
            #expect(lines.count == 4)
            #expect(lines.first?.hasPrefix("info 100 start: run \(three.id) of three") == true)
            #expect(lines.contains("info - out") && lines.contains("warn - err"))
            #expect(lines.last?.hasPrefix("info 120 end: succeeded, exit 3") == true, "\(lines)")
            let env = try #require(try runs(db, "env").first)
            let envLine: String = try db.query(
                "SELECT content FROM logs WHERE run_id = ? AND code IS NULL", [.int(env.id)]
            ).first!.decode("content")
            #expect(envLine == "env|\(env.id)|1|\(env.fireTime.fireTimeText)|w1||32")
        }
    }

    /// One claim takes several runs of several jobs in one transaction (the
    /// statements work on the whole batch) and still keeps every limit: the
    /// machine's slots, `allow`'s maximum, `forbid` (a scheduled run behind a
    /// running one is skipped, a forced one goes ahead); each run gets its own
    /// token and cursor epoch.
    @Test func aClaimTakesABatchWithinEveryLimit() async throws {
        try await withInit { fresh, db in
            try await register(fresh, "w1", ["--slots", "8"])
            let wide = try addJob(db, "wide", "true", ["concurrency": "allow", "max_parallel": "3"])
            let solo = try addJob(db, "solo", "true", ["concurrency": "forbid"])
            let many = try addJob(db, "many", "true", ["concurrency": "allow", "max_parallel": "100"])
            let t0 = try JobStore.serverNow(db) - .seconds(3600)
            func queue(_ job: Job, _ k: Int, _ trigger: Run.Trigger = .schedule, forced: Bool = false) throws -> Int64 {
                var r = RunQueue.NewRun(fireTime: t0 + .seconds(Int64(k)), trigger: trigger)
                r.forced = forced
                r.notBefore = t0
                return try #require(try RunQueue.enqueue(db, job: job, r))
            }
            let wideIDs = try (0..<5).map { try queue(wide, $0) }
            let soloFirst = try queue(solo, 10)
            let soloSecond = try queue(solo, 11)
            let soloForced = try queue(solo, 12, .manual, forced: true)
            let manyIDs = try (20..<30).map { try queue(many, $0) }

            let claimed = try RunQueue.claim(db, machine: "w1", limit: 100, lease: 60)
            #expect(claimed.count == 8, "the machine's 8 slots")
            let ids = Set(claimed.map(\.run.id))
            #expect(
                ids == Set(wideIDs.prefix(3) + [soloFirst, soloForced] + manyIDs.prefix(3)),
                "\(claimed.map { ($0.run.jobName, $0.run.id) })")
            #expect(Set(claimed.map(\.token)).count == 8 && claimed.allSatisfy { $0.token.count == 32 })
            #expect(Set(claimed.compactMap(\.run.cursorEpoch)).count == 8)
            for c in claimed {
                let now = try #require(try RunQueue.get(db, c.run.id))
                #expect(
                    now.state == .running && now.leaseToken == c.token && now.machine == "w1" && c.job.id == now.jobID)
            }
            let second = try #require(try RunQueue.get(db, soloSecond))
            #expect(second.state == .skipped && second.reason.contains("forbid"))
            let queued = try db.query("SELECT run_id FROM queue ORDER BY run_id").rows.map {
                try $0.decode("run_id", as: Int64.self)
            }
            #expect(queued == Array(wideIDs.suffix(2)) + Array(manyIDs.suffix(7)))
            #expect(try RunQueue.claim(db, machine: "w1", limit: 100, lease: 60).isEmpty, "no slot left")
        }
    }

    @Test func maxLimitsTheClaims() async throws {
        try await withInit { fresh, db in
            try await register(fresh, "w1", ["--slots", "8"])
            try addJob(db, "m", "true", ["concurrency": "allow", "max_parallel": "10"])
            for _ in 0..<3 { #expect(try await octo(fresh, ["sh", "run", "m", "-q"]).status == 0) }
            #expect(try await octo(fresh, ["consume", "--machine", "w1", "--max", "2"]).status == 0)
            #expect(
                try runs(db, "m").map(\.state).sorted { $0.rawValue < $1.rawValue } == [.queued, .succeeded, .succeeded]
            )
        }
    }

    @Test func hostileCursorIsDataAndRunNowWaits() async throws {
        try await withInit { fresh, db in
            let dir = TemporaryDirectory()
            defer { dir.remove() }
            try await register(fresh, "w1")
            let hostile = "x'; touch \(dir.path)/pwned #$(touch \(dir.path)/pwned2)`touch \(dir.path)/pwned3`\"\\"
            try addJob(db, "cur", "printf '%s\\n' {cursor} \"{cursor}\" 'a{cursor}b'; exit 5")
            let r = try await octo(
                fresh, ["sh", "run", "cur", "--here", "--wait", "--machine", "w1", "--cursor", hostile])
            #expect(r.status == 5, "--wait exits with the job's code")
            #expect(r.lines == [hostile, hostile, "a\(hostile)b"])
            #expect(listDir(dir.path).isEmpty, "nothing the cursor says was executed")
            let run = try #require(try runs(db, "cur").first)
            #expect(run.cursorIn == hostile && run.trigger == .manual && run.state == .failed)
            // --wait without --here follows a run another machine executes
            try addJob(db, "hello", "echo hello from $OCTO_MACHINE")
            let follower = Task { try await octo(fresh, ["sh", "run", "hello", "--wait"]) }
            let queued = await Processes.waitUntil(seconds: 120) {
                (try? db.query("SELECT run_id FROM queue").rows.count) == 1
            }
            #expect(queued)
            if !queued { follower.cancel() }
            #expect(try await octo(fresh, ["consume", "--machine", "w1"]).status == 0)
            let f = try await follower.value
            #expect(f.status == 0 && f.lines == ["hello from w1"], "\(f.stdout) \(f.stderr)")
        }
    }

    func listDir(_ path: String) -> [String] {
        (try? ChildProcess.run(["ls", "-A", path])).map {
            String(decoding: $0.stdout, as: UTF8.self).split(separator: "\n").map(String.init)
        } ?? ["?"]
    }

    @Test func timeoutKillsTheWholeProcessGroup() async throws {
        try await withInit { fresh, db in
            let dir = TemporaryDirectory()
            defer { dir.remove() }
            try await register(fresh, "w1")
            try addJob(db, "slow", "sleep 300 & echo $! > \(dir.path)/grandchild; sleep 300", ["timeout": "5s"])
            #expect(try await octo(fresh, ["sh", "run", "slow", "-q"]).status == 0)
            let r = try await octo(fresh, ["consume", "--machine", "w1"])
            #expect(r.status == 1)
            let run = try #require(try runs(db, "slow").first)
            #expect(run.state == .timeout && run.exitSignal == 15, "\(run)")
            // killed at its timeout, far from its 300 s (the upper bound only tells the two apart on a loaded machine)
            #expect(try #require(run.duration) >= 5 && run.duration! < 250)
            let gc = try #require(
                pid_t(
                    String(decoding: readFileBytes(dir.path + "/grandchild") ?? [], as: UTF8.self).trimmingWhitespace())
            )
            #expect(Processes.isGone(gc), "the grandchild sleep died with its group")
        }
    }

    @Test func aRunThatTimedOutIsNotASuccessForWaitEvenIfTheJobExitedZero() async throws {
        try await withInit { fresh, db in
            try await register(fresh, "w1")
            // the job catches the timeout's SIGTERM and exits 0
            try addJob(db, "trapper", "trap 'exit 0' TERM; sleep 300 & wait", ["timeout": "2s"])
            let r = try await octo(fresh, ["sh", "run", "trapper", "--here", "--wait", "--machine", "w1"])
            let run = try #require(try runs(db, "trapper").first)
            #expect(run.state == .timeout && run.exitCode == 0, "\(run)")
            #expect(r.status == 1, "\(r.stdout) \(r.stderr)")
        }
    }

    @Test func aRunKilledAsItEndsByItselfIsStoppedAndHoldsNothingBack() async throws {
        try await withInit { fresh, db in
            try await register(fresh, "w1")
            // the job kills its own run and exits at once: consume sees the end before its next check of the kill
            try addJob(db, "quitter", "'\(OctoBinary.path)' sh kill \"$OCTO_RUN_ID\" -q && exit 0; exit 9")
            #expect(try await octo(fresh, ["sh", "run", "quitter", "-q"]).status == 0)
            _ = try await octo(fresh, ["consume", "--machine", "w1"])
            let run = try #require(try runs(db, "quitter").first)
            #expect(run.state == .cancelled && run.reason.hasPrefix("killed by"), "\(run)")
            // its end is recorded and its lease released: the job's next run need not wait for the lease
            // (exit 0 — or, if consume's check of the kill came between the kill and the exit, its SIGTERM)
            let row = try #require(
                try db.query("SELECT exit_code, exit_signal, lease_expires_at FROM runs WHERE id = ?", [.int(run.id)])
                    .first)
            #expect(
                try row.decode("exit_code", as: Int?.self) == 0 || row.decode("exit_signal", as: Int?.self) == 15)
            #expect(try row.decode("lease_expires_at", as: Instant?.self) == nil)
        }
    }

    @Test func guardsThatOutliveTheirRunsAreReapedWhileConsumeGoesOn() async throws {
        try await withInit { fresh, db in
            let dir = TemporaryDirectory()
            defer { dir.remove() }
            try await register(fresh, "w1", ["--slots", "1"])
            // each leaves a process behind that ignores SIGTERM and closes the run's output: its guard waits for it
            // after the run has ended
            try addJob(
                db, "leaver", "sh -c 'trap \"\" TERM; exec sleep 3' >/dev/null 2>&1 & exit 0",
                ["concurrency": "queue"])
            try addJob(db, "last", "while [ ! -e \(dir.path)/go ]; do sleep 0.05; done")
            for _ in 0..<5 { #expect(try await octo(fresh, ["sh", "run", "leaver", "-q"]).status == 0) }
            #expect(try await octo(fresh, ["sh", "run", "last", "-q"]).status == 0)
            let consumer = try Processes.startOcto(
                ["consume", "--machine", "w1", "--wait"], environment: fresh.environment)
            defer { kill(consumer, SIGKILL) }
            #expect(await Processes.waitUntil(seconds: 120) { (try? runs(db, "last").first?.state) == .running })
            /// consume's children, with their states
            func children() -> [String] {
                guard let d = opendir("/proc") else { return [] }
                defer { closedir(d) }
                var out: [String] = []
                while let e = readdir(d) {
                    let name = withUnsafeBytes(of: e.pointee.d_name) {
                        String(decoding: $0.prefix(while: { $0 != 0 }), as: UTF8.self)
                    }
                    guard let pid = pid_t(name),
                        let stat = readFileBytes("/proc/\(pid)/stat").map({ String(decoding: $0, as: UTF8.self) }),
                        let close = stat.lastIndex(of: ")")
                    else { continue }
                    let fields = stat[stat.index(after: close)...].split(separator: " ")
                    if fields.count > 1, pid_t(fields[1]) == consumer { out.append("\(pid) \(fields[0])") }
                }
                return out
            }
            // the five guards exit once their leftovers are gone (3 s) and are reaped: the last run's guard is
            // consume's only child (without the reaping, five zombies stay beside it for as long as consume runs)
            #expect(await Processes.waitUntil(seconds: 120) { children().count == 1 }, "children: \(children())")
            _ = dir.write("go", "")
            #expect(await Processes.waitUntil(seconds: 120) { Processes.isGone(consumer) })
            #expect(try runs(db, "leaver").allSatisfy { $0.state == .succeeded })
        }
    }

    @Test func oneJobsBacklogWaitingForItsTurnDoesNotHoldOtherJobsRunsFromAFreeSlot() async throws {
        try await withInit { fresh, db in
            let dir = TemporaryDirectory()
            defer { dir.remove() }
            try await register(fresh, "w1", ["--slots", "2"])
            // twenty runs of a queue job, one at a time, the first held; then one run of another job
            try addJob(db, "backlog", "while [ ! -e \(dir.path)/go ]; do sleep 0.05; done", ["concurrency": "queue"])
            try addJob(db, "other", "true")
            for _ in 0..<20 { #expect(try await octo(fresh, ["sh", "run", "backlog", "-q"]).status == 0) }
            #expect(try await octo(fresh, ["sh", "run", "other", "-q"]).status == 0)
            // cron's consume: it claims again only when a run ends, so its first claim must find the other run
            let consumer = try Processes.startOcto(["consume", "--machine", "w1"], environment: fresh.environment)
            defer { kill(consumer, SIGKILL) }
            // the second slot takes the other job's run, past the nineteen that wait for their turn (before, the
            // claim looked at the oldest dozen queue rows only — all the backlog's — and the slot stayed idle)
            #expect(
                await Processes.waitUntil(seconds: 120) { (try? runs(db, "other").first?.state) == .succeeded },
                "\((try? runs(db, "other").map(\.state)) ?? [])")
            #expect(try runs(db, "backlog").filter { $0.state == .running }.count == 1)
            _ = dir.write("go", "")
            #expect(await Processes.waitUntil(seconds: 120) { Processes.isGone(consumer) })
            _ = try await octo(fresh, ["consume", "--machine", "w1", "--wait"])  // what its minute left
            #expect(try runs(db, "backlog").map(\.state) == Array(repeating: .succeeded, count: 20))
        }
    }

    /// A claim retried after its commit was applied but its answer lost (`Connection.retrying` runs it again with
    /// the same batch) takes the runs the commit gave it, with their tokens, instead of claiming others and leaving
    /// those running under tokens nobody holds. Fails on the old code (the retry claimed the next run).
    @Test func aClaimRetriedAfterALostCommitTakesWhatThatCommitClaimed() async throws {
        try await withInit { fresh, db in
            try await register(fresh, "w1", ["--slots", "4"])
            try addJob(db, "many", "true", ["concurrency": "allow", "max_parallel": "4"])
            for _ in 0..<3 { #expect(try await octo(fresh, ["sh", "run", "many", "-q"]).status == 0) }
            let batch = RunQueue.ClaimBatch()
            let first = try RunQueue.claim(db, machine: "w1", limit: 1, lease: 60, batch: batch)
            #expect(first.count == 1)
            // the lease as the first attempt left it, moved back: the retry renews it
            try db.execute(
                "UPDATE runs SET lease_expires_at = NOW(6) + INTERVAL 5 SECOND WHERE id = ?", [.int(first[0].run.id)])
            let again = try RunQueue.claim(db, machine: "w1", limit: 1, lease: 60, batch: batch)
            #expect(again.map(\.run.id) == first.map(\.run.id) && again.map(\.token) == first.map(\.token))
            let lease: Instant = try db.query(
                "SELECT lease_expires_at FROM runs WHERE id = ?", [.int(first[0].run.id)]
            ).first!.decode("lease_expires_at")
            #expect(lease > (try JobStore.serverNow(db)) + .seconds(30))
            #expect(try runs(db, "many").map(\.state) == [.running, .queued, .queued])
            // another claim (a batch of its own) takes the next run, with a token of its own
            let other = try RunQueue.claim(db, machine: "w1", limit: 1, lease: 60)
            #expect(other.count == 1 && other[0].run.id != first[0].run.id)
            #expect(other[0].token.prefix(16) != first[0].token.prefix(16))
        }
    }

    @Test func killedSupervisorTakesItsJobAlongAndTheLostRunIsRetried() async throws {
        try await withInit { fresh, db in
            let dir = TemporaryDirectory()
            defer { dir.remove() }
            // a lease no loaded machine lets lapse between the kill and the check below; the test then lets
            // it lapse by SQL
            #expect(try await octo(fresh, ["sh", "settings", "heartbeat", "2s"]).status == 0)
            #expect(try await octo(fresh, ["sh", "settings", "lease", "10m"]).status == 0)
            try await register(fresh, "w1")
            try await register(fresh, "w2")
            try addJob(
                db, "long",
                """
                if [ "$OCTO_ATTEMPT" = 1 ]; then echo $$ > \(dir.path)/pids; sleep 300 & echo $! >> \(dir.path)/pids; wait; \
                else date +%s%N > \(dir.path)/retry; fi
                """, ["retries": "1", "retry_delay": "0"])
            #expect(try await octo(fresh, ["sh", "run", "long", "--on", "w1", "-q"]).status == 0)
            let consumer = try Processes.startOcto(["consume", "--machine", "w1"], environment: fresh.environment)
            var pids: [pid_t] = []
            #expect(
                await Processes.waitUntil(seconds: 120) {
                    pids = String(decoding: readFileBytes(dir.path + "/pids") ?? [], as: UTF8.self).split(
                        separator: "\n"
                    ).compactMap { pid_t($0) }
                    return pids.count == 2
                })
            // its supervisor logs a 110 heartbeat every 2 s and records the job's pid with the lease renewal
            #expect(
                await Processes.waitUntil(seconds: 120) {
                    (try? db.query("SELECT COUNT(*) AS n FROM logs WHERE job_name = 'long' AND code = 110").first?
                        .decode("n", as: Int.self)) ?? 0 >= 1
                })
            #expect(try runs(db, "long").first?.pid.map { pid_t($0) } == pids.first)
            #expect(kill(consumer, SIGKILL) == 0)
            // the group dies with its supervisor (parent-death signal), before the lease it held lapses: no
            // other process stops it, and without that signal `sleep 300` outlives everything here. Ordering
            // against the lease, not a stopwatch (a loaded machine): the kernel signal is immediate.
            #expect(
                await Processes.waitUntil(seconds: 120) { pids.allSatisfy(Processes.isGone) },
                "the job's process group died with its supervisor")
            #expect(
                try db.query("SELECT lease_expires_at > NOW(6) AS held FROM runs WHERE job_name = 'long'").first?
                    .decode("held", as: Bool.self) == true,
                "the job outlived the lease of its supervisor")
            // once the lease lapses (time passes), the sweep marks it lost and the retry runs (elsewhere)
            try db.execute("UPDATE runs SET lease_expires_at = NOW(6) - INTERVAL 1 SECOND WHERE job_name = 'long'")
            let r = try await octo(fresh, ["consume", "--machine", "w2", "--wait"])
            #expect(r.status == 0, "\(r.stderr)")
            let all = try runs(db, "long")
            #expect(all.map(\.state) == [.lost, .succeeded])
            #expect(all.map(\.attempt) == [1, 2] && all[1].trigger == .retry && all[1].machine == "w2")
            #expect(all[0].reason.contains("lease expired"))
            #expect(readFileBytes(dir.path + "/retry") != nil)
        }
    }

    @Test func theGuardNamesItselfAndItsDeathIsReportedAsSuch() async throws {
        try await withInit { fresh, db in
            let dir = TemporaryDirectory()
            defer { dir.remove() }
            try await register(fresh, "w1")
            try addJob(
                db, "guarded",
                "sleep 300 & echo $! > \(dir.path)/gc.part; mv \(dir.path)/gc.part \(dir.path)/gc; "
                    + "echo $$ > \(dir.path)/pid.part; mv \(dir.path)/pid.part \(dir.path)/pid; "
                    + "while [ ! -e \(dir.path)/go ]; do sleep 0.05; done")
            #expect(try await octo(fresh, ["sh", "run", "guarded", "-q"]).status == 0)
            let consumer = try Processes.startOcto(["consume", "--machine", "w1"], environment: fresh.environment)
            #expect(await Processes.waitUntil(seconds: 120) { pidList(dir.path + "/pid").count == 1 })
            let job = try #require(pidList(dir.path + "/pid").first)
            // the job's parent is its guard: a forked copy of octo that shows its own name, so that ps says what
            // it is and `pkill -f "octo consume"` leaves it alone (fleet fault injection once took it for one)
            let stat = String(decoding: readFileBytes("/proc/\(job)/stat") ?? [], as: UTF8.self)
            let guardPID = try #require(
                stat.split(separator: ")").last?.split(separator: " ").dropFirst().first.flatMap { pid_t($0) })
            let cmdline = (readFileBytes("/proc/\(guardPID)/cmdline") ?? []).split(separator: 0).map {
                String(decoding: $0, as: UTF8.self)
            }
            let run = try #require(try runs(db, "guarded").first)
            #expect(cmdline == ["octo guard: run \(run.id) of guarded"], "\(cmdline)")
            #expect(String(decoding: readFileBytes("/proc/\(guardPID)/comm") ?? [], as: UTF8.self) == "octo-guard\n")
            #expect(
                readFileBytes("/proc/\(consumer)/cmdline").map {
                    String(decoding: $0, as: UTF8.self).contains("consume")
                } == true)
            // a guard killed by hand loses the job's exit status: the run says so instead of "exit code -1", and the
            // job's whole group dies with it (a failed run may be retried: it must not run on beside its retry)
            let grandchild = try #require(pidList(dir.path + "/gc").first)
            #expect(kill(guardPID, SIGKILL) == 0)
            #expect(await Processes.waitUntil(seconds: 120) { Processes.isGone(consumer) })
            #expect(
                await Processes.waitUntil(seconds: 120) { Processes.isGone(job) && Processes.isGone(grandchild) },
                "the job's group outlived its guard")
            // (only what still runs: a pid that is gone may be another test's process by now)
            _ = dir.write("go", "")
            for pid in [job, grandchild] where !Processes.isGone(pid) { kill(pid, SIGKILL) }
            let ended = try #require(try runs(db, "guarded").first)
            #expect(
                ended.state == .failed && ended.exitCode == nil && ended.reason.contains("guard process died")
                    && ended.reason.contains("its process group was killed"), "\(ended)")
        }
    }

    @Test func retriesWaitTheirDelayAndKillIsNotRetried() async throws {
        try await withInit { fresh, db in
            try await register(fresh, "w1")
            try addJob(db, "flaky", "exit 1", ["retries": "2", "retry_delay": "1s"])
            #expect(try await octo(fresh, ["sh", "run", "flaky", "-q"]).status == 0)
            let r = try await octo(fresh, ["consume", "--machine", "w1", "--wait"])
            #expect(r.status == 1)
            let all = try runs(db, "flaky")
            #expect(all.map(\.attempt) == [1, 2, 3])
            #expect(all.map(\.trigger) == [.manual, .retry, .retry])
            #expect(all.allSatisfy { $0.state == .failed })
            for (a, b) in zip(all, all.dropFirst()) {
                #expect(try #require(b.startedAt) - (try #require(a.endedAt)) >= .seconds(1), "retry delay respected")
                #expect(a.fireTime == b.fireTime)
            }

            // a killed run is cancelled and never retried
            try addJob(db, "sleepy", "sleep 300", ["retries": "3"])
            #expect(try await octo(fresh, ["sh", "run", "sleepy", "-q"]).status == 0)
            let consumer = try Processes.startOcto(["consume", "--machine", "w1"], environment: fresh.environment)
            #expect(
                await Processes.waitUntil(seconds: 120) {
                    (try? runs(db, "sleepy").first?.pid) != nil || (try? runs(db, "sleepy").first?.state) == .running
                })
            let k = try await octo(fresh, ["sh", "kill", "sleepy"])
            #expect(k.status == 0 && k.stdout.contains("cancelled run"), "\(k.stdout)\(k.stderr)")
            #expect(
                await Processes.waitUntil(seconds: 120) { Processes.isGone(consumer) },
                "the supervisor stopped the job and returned")
            let s = try runs(db, "sleepy")
            #expect(s.count == 1 && s[0].state == .cancelled && s[0].reason.hasPrefix("killed by"))
        }
    }

    @Test func replaceCancelsTheRunningRun() async throws {
        try await withInit { fresh, db in
            let dir = TemporaryDirectory()
            defer { dir.remove() }
            try await register(fresh, "w1", ["--slots", "4"])
            try addJob(db, "rep", "echo $$ >> \(dir.path)/pids; sleep 300", ["concurrency": "replace"])
            #expect(try await octo(fresh, ["sh", "run", "rep", "-q"]).status == 0)
            // claiming for an hour: the replacement is claimed by this consume however long the steps before take
            let consumer = try Processes.startOcto(
                ["consume", "--machine", "w1", "--claim-for", "1h"], environment: fresh.environment)
            #expect(await Processes.waitUntil(seconds: 120) { readFileBytes(dir.path + "/pids") != nil })
            #expect(try await octo(fresh, ["sh", "run", "rep", "-q"]).status == 0)
            let first = try #require(try runs(db, "rep").first)
            #expect(first.state == .cancelled && first.reason.contains("replace"))
            // the replaced run's supervisor stops it; its slot freed, the same (cron) consume takes the replacement
            #expect(
                await Processes.waitUntil(seconds: 120) { (try? runs(db, "rep").last?.state) == .running },
                "the replacement was not started once the replaced run was gone")
            let pid = try #require(
                pid_t(String(decoding: readFileBytes(dir.path + "/pids")!, as: UTF8.self).split(separator: "\n")[0]))
            #expect(Processes.isGone(pid))
            let all = try runs(db, "rep")
            #expect(
                try #require(all.first?.endedAt) <= (try #require(all.last?.startedAt)),
                "the replacement overlapped the replaced run")
            _ = try await octo(fresh, ["sh", "kill", "rep"])
            #expect(
                await Processes.waitUntil(seconds: 120) { Processes.isGone(consumer) },
                "the consumer did not stop the killed run and return")
        }
    }

    func pidList(_ path: String) -> [pid_t] {
        String(decoding: readFileBytes(path) ?? [], as: UTF8.self).split(separator: "\n").compactMap { pid_t($0) }
    }

    @Test func aReplacedRunHoldsItsJobBackUntilItsProcessIsGone() async throws {
        try await withInit { fresh, db in
            let dir = TemporaryDirectory()
            defer { dir.remove() }
            // a lease no loaded machine lets lapse while this test holds a supervisor still
            #expect(try await octo(fresh, ["sh", "settings", "lease", "10m"]).status == 0)
            try await register(fresh, "w1")
            try await register(fresh, "w2")
            // each run first notes every earlier run whose process is still alive (an overlap), then its own
            // pid; it ignores SIGTERM, so a replaced run lives on until the SIGKILL after the grace period
            let (pids, overlaps) = (dir.path + "/pids", dir.path + "/overlaps")
            try addJob(
                db, "rep",
                """
                for p in $(cat \(pids) 2>/dev/null); do kill -0 $p 2>/dev/null && echo "$$ $p" >> \(overlaps); done; \
                echo $$ >> \(pids); trap '' TERM; sleep 300
                """, ["concurrency": "replace"])
            #expect(try await octo(fresh, ["sh", "run", "rep", "--on", "w1", "-q"]).status == 0)
            let c1 = try Processes.startOcto(["consume", "--machine", "w1"], environment: fresh.environment)
            #expect(await Processes.waitUntil(seconds: 120) { pidList(pids).count == 1 })
            // w1's supervisor is held still, so it cannot act on the cancel: the replaced run stays stopping
            #expect(kill(c1, SIGSTOP) == 0)
            #expect(try await octo(fresh, ["sh", "run", "rep", "--on", "w2", "-q"]).status == 0)
            var all = try runs(db, "rep")
            #expect(all.map(\.state) == [.cancelled, .queued])
            #expect(all[0].isStopping && all[0].reason.contains("replace"), "\(all[0])")
            let listed = try await octo(fresh, ["sh", "runs", "rep"])
            #expect(listed.stdout.contains("cancelled, stopping"), "\(listed.stdout)")
            let shown = try await octo(fresh, ["sh", "show", "rep"])
            #expect(shown.stdout.contains("cancelled, stopping"), "\(shown.stdout)")
            // w2 takes nothing while the replaced run's process may be alive
            let blocked = try await octo(fresh, ["consume", "--machine", "w2"])
            #expect(blocked.status == 0, "\(blocked.stderr)")
            #expect(try runs(db, "rep").map(\.state) == [.cancelled, .queued])

            // w1's supervisor goes on: it sees the cancel, SIGTERM (ignored), SIGKILL after the grace period,
            // and records the group gone; w2, waiting for work, then starts the replacement
            let c2 = try Processes.startOcto(["consume", "--machine", "w2", "--wait"], environment: fresh.environment)
            #expect(kill(c1, SIGCONT) == 0)
            #expect(await Processes.waitUntil(seconds: 120) { pidList(pids).count == 2 })
            #expect(readFileBytes(overlaps) == nil, "the replacement started beside the replaced run")
            #expect(await Processes.waitUntil(seconds: 120) { Processes.isGone(c1) })
            all = try runs(db, "rep")
            #expect(all.map(\.state) == [.cancelled, .running])
            #expect(!all[0].isStopping && all[0].exitSignal == Int(SIGKILL), "\(all[0])")
            #expect(try #require(all[0].endedAt) <= (try #require(all[1].startedAt)))
            _ = try await octo(fresh, ["sh", "kill", "rep"])
            #expect(await Processes.waitUntil(seconds: 120) { Processes.isGone(c2) })
        }
    }

    @Test func aStoppingRunWithoutItsSupervisorHoldsItsJobUntilTheLeaseLapses() async throws {
        try await withInit { fresh, db in
            #expect(try await octo(fresh, ["sh", "settings", "lease", "10m"]).status == 0)
            try await register(fresh, "w1", ["--slots", "1"])
            try await register(fresh, "w2")
            try addJob(db, "held", "sleep 300")
            try addJob(db, "other", "true")
            #expect(try await octo(fresh, ["sh", "run", "held", "--on", "w1", "-q"]).status == 0)
            let c1 = try Processes.startOcto(["consume", "--machine", "w1"], environment: fresh.environment)
            #expect(await Processes.waitUntil(seconds: 120) { (try? runs(db, "held").first?.pid) != nil })
            // the supervisor dies (its job with it), then the run is killed: nobody will say it stopped
            #expect(kill(c1, SIGKILL) == 0)
            #expect(await Processes.waitUntil(seconds: 120) { Processes.isGone(c1) })
            #expect(try await octo(fresh, ["sh", "kill", "held"]).status == 0)
            #expect(try await octo(fresh, ["sh", "run", "held", "--on", "w2", "-q"]).status == 0)
            #expect(try await octo(fresh, ["consume", "--machine", "w2"]).status == 0)
            var all = try runs(db, "held")
            #expect(all.map(\.state) == [.cancelled, .queued] && all[0].isStopping)
            // the stopping run still takes w1's one slot
            #expect(try await octo(fresh, ["sh", "run", "other", "--on", "w1", "-q"]).status == 0)
            #expect(try await octo(fresh, ["consume", "--machine", "w1"]).status == 0)
            #expect(try runs(db, "other").map(\.state) == [.queued])
            // the lease lapses (moved back here: no test waits ten minutes); the next consume releases it and claims
            try db.execute(
                "UPDATE runs SET lease_expires_at = NOW(6) - INTERVAL 1 SECOND WHERE id = ?", [.int(all[0].id)])
            let c2 = try Processes.startOcto(["consume", "--machine", "w2"], environment: fresh.environment)
            #expect(await Processes.waitUntil(seconds: 120) { (try? runs(db, "held").last?.state) == .running })
            all = try runs(db, "held")
            #expect(
                !all[0].isStopping && all[0].reason.contains("machine w1 did not confirm it stopped"),
                "\(all[0].reason)")
            #expect(try await octo(fresh, ["consume", "--machine", "w1"]).status == 0)
            #expect(try runs(db, "other").map(\.state) == [.succeeded])
            _ = try await octo(fresh, ["sh", "kill", "held"])
            #expect(await Processes.waitUntil(seconds: 120) { Processes.isGone(c2) })
        }
    }

    @Test func aBroadcastJobIsOneSeriesPerMachine() async throws {
        try await withInit { fresh, db in
            // w1 and w2 register once and must stay live to the last produce, however long a loaded machine takes
            #expect(try db.execute("UPDATE settings SET value = '1h' WHERE name = 'machine_ttl'") == 1)
            let dir = TemporaryDirectory()
            defer { dir.remove() }
            try await register(fresh, "w1")
            try await register(fresh, "w2")
            // each run notes its machine, then runs until the test lets that machine's run go
            let due = try dueThisMinute(db)
            try addJob(
                db, "bcast",
                """
                echo "$OCTO_MACHINE $OCTO_FIRE_TIME" >> \(dir.path)/started; while [ ! -e \(dir.path)/go-$OCTO_MACHINE ]; do sleep 0.05; done
                """, ["schedule": due.schedule, "strategy": "all"])  // concurrency forbid (the default)
            try db.execute("UPDATE jobs SET next_fire_at = ?", [.text(due.at)])
            #expect(try await octo(fresh, ["produce"]).status == 0)
            #expect(try runs(db, "bcast").map(\.routeKey).sorted() == ["w1", "w2"])
            let started = { String(decoding: readFileBytes(dir.path + "/started") ?? [], as: UTF8.self) }
            let c1 = try Processes.startOcto(["consume", "--machine", "w1"], environment: fresh.environment)
            #expect(await Processes.waitUntil(seconds: 120) { started().contains("w1 ") })
            // w2's run is its own series: w1's running run neither holds it back nor has it skipped
            let c2 = try Processes.startOcto(["consume", "--machine", "w2"], environment: fresh.environment)
            #expect(
                await Processes.waitUntil(seconds: 120) { started().contains("w2 ") },
                "\((try? runs(db, "bcast").map(\.reason)) ?? [])")
            #expect(try runs(db, "bcast").map(\.state) == [.running, .running])

            // w2's run ends; a missed fire comes due (the minute before, now hourly at it): forbid skips it
            // on w1, whose own run still runs, and queues it on w2
            _ = try await Shell.run("touch \(dir.path)/go-w2")
            #expect(await Processes.waitUntil(seconds: 120) { Processes.isGone(c2) })
            let earlier = try db.query(
                "SELECT DATE_FORMAT(? - INTERVAL 1 MINUTE, '%Y-%m-%d %H:%i:%s') AS at, MINUTE(? - INTERVAL 1 MINUTE) AS m",
                [.text(due.at), .text(due.at)]
            ).first!
            try db.execute(
                "UPDATE jobs SET schedule = ?, next_fire_at = ?",
                [
                    .text("\(try earlier.decode("m", as: Int.self)) * * * *"),
                    .text(try earlier.decode("at", as: String.self))
                ])
            #expect(try await octo(fresh, ["produce"]).status == 0)
            let second = try runs(db, "bcast").filter { $0.fireTime < (try runs(db, "bcast")[0].fireTime) }
            #expect(second.map(\.routeKey).sorted() == ["w1", "w2"], "\(second)")
            #expect(
                second.first { $0.routeKey == "w1" }.map {
                    $0.state == .skipped && $0.reason.contains("concurrency forbid")
                } == true)
            #expect(second.first { $0.routeKey == "w2" }?.state == .queued)
            #expect(try await octo(fresh, ["consume", "--machine", "w2"]).status == 0)
            // manual runs: w2 is idle, so its run goes ahead beside w1's; w1's own is refused (forbid)
            let onW2 = try await octo(fresh, ["sh", "run", "bcast", "--on", "w2", "-q"])
            #expect(onW2.status == 0, "\(onW2.stderr)")
            let onW1 = try await octo(fresh, ["sh", "run", "bcast", "--on", "w1"])
            #expect(onW1.status == 1 && onW1.stderr.contains("concurrency forbid"), "\(onW1.stderr)")
            #expect(try await octo(fresh, ["consume", "--machine", "w2"]).status == 0)
            _ = try await Shell.run("touch \(dir.path)/go-w1")
            #expect(await Processes.waitUntil(seconds: 120) { Processes.isGone(c1) })
            let all = try runs(db, "bcast")
            #expect(
                all.map(\.state) == [.succeeded, .succeeded, .skipped, .succeeded, .succeeded], "\(all.map(\.state))")
        }
    }

    /// `least-loaded` spreads one produce's fires: each run assigned counts on its machine from then on, and a
    /// machine's queued runs count like its running ones. Fails on the old code (all three went to the one machine
    /// that was least loaded before the first, and a queued run did not count).
    @Test func leastLoadedSpreadsTheFiresOfOneProduce() async throws {
        try await withInit { fresh, db in
            for m in ["a", "b", "c"] { try await register(fresh, m, ["--slots", "1"]) }
            let due = try dueThisMinute(db)
            for j in ["j1", "j2", "j3"] {
                try addJob(db, j, "true", ["schedule": due.schedule, "strategy": "least-loaded"])
            }
            try db.execute("UPDATE jobs SET next_fire_at = ?", [.text(due.at)])
            #expect(try await octo(fresh, ["produce"]).status == 0)
            let machines = try ["j1", "j2", "j3"].compactMap { try runs(db, $0).first?.machine }
            #expect(machines.sorted() == ["a", "b", "c"], "\(machines)")
            let live = try RunQueue.liveMachines(db, ttl: 3600)
            #expect(live.map(\.running) == [1, 1, 1] && live.allSatisfy { $0.freeSlots == 0 }, "\(live)")
        }
    }

    @Test func routingFirstAllAndStaleMachinesReRouted() async throws {
        try await withInit { fresh, db in
            for (m, g) in [("a", "etl"), ("b", "etl"), ("c", "web")] { try await register(fresh, m, ["--group", g]) }
            let due = try dueThisMinute(db)
            try addJob(db, "first", "true", ["schedule": due.schedule, "target": "c,a,b", "strategy": "first"])
            try addJob(db, "bcast", "true", ["schedule": due.schedule, "target": "group:etl", "strategy": "all"])
            try db.execute("UPDATE jobs SET next_fire_at = ?", [.text(due.at)])
            #expect(try await octo(fresh, ["produce"]).status == 0)
            #expect(try runs(db, "first").map(\.machine) == ["c"])
            #expect(try runs(db, "bcast").map(\.machine).sorted { ($0 ?? "") < ($1 ?? "") } == ["a", "b"])
            // c goes stale before claiming: the next produce moves its run to the next in the list
            try db.execute("UPDATE machines SET last_seen = NOW(6) - INTERVAL 1 HOUR WHERE name IN ('c', 'b')")
            let r = try await octo(fresh, ["produce", "--json"])
            #expect(r.status == 0)
            #expect(try runs(db, "first").map(\.machine) == ["a"])
            #expect(
                try db.query("SELECT q.machine FROM queue q JOIN runs r ON r.id = q.run_id WHERE r.job_name = 'first'")
                    .first?.decode("machine", as: String.self) == "a")
            // b's broadcast run is for b only: recorded as skipped, not moved
            let b = try #require(try runs(db, "bcast").first { $0.routeKey == "b" })
            #expect(b.state == .skipped && b.reason.contains("machine b"))
            // a claims only its own and unassigned eligible work
            #expect(try await octo(fresh, ["consume", "--machine", "a"]).status == 0)
            #expect(try runs(db, "first").map(\.state) == [.succeeded])
            #expect(try runs(db, "bcast").first { $0.routeKey == "a" }?.state == .succeeded)
        }
    }

    @Test func badInputIsRefusedAndChangesNothing() async throws {
        try await withInit { fresh, db in
            try await register(fresh, "w1")
            try addJob(db, "j", "true")
            let cases: [[String]] = [
                ["sh", "run", "nosuch"],
                ["sh", "run", "j", "--cursor", String(repeating: "x", count: 1025)],
                ["sh", "run", "j", "--here", "--on", "w1"],
                ["sh", "run", "j", "--on", "no such"],
                ["sh", "run", "j", "--on", "ghost"],
                ["sh", "kill", "nosuch"],
                ["sh", "runs", "j", "-n", "0"],
                ["consume", "--max", "0"]
            ]
            for args in cases {
                let r = try await octo(fresh, args + ["--machine", "w1"])
                #expect(r.status == 2, "\(args): \(r.stderr)")
                #expect(r.stderr.split(separator: "\n").count == 1, "\(args): \(r.stderr)")
            }
            #expect(try db.query("SELECT COUNT(*) AS n FROM runs").first!.decode("n", as: Int.self) == 0)
            // forbid refuses a second manual run (exit 1: nothing wrong with the input), --force does not
            try addJob(db, "once", "true")
            #expect(try await octo(fresh, ["sh", "run", "once", "-q"]).status == 0)
            let again = try await octo(fresh, ["sh", "run", "once"])
            #expect(again.status == 1 && again.stderr.contains("concurrency forbid"))
            #expect(try await octo(fresh, ["sh", "run", "once", "--force", "-q"]).status == 0)
            let h = try await octo(fresh, ["sh", "runs", "once", "--json"])
            #expect(h.status == 0 && h.stdout.components(separatedBy: "\"state\":\"queued\"").count == 3)
        }
    }
}
