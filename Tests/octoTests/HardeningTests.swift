import MariaDB
import OctoCore
import OctoTime
import TestSupport
import Testing

#if canImport(Glibc)
    import Glibc
#endif

/// The promises of issue 17's probe: a run never outlives its lease whatever
/// its supervisor is stuck in, a job only runs where and as whom it may, and
/// cron's plain `consume` keeps its machine's slots busy, oldest runs first.
@Suite(.database, .bounded)
struct HardeningTests {
    func count(_ db: Connection, _ sql: String) throws -> Int {
        try db.query(sql).first!.decode("n")
    }

    // MARK: - The lease watchdog

    /// A supervisor stuck in any call (here: SIGSTOPped, the extreme of a read on a silent link) cannot keep
    /// its job alive past the lease: the guard kills the group at its own deadline, while the server still
    /// holds the lease — so no other machine can have started the retry yet. Fails on the old code (the job
    /// ran on until the supervisor woke up).
    @Test func aStuckSupervisorsJobIsKilledBeforeItsLeaseLapses() async throws {
        try await withInit { fresh, db in
            let dir = TemporaryDirectory()
            defer { dir.remove() }
            let (consume, job) = try await startHeld(fresh, db, dir.path, "exec sleep 300")
            defer { kill(consume, SIGKILL) }
            #expect(kill(consume, SIGSTOP) == 0)
            #expect(
                await Processes.waitUntil(seconds: 300) { kill(job, 0) != 0 },
                "the job outlived its stuck supervisor's lease")
            // the job is gone and the run's lease has not lapsed: nobody could have started it elsewhere
            let row = try #require(
                try db.query("SELECT state, lease_expires_at > NOW(6) AS holds FROM runs WHERE job_name = 'held'").first
            )
            #expect(try row.decode("state", as: String.self) == "running")
            #expect(try row.decode("holds", as: Bool.self), "the lease lapsed before the job was killed")
            // the supervisor, woken, says what happened and records the run lost
            #expect(kill(consume, SIGCONT) == 0)
            #expect(await Processes.waitUntil(seconds: 120) { Processes.isGone(consume) })
            let run = try #require(try runs(db, "held").first)
            #expect(run.state == .lost && run.exitSignal == Int(SIGKILL), "\(run)")
            let said = try leaseMessages(db, run)
            #expect(said.count == 1 && said[0].contains("(sent by its guard at the deadline)"), "\(said)")
        }
    }

    /// Starts `command` as job `held` (its working directory `dir`, its shell's pid written to `dir`/pid) under
    /// a `consume` of machine w1, with a lease of 2 min and a heartbeat of 30 s: the kill margin is the heartbeat,
    /// so the guard's deadline is 90 s after the claim, and 30 s between it and the lease's end leave the test time
    /// to look, however loaded the machine. Returns consume's pid and the job's, once the job runs.
    func startHeld(_ fresh: FreshDatabase, _ db: Connection, _ dir: String, _ command: String) async throws -> (
        consume: pid_t, job: pid_t
    ) {
        #expect(try await octo(fresh, ["sh", "settings", "lease", "2m"]).status == 0)
        #expect(try await octo(fresh, ["sh", "settings", "heartbeat", "30s"]).status == 0)
        try await register(fresh, "w1")
        try addJob(db, "held", "cd \(dir) && echo $$ > pid.part && mv pid.part pid && \(command)")
        #expect(try await octo(fresh, ["sh", "run", "held", "-q"]).status == 0)
        let consume = try Processes.startOcto(["consume", "--machine", "w1"], environment: fresh.environment)
        func job() -> pid_t? {
            readFileBytes(dir + "/pid").flatMap { pid_t(String(decoding: $0, as: UTF8.self).trimmingWhitespace()) }
        }
        #expect(await Processes.waitUntil(seconds: 120) { job() != nil })
        guard let job = job() else {
            kill(consume, SIGKILL)
            throw OctoError.failure("job held did not start")
        }
        return (consume, job)
    }

    /// A supervisor stuck inside a statement when its guard's deadline passes (its lease renewal waits for the
    /// run's row, which another transaction holds, and it is stopped there) meets the deadline in its own timers,
    /// once woken, before `step` has read what the guard wrote: it reads that first, and says who killed the job.
    /// Fails without the read (the message lacked "sent by its guard").
    @Test func aSupervisorWokenInsideAStatementSaysItsGuardKilledTheJob() async throws {
        try await stoppedInsideARenewal("exec sleep 300") { _, job in
            #expect(
                await Processes.waitUntil(seconds: 300) { kill(job, 0) != 0 },
                "the job outlived its stuck supervisor's lease")
        } then: { db, run in
            #expect(run.state == .lost && run.exitSignal == Int(SIGKILL), "\(run)")
            let said = try self.leaseMessages(db, run)
            #expect(said.count == 1 && said[0].contains("(sent by its guard at the deadline)"), "\(said)")
        }
    }

    /// The same stuck supervisor, whose job ended by itself before the deadline (the guard reported its status and
    /// killed nothing): once woken past the deadline, it records the run as the job ended, not as lost for the
    /// lease. Fails without reading the guard's records first (the run was recorded lost, "SIGKILL" said).
    @Test func aJobThatEndedWhileItsSupervisorWasStuckEndsAsItEnded() async throws {
        try await stoppedInsideARenewal("while [ ! -e go ]; do sleep 0.1; done") { dir, job in
            #expect(creat(dir + "/go", 0o600) >= 0)
            #expect(await Processes.waitUntil(seconds: 120) { kill(job, 0) != 0 })
        } then: { db, run in
            #expect(run.state == .succeeded && run.exitCode == 0, "\(run)")
            let said = try self.leaseMessages(db, run)
            #expect(said.isEmpty, "\(said)")
        }
    }

    func leaseMessages(_ db: Connection, _ run: Run) throws -> [String] {
        try db.query(
            "SELECT content FROM logs WHERE run_id = ? AND content LIKE 'could not renew the lease%'", [.int(run.id)]
        ).rows.map { try $0.decode("content", as: String.self) }
    }

    /// Starts `command` as `startHeld` does, holds the run's row so that a renewal waits, and stops `consume`
    /// inside it. `whileStopped` gets the directory and the job's pid; then the test
    /// waits for the renewal's lock wait to end, for the supervisor's deadline to pass (the lease 20 s from its
    /// end, on the server's clock), lets the row go and wakes `consume`; `then` gets the run once it is gone.
    func stoppedInsideARenewal(
        _ command: String, whileStopped: (String, pid_t) async throws -> Void,
        then: (Connection, Run) throws -> Void
    ) async throws {
        try await withInit { fresh, db in
            let dir = TemporaryDirectory()
            defer { dir.remove() }
            let (consume, job) = try await startHeld(fresh, db, dir.path, command)
            defer { kill(consume, SIGKILL) }
            let holder = try fresh.connect()
            defer { holder.close() }
            try holder.run("SET SESSION idle_transaction_timeout = 0")
            try holder.run("BEGIN")
            _ = try holder.query("SELECT id FROM runs WHERE job_name = 'held' FOR UPDATE")
            let renewing = """
                SELECT COUNT(*) AS n FROM information_schema.PROCESSLIST
                WHERE ID <> CONNECTION_ID() AND DB = DATABASE() AND INFO LIKE 'UPDATE runs SET lease_expires_at%'
                """
            // stopped while the renewal still waits on the server (so it cannot have had its answer): a stop that
            // came too late, after the server's lock wait ended, is undone and the next heartbeat's renewal waited for
            var stoppedInside = false
            for _ in 0..<3 where !stoppedInside {
                #expect(try await Processes.waitUntil(seconds: 120) { try self.count(db, renewing) > 0 })
                #expect(kill(consume, SIGSTOP) == 0)
                stoppedInside = try count(db, renewing) > 0
                if !stoppedInside { #expect(kill(consume, SIGCONT) == 0) }
            }
            try #require(stoppedInside, "consume was never stopped inside a renewal")
            try await whileStopped(dir.path, job)
            // the renewal's lock wait is over (the server's 1205 waits in the stopped process's socket), and the
            // supervisor's deadline has passed: it meets it in its timers, before it reads the guard's pipe
            #expect(try await Processes.waitUntil(seconds: 120) { try self.count(db, renewing) == 0 })
            let pastDeadline = """
                SELECT COUNT(*) AS n FROM runs WHERE job_name = 'held' AND NOW(6) >= lease_expires_at - INTERVAL 20 SECOND
                """
            #expect(try await Processes.waitUntil(seconds: 300) { try self.count(db, pastDeadline) == 1 })
            try holder.run("ROLLBACK")
            #expect(kill(consume, SIGCONT) == 0)
            #expect(await Processes.waitUntil(seconds: 120) { Processes.isGone(consume) })
            try then(db, try #require(try runs(db, "held").first))
        }
    }

    // MARK: - Where and as whom a job runs

    /// Assigned runs (`--on`, `--here`, routing, retries) get the same user and target checks as any other:
    /// refused with exit 2 and nothing written, never claimed by an ineligible machine. Fails on the old code
    /// (`--on` queued the run and w1 ran a job whose user it is not).
    @Test func aJobRunsOnlyWhereAndAsWhomItMay() async throws {
        try await withInit { fresh, db in
            let me = currentUserName()
            let other = me == "nobody" ? "daemon" : "nobody"
            try await register(fresh, "w1")
            try await register(fresh, "w2")
            let foreign = try addJob(db, "foreign", "true", ["user": other])
            let elsewhere = try addJob(db, "elsewhere", "true", ["target": "w2"])
            try addJob(db, "mine", "true", ["user": me, "target": "w1,w2"])

            let on = try await octo(fresh, ["sh", "run", "foreign", "--on", "w1"])
            #expect(
                on.status == 2 && on.stderr.contains("runs as user '\(other)' and octo on w1 runs as '\(me)'"),
                "\(on.stderr)")
            let here = try await octo(fresh, ["sh", "run", "foreign", "--here", "--machine", "w1"])
            #expect(here.status == 2 && here.stderr.contains("cannot run it here"), "\(here.stderr)")
            let target = try await octo(fresh, ["sh", "run", "elsewhere", "--on", "w1"])
            #expect(
                target.status == 2 && target.stderr.contains("machine w1 is not in job elsewhere's target 'w2'"),
                "\(target.stderr)")
            #expect(try count(db, "SELECT COUNT(*) AS n FROM runs") == 0, "a refused run wrote something")

            // runs assigned to w1 anyway (as a route or a retry would): w1 never claims them
            var r = RunQueue.NewRun(fireTime: try JobStore.serverNow(db), trigger: .manual)
            r.route = Routing.Route(machine: "w1")
            try RunQueue.enqueue(db, job: foreign, r)
            try RunQueue.enqueue(db, job: elsewhere, r)
            // and the machine row claims w1 runs as the job's user: the claim goes by this process's user
            try db.execute("UPDATE machines SET unix_user = ? WHERE name = 'w1'", [.text(other)])
            try RunQueue.enqueue(
                db, job: foreign, RunQueue.NewRun(fireTime: try JobStore.serverNow(db) + .seconds(1), trigger: .manual))
            let c1 = try await octo(fresh, ["consume", "--machine", "w1"])
            #expect(c1.status == 0, "\(c1.stderr)")
            #expect(
                try count(db, "SELECT COUNT(*) AS n FROM runs WHERE state <> 'queued'") == 0,
                "an ineligible machine ran a job")
            #expect(try RunQueue.claim(db, machine: "w1", limit: 10, lease: 60).isEmpty)

            // what may run does: the job of this user on w1, the targeted job on w2
            try db.execute("UPDATE machines SET unix_user = ? WHERE name = 'w1'", [.text(me)])
            #expect(try await octo(fresh, ["sh", "kill", "elsewhere", "-q"]).status == 0)
            #expect(try await octo(fresh, ["sh", "run", "mine", "--on", "w1", "-q"]).status == 0)
            #expect(try await octo(fresh, ["sh", "run", "elsewhere", "--on", "w2", "-q"]).status == 0)
            #expect(try await octo(fresh, ["consume", "--machine", "w1"]).status == 0)
            #expect(try await octo(fresh, ["consume", "--machine", "w2"]).status == 0)
            #expect(try runs(db, "mine").map(\.state) == [.succeeded])
            #expect(try runs(db, "mine").first?.machine == "w1")
            #expect(try runs(db, "elsewhere").map(\.state) == [.cancelled, .succeeded])
            #expect(try runs(db, "elsewhere").last?.machine == "w2")
        }
    }

    /// A run assigned to a machine that may no longer run it (its job's target was edited) is routed anew by
    /// the next produce, not left queued for ever; a broadcast run for that machine is skipped, saying why.
    @Test func anAssignedRunThatBecameIneligibleIsRoutedAnew() async throws {
        try await withInit { fresh, db in
            try await register(fresh, "w1")
            try await register(fresh, "w2")
            let moving = try addJob(db, "moving", "true")
            let everywhere = try addJob(db, "everywhere", "true", ["strategy": "all"])
            var r = RunQueue.NewRun(fireTime: try JobStore.serverNow(db), trigger: .manual)
            r.route = Routing.Route(machine: "w1")
            try RunQueue.enqueue(db, job: moving, r)
            r.route = Routing.Route(machine: "w1", routeKey: "w1")
            try RunQueue.enqueue(db, job: everywhere, r)
            #expect(try await octo(fresh, ["sh", "edit", "moving", "--target", "w2", "-q"]).status == 0)
            #expect(try await octo(fresh, ["sh", "edit", "everywhere", "--target", "w2", "-q"]).status == 0)
            #expect(try await octo(fresh, ["produce", "--machine", "w1"]).status == 0)
            let skipped = try #require(try runs(db, "everywhere").first)
            #expect(skipped.state == .skipped && skipped.reason.contains("machine w1 may not run it"), "\(skipped)")
            #expect(try await octo(fresh, ["consume", "--machine", "w2"]).status == 0)
            #expect(try runs(db, "moving").map(\.state) == [.succeeded])
            #expect(try runs(db, "moving").first?.machine == "w2")
        }
    }

    // MARK: - Cron's consume

    /// A plain `consume` (what cron starts) claims again whenever a slot frees: six short runs on a 2-slot
    /// machine all run in one consume. Fails on the old code (2 ran, 4 waited for the next minute).
    @Test func aPlainConsumeKeepsItsSlotsBusy() async throws {
        try await withInit { fresh, db in
            try await register(fresh, "w1", ["--slots", "2"])
            for i in 1...6 {
                try addJob(db, "j\(i)", "sleep 0.2")
                #expect(try await octo(fresh, ["sh", "run", "j\(i)", "-q"]).status == 0)
            }
            let r = try await octo(fresh, ["consume", "--machine", "w1", "--json"])
            #expect(r.status == 0, "\(r.stderr)")
            #expect(try count(db, "SELECT COUNT(*) AS n FROM runs WHERE state = 'succeeded'") == 6)
            #expect(try count(db, "SELECT COUNT(*) AS n FROM queue") == 0)
            // never more than the machine's two slots at once
            let spans = try db.query("SELECT started_at, ended_at FROM runs ORDER BY started_at").rows.map {
                (try $0.decode("started_at", as: Instant.self), try $0.decode("ended_at", as: Instant.self))
            }
            for (start, _) in spans {
                #expect(spans.filter { $0.0 <= start && start < $0.1 }.count <= 2)
            }
        }
    }

    /// Claims take the oldest eligible runs (not_before, then id), whatever their jobs' ids: six runs queued
    /// j6 … j1 on a 2-slot machine → j6 and j5 first. Fails on the old code (j1 and j2, by job id).
    @Test func claimsTakeTheOldestRunsFirstWhateverTheJob() async throws {
        try await withInit { fresh, db in
            try await register(fresh, "w1", ["--slots", "2"])
            for i in 1...6 { try addJob(db, "j\(i)", "true") }
            for i in (1...6).reversed() { #expect(try await octo(fresh, ["sh", "run", "j\(i)", "-q"]).status == 0) }
            let first = try RunQueue.claim(db, machine: "w1", limit: 10, lease: 60)
            #expect(Set(first.map(\.run.jobName)) == ["j6", "j5"])
            try db.execute(
                "UPDATE runs SET state = 'succeeded', ended_at = NOW(6), lease_expires_at = NULL WHERE state = 'running'"
            )
            let second = try RunQueue.claim(db, machine: "w1", limit: 10, lease: 60)
            #expect(Set(second.map(\.run.jobName)) == ["j4", "j3"])
        }
    }

    /// A claim skips jobs another claim holds (consumers claiming at once take different jobs' runs), but one
    /// that skipped every candidate waits for them instead of coming back empty: the only queued run's job is
    /// locked by another transaction while `consume` claims; once that lets go, the run is claimed and runs.
    /// Fails without the waiting claim (consume finds nothing and exits; the run stays queued).
    @Test func aClaimThatSkippedEveryBusyJobWaitsForIt() async throws {
        try await withInit { fresh, db in
            try await register(fresh, "w1")
            try addJob(db, "only", "true")
            #expect(try await octo(fresh, ["sh", "run", "only", "-q"]).status == 0)
            // the job's row held, as another machine's claim would hold it (and not let go by the server's idle
            // timeout however long consume takes to start: the wait must end by the test's word)
            try db.run("SET SESSION idle_transaction_timeout = 0")
            try db.run("BEGIN")
            _ = try db.query("SELECT id FROM jobs WHERE name = 'only' FOR UPDATE")
            let consume = try Processes.startOcto(["consume", "--machine", "w1"], environment: fresh.environment)
            defer { kill(consume, SIGKILL) }
            let watcher = try fresh.connect()
            defer { watcher.close() }
            // the claim waits for the lock: its blocking statement (not the SKIP LOCKED one) is seen waiting — or,
            // without it, consume ends with nothing. (PROCESSLIST, not INNODB_TRX: that is a cache refreshed only
            // after 0.1 s without a read, never while polled every 50 ms.)
            let blocked = """
                SELECT COUNT(*) AS n FROM information_schema.PROCESSLIST
                WHERE ID <> CONNECTION_ID() AND DB = DATABASE() AND INFO LIKE '%FROM jobs%FOR UPDATE'
                """
            #expect(
                try await Processes.waitUntil(seconds: 120) {
                    try self.count(watcher, blocked) > 0 || Processes.isGone(consume)
                })
            try db.run("COMMIT")
            #expect(await Processes.waitUntil(seconds: 120) { Processes.isGone(consume) })
            #expect(try runs(watcher, "only").map(\.state) == [.succeeded])
        }
    }

    // MARK: - What people see

    /// Escape sequences in log content never reach a terminal raw: `sh log`, `sh alerts`, the alert subject
    /// show them visibly; `--json` keeps the exact text. Fails on the old code (raw ESC, BEL and CR).
    @Test func controlCharactersInLogsAreShownEscaped() async throws {
        try await TestDatabase.withInitializedOcto { db, env, dir in
            let nasty = "pwned\u{1b}]0;title\u{07}\u{1b}[2J\rcover"
            let logged = try await OctoBinary.run(
                ["logger", "-n", "app", "-l", "error"], environment: env, input: nasty + "\n")
            #expect(logged.status == 0, "\(logged.stderr)")
            #expect(
                try await OctoBinary.run(
                    ["sh", "settings", "alert_command", "printf %s \"$OCTO_ALERT_SUBJECT\" > \(dir)/subject"],
                    environment: env
                ).status == 0)
            #expect(try await OctoBinary.run(["monitor"], environment: env).status == 0)
            let shown = "pwned\\e]0;title\\x07\\e[2J\\rcover"
            for args in [["sh", "log", "app"], ["sh", "alerts"]] {
                let r = try await OctoBinary.run(args, environment: env)
                #expect(r.status == 0, "\(r.stderr)")
                #expect(
                    !r.stdout.unicodeScalars.contains { $0.value < 0x20 && $0 != "\n" },
                    "\(args): a raw control character")
                #expect(r.stdout.contains(args[1] == "log" ? shown : String(shown.prefix(40))), "\(args): \(r.stdout)")
            }
            let subject = String(decoding: try #require(readFileBytes(dir + "/subject")), as: UTF8.self)
            #expect(
                subject.contains("pwned\\e]0;title\\x07") && !subject.unicodeScalars.contains { $0.value < 0x20 },
                "\(subject)")
            let json = try await OctoBinary.run(["sh", "log", "app", "--json"], environment: env)
            #expect(json.stdout.contains(#"pwned\u001b]0;title\u0007\u001b[2J\rcover"#), "\(json.stdout)")
        }
    }

    /// A job's environment holds no database password (it has the option file): OCTO_DB_PASSWORD and MYSQL_PWD
    /// are dropped. Fails on the old code (both inherited).
    @Test func jobsDoNotInheritTheDatabasePassword() async throws {
        try await TestDatabase.withInitializedOcto { db, env, dir in
            var j = Job(name: "envdump", command: "env > \(dir)/env")
            j.target = "any"
            _ = try JobStore.add(db, j, by: "test", defaultZone: "UTC")
            let r = try await OctoBinary.run(
                ["sh", "run", "envdump", "--here", "-q"], environment: env.merging(["MYSQL_PWD": "sekrit-1"]) { $1 })
            #expect(r.status == 0, "\(r.stderr)")
            let seen = String(decoding: try #require(readFileBytes(dir + "/env")), as: UTF8.self)
            #expect(seen.contains("OCTO_MACHINE=w1"))
            #expect(
                !seen.contains("sekrit-1") && !seen.contains("MYSQL_PWD") && !seen.contains("OCTO_DB_PASSWORD"),
                "\(seen)")
        }
    }

    // MARK: - The monitor's alert command

    /// The alert timeout bounds the whole delivery and what the command left behind is killed: a command that
    /// backgrounds a process holding its output (`sleep 200 & cat`) no longer holds the monitor until that
    /// process ends, and a command that hangs is stopped at the timeout. Fails on the old code (the monitor
    /// waited for the background process: 200 s).
    @Test func theAlertCommandCannotHoldTheMonitor() async throws {
        try await TestDatabase.withInitializedOcto { db, env, dir in
            try db.execute(
                "INSERT INTO alerts (kind, job_name, first_at, last_at, first_line, last_line, next_attempt_at) VALUES ('log', 'j', NOW(6), NOW(6), 'x', 'x', NOW(6))"
            )
            // the command's leader waits until its leftover has written its pid (the group is killed once it exits)
            let command =
                "sh -c 'echo $$ > \(dir)/left.pid; exec sleep 200' & while [ ! -s \(dir)/left.pid ]; do sleep 0.05; done; "
                + "cat > \(dir)/delivered"
            #expect(
                try await OctoBinary.run(["sh", "settings", "alert_command", command], environment: env).status == 0)
            let monitor = try Processes.startOcto(["monitor", "--alert-timeout", "60s"], environment: env)
            #expect(
                await Processes.waitUntil(seconds: 120) { Processes.isGone(monitor) },
                "the monitor waited for what its alert command left running")
            let left = try #require(
                pid_t(String(decoding: readFileBytes(dir + "/left.pid") ?? [], as: UTF8.self).trimmingWhitespace()))
            #expect(
                await Processes.waitUntil(seconds: 120) { kill(left, 0) != 0 },
                "the alert command's leftover still runs"
            )
            #expect(try db.query("SELECT state FROM alerts").first?.decode("state", as: String.self) == "sent")

            // a process that leaves the group (setsid) and holds the output open cannot hold the monitor either:
            // delivered once, the monitor gone while that process still runs (before, the monitor waited for it,
            // its claim lapsed, another monitor delivered the alert again — and again)
            try db.execute(
                "INSERT INTO alerts (kind, job_name, first_at, last_at, first_line, last_line, next_attempt_at) VALUES ('log', 'e', NOW(6), NOW(6), 'z', 'z', NOW(6))"
            )
            let escaping =
                "cat > /dev/null; echo once >> \(dir)/escaped; setsid sh -c 'echo $$ > \(dir)/escaped.part; "
                + "mv \(dir)/escaped.part \(dir)/escaped.pid; exec sleep 60' & "
                + "while [ ! -s \(dir)/escaped.pid ]; do sleep 0.05; done"
            #expect(
                try await OctoBinary.run(["sh", "settings", "alert_command", escaping], environment: env).status == 0)
            let second = try await OctoBinary.run(["monitor", "--alert-timeout", "60s"], environment: env)
            #expect(second.status == 0, "\(second.stderr)")
            let escaped = try #require(
                pid_t(String(decoding: readFileBytes(dir + "/escaped.pid") ?? [], as: UTF8.self).trimmingWhitespace()))
            #expect(!Processes.isGone(escaped), "the monitor waited for a process that left the alert command's group")
            kill(escaped, SIGKILL)
            #expect(
                try db.query("SELECT state FROM alerts WHERE job_name = 'e'").first?.decode("state", as: String.self)
                    == "sent")
            #expect(String(decoding: readFileBytes(dir + "/escaped") ?? [], as: UTF8.self) == "once\n")

            // a command that hangs is a failed attempt at the timeout, its group killed
            try db.execute(
                "INSERT INTO alerts (kind, job_name, first_at, last_at, first_line, last_line, next_attempt_at) VALUES ('log', 'k', NOW(6), NOW(6), 'y', 'y', NOW(6))"
            )
            #expect(
                try await OctoBinary.run(
                    ["sh", "settings", "alert_command", "echo $$ > \(dir)/hung.pid; trap '' TERM; sleep 300"],
                    environment: env
                ).status == 0)
            let r = try await OctoBinary.run(["monitor", "--alert-timeout", "10s", "--json"], environment: env)
            #expect(r.status == 0, "\(r.stderr)")
            let hung = try #require(
                pid_t(String(decoding: readFileBytes(dir + "/hung.pid") ?? [], as: UTF8.self).trimmingWhitespace()))
            #expect(kill(hung, 0) != 0, "the hung alert command outlived its delivery")
            let row = try #require(try db.query("SELECT state, last_error FROM alerts WHERE job_name = 'k'").first)
            let error: String = try row.decode("last_error")
            #expect(error.contains("timed out after 10s"), "\(error)")
        }
    }

    // MARK: - Concurrent changes

    /// `pause` and `edit` at once: each reads and writes the job under its row lock, so neither change is lost.
    /// Fails on the old code (a paused job left active, or the edit undone, in several of the trials).
    @Test func concurrentPauseAndEditLoseNothing() async throws {
        try await withInit { fresh, db in
            try addJob(db, "j", "true", ["schedule": "0 3 * * *"])
            for trial in 1...40 {
                async let paused = octo(fresh, ["sh", "pause", "j", "-q"])
                async let retried = octo(fresh, ["sh", "edit", "j", "--retries", "\(trial)", "-q"])
                async let timed = octo(fresh, ["sh", "edit", "j", "--timeout", "\(trial)m", "-q"])
                let (p, r, t) = try await (paused, retried, timed)
                #expect(p.status == 0 && r.status == 0 && t.status == 0, "\(p.stderr) \(r.stderr) \(t.stderr)")
                let job = try #require(try JobStore.get(db, "j"))
                #expect(
                    job.paused && job.retries == trial && job.timeout == Int64(trial) * 60,
                    "trial \(trial): paused \(job.paused), retries \(job.retries), timeout \(job.timeout)")
                #expect(try await octo(fresh, ["sh", "resume", "j", "-q"]).status == 0)
            }
        }
    }

    /// Four applies at once of four files defining the same 30 jobs: every apply succeeds (a deadlock is
    /// retried, never shown), and the jobs end as exactly one file says, never a mix. Fails on the old code
    /// (applies that read before another's commit failed on duplicate names).
    @Test func concurrentAppliesAreEachAllOrNothing() async throws {
        try await withInit { fresh, db in
            let dir = TemporaryDirectory()
            defer { dir.remove() }
            let files = (1...4).map { f in
                dir.write(
                    "jobs\(f).yaml",
                    "jobs:\n" + (1...30).map { "  - name: a\($0)\n    command: echo file\(f)\n" }.joined())
            }
            let results = try await withThrowingTaskGroup(of: OctoBinary.Result.self) { group in
                for f in files { group.addTask { try await octo(fresh, ["sh", "apply", f, "-q"]) } }
                return try await group.reduce(into: []) { $0.append($1) }
            }
            #expect(results.allSatisfy { $0.status == 0 }, "\(results.map(\.stderr))")
            let commands = Set(try JobStore.all(db).map(\.command))
            #expect(commands.count == 1, "a mix of files: \(commands)")
            #expect(try JobStore.all(db).count == 30)
        }
    }

    // MARK: - Graceful stop

    /// SIGTERM to `octo consume`: each job's group gets SIGTERM (its trap runs), the run's end is recorded
    /// at once, and consume exits 143. Fails on the old code (consume died, the job was SIGKILLed without its
    /// trap, the run stayed running until its lease lapsed).
    @Test func aStoppedConsumeStopsItsJobsAndRecordsTheirEnds() async throws {
        try await withInit { fresh, db in
            let dir = TemporaryDirectory()
            defer { dir.remove() }
            try await register(fresh, "w1")
            try addJob(
                db, "trapper",
                "trap 'echo trapped > \(dir.path)/trapped; exit 0' TERM; touch \(dir.path)/ready; while :; do sleep 0.1; done"
            )
            #expect(try await octo(fresh, ["sh", "run", "trapper", "-q"]).status == 0)
            let consume = try Processes.startOcto(["consume", "--machine", "w1"], environment: fresh.environment)
            defer { kill(consume, SIGKILL) }
            #expect(await Processes.waitUntil(seconds: 120) { readFileBytes(dir.path + "/ready") != nil })
            #expect(kill(consume, SIGTERM) == 0)
            #expect(await Processes.waitUntil(seconds: 120) { Processes.isGone(consume) })
            #expect(readFileBytes(dir.path + "/trapped") != nil, "the job's TERM trap did not run")
            let run = try #require(try runs(db, "trapper").first)
            #expect(run.state == .failed && run.reason.contains("interrupted: octo got SIGTERM"), "\(run)")
            #expect(run.exitCode == 0 && run.endedAt != nil)
        }
    }

    // MARK: - The state directory

    /// A state directory others can write to (or that belongs to another user) is refused before octo writes
    /// anything there, and `doctor` fails it naming the fix. Fails on the old code (doctor said ok for 0777,
    /// and the local cursor was written there).
    @Test func aStateDirectoryOthersCanWriteIsRefused() async throws {
        try await TestDatabase.withInitializedOcto { db, env, dir in
            let state = TemporaryDirectory()
            defer { state.remove() }
            #expect(chmod(state.path, 0o777) == 0)
            let shared = env.merging(["OCTO_STATE_DIR": state.path]) { $1 }
            let doctor = try await OctoBinary.run(["doctor"], environment: shared)
            #expect(
                doctor.status == 1 && doctor.stdout.contains("is writable by others (mode 777)"), "\(doctor.stdout)")
            #expect(doctor.stdout.contains("chmod go-w \(state.path)"), "\(doctor.stdout)")
            // a run's local cursor is not written there (the job's `octo cursor set` fails, saying why)
            try addJob(db, "c", CrontabBlock.shellQuote(OctoBinary.path) + " cursor set 42")
            let run = try await OctoBinary.run(["sh", "run", "c", "--here", "--wait"], environment: shared)
            #expect(run.status != 0, "\(run.stdout) \(run.stderr)")
            #expect(
                try db.query("SELECT content FROM logs WHERE job_name = 'c'").rows.contains {
                    try $0.decode("content", as: String.self).contains("writable by others")
                })
            #expect(
                readFileBytes(state.path + "/cursors/c.cursor") == nil, "a cursor was written to a shared directory")
            // the monitor sweeps on, without its lock file there, and says so
            let monitor = try await OctoBinary.run(["monitor"], environment: shared)
            #expect(monitor.status == 0 && monitor.stderr.contains("writable by others"), "\(monitor.stderr)")
            #expect(readFileBytes(state.path + "/monitor.w1.lock") == nil)
            if geteuid() == 0 {
                // another user's directory, however strict its mode
                #expect(chmod(state.path, 0o700) == 0 && chown(state.path, 65534, 65534) == 0)
                let other = try await OctoBinary.run(["doctor"], environment: shared)
                #expect(
                    other.status == 1 && other.stdout.contains("belongs to uid 65534, not to this user"),
                    "\(other.stdout)")
            }
            #expect(chmod(state.path, 0o700) == 0 && chown(state.path, geteuid(), getegid()) == 0)
            let fine = try await OctoBinary.run(["sh", "run", "c", "--here", "--wait"], environment: shared)
            #expect(fine.status == 0, "\(fine.stderr)")
            #expect(readFileBytes(state.path + "/cursors/c.cursor") != nil)
        }
    }
}
