import MariaDB
import OctoCore
import OctoTime
import TestSupport
import Testing

/// `octo sh` through the built binary, against a fresh database each.
@Suite(.database, .bounded)
struct ShTests {
    /// A fresh, initialised database and a runner bound to it.
    struct Env {
        let fresh: FreshDatabase
        func octo(_ args: String..., input: String? = nil) async throws -> OctoBinary.Result {
            try await OctoBinary.run(args, environment: fresh.environment.merging(["TZ": "UTC"]) { $1 }, input: input)
        }
        func db() throws -> Connection { try fresh.connect() }
        /// A fingerprint of the jobs table: changes if any row changes.
        func jobsFingerprint() throws -> String {
            let db = try db()
            defer { db.close() }
            return try db.query(
                "SELECT COUNT(*) AS n, COALESCE(MAX(updated_at), '') AS u, COALESCE(SUM(CRC32(CONCAT_WS('|', name, command, schedule, timezone, retries, paused, target))), 0) AS c FROM jobs"
            )
            .first.map {
                "\(try $0.decode("n", as: Int.self))/\(try $0.decode("u", as: String.self))/\(try $0.decode("c", as: String.self))"
            } ?? ""
        }
    }

    func withEnv(_ body: (Env) async throws -> Void) async throws {
        try await TestDatabase.withFresh { fresh in
            let env = Env(fresh: fresh)
            let r = try await env.octo("init", "-q")
            #expect(r.status == 0, "\(r.stderr)")
            try await body(env)
        }
    }

    @Test func addEditShowLsPauseResumeRm() async throws {
        try await withEnv { env in
            let hostile = "echo 'it''s' \"q\"; `date` $(id) 日本 🐙"
            var r = try await env.octo(
                "sh", "add", "backup", "--command", hostile, "--schedule", "30 2 * * *",
                "--timezone", "America/New_York", "--retries", "2", "--retry-delay", "1m", "--ok-codes", "3,0")
            #expect(r.status == 0, "\(r.stderr)")
            #expect(r.stdout.hasPrefix("added job 'backup'; next fire: "))
            let db = try env.db()
            defer { db.close() }
            var job = try JobStore.require(db, "backup")
            #expect(job.command == hostile)
            #expect(job.retries == 2 && job.retryDelay == 60 && job.okCodes == [0, 3])
            #expect(job.concurrency == .forbid && job.misfire == .once && job.alertLevel == .error)
            #expect(job.owner == currentUserName())
            let now = try JobStore.serverNow(db)
            let expectedNext = try Schedule("30 2 * * *").next(after: now, in: Zone.named("America/New_York"))
            #expect(job.nextFireAt == expectedNext)

            r = try await env.octo("sh", "show", "backup")
            #expect(r.status == 0)
            #expect(r.stdout.contains("command       " + hostile))
            #expect(r.stdout.contains("next fires    "))
            #expect(r.stdout.contains("no runs yet"))

            // edit changes only what it names; a new schedule recomputes the next fire
            let beforeEdit = try JobStore.serverNow(db)
            r = try await env.octo("sh", "edit", "backup", "--schedule", "0 * * * *", "--timezone", "Asia/Shanghai")
            #expect(r.status == 0, "\(r.stderr)")
            #expect(r.stdout == "job 'backup': changed schedule, timezone\n")
            job = try JobStore.require(db, "backup")
            #expect(job.command == hostile && job.retries == 2)
            // the next fire after the edit (an hour may have begun while it ran: either side of it)
            let hourly = try Schedule("0 * * * *")
            let shanghai = try Zone.named("Asia/Shanghai")
            #expect(
                [
                    hourly.next(after: beforeEdit, in: shanghai),
                    hourly.next(after: try JobStore.serverNow(db), in: shanghai)
                ]
                .contains(job.nextFireAt))

            _ = try await env.octo(
                "sh", "add", "other", "--command", "true", "--owner", "ops@example.com", "--target", "group:etl")
            let clash = try await env.octo("sh", "edit", "backup", "--rename", "other")
            #expect(clash.status == 2)
            #expect(clash.stderr == "octo: a job named 'other' already exists\n")
            #expect(try JobStore.get(db, "backup") != nil)
            r = try await env.octo("sh", "ls")
            #expect(r.lines.count == 3)
            #expect(r.lines[0].hasPrefix("NAME"))
            #expect(r.lines[1].hasPrefix("backup") && r.lines[2].hasPrefix("other"))
            r = try await env.octo("sh", "ls", "--owner", "ops@example.com")
            #expect(r.lines.count == 2 && r.lines[1].hasPrefix("other"))
            r = try await env.octo("sh", "ls", "--target", "group:etl", "--json")
            #expect(r.stdout.contains(#""name":"other""#) && !r.stdout.contains(#""name":"backup""#))

            r = try await env.octo("sh", "pause", "backup")
            #expect(r.stdout == "job 'backup' paused\n")
            let paused = try JobStore.require(db, "backup")
            #expect(paused.paused)
            // a pause of a paused job changes nothing, not even who changed it last
            r = try await env.octo("sh", "pause", "backup", "--machine", "elsewhere")
            #expect(r.stdout == "job 'backup' was already paused\n", "\(r.stderr)")
            let again = try JobStore.require(db, "backup")
            #expect(again.updatedBy == paused.updatedBy && again.updatedAt == paused.updatedAt, "\(again.updatedBy)")
            r = try await env.octo("sh", "ls", "--state", "paused")
            #expect(r.lines.count == 2 && r.lines[1].hasPrefix("backup"))
            r = try await env.octo("sh", "resume", "backup")
            #expect(r.stdout == "job 'backup' resumed\n")
            #expect(try !JobStore.require(db, "backup").paused)

            r = try await env.octo("sh", "rm", "other")
            #expect(r.status == 0)
            #expect(try JobStore.get(db, "other") == nil)
        }
    }

    @Test func rmIsRefusedWhileRunningAndKeepsHistory() async throws {
        try await withEnv { env in
            _ = try await env.octo("sh", "add", "busy", "--command", "sleep 100")
            let db = try env.db()
            defer { db.close() }
            let id = try JobStore.require(db, "busy").id!
            try db.execute(
                """
                INSERT INTO runs (job_id, job_name, fire_time, attempt, trigger_kind, state, queued_at, not_before)
                VALUES (?, 'busy', NOW(6), 1, 'manual', 'running', NOW(6), NOW(6))
                """, [.int(id)])
            var r = try await env.octo("sh", "rm", "busy")
            #expect(r.status == 2)
            #expect(r.stderr == "octo: job 'busy' has 1 running run(s); wait, kill them, or use --force\n")
            #expect(try JobStore.get(db, "busy") != nil)
            r = try await env.octo("sh", "rm", "busy", "--force")
            #expect(r.status == 0)
            #expect(try JobStore.get(db, "busy") == nil)
            let history: Int = try db.query("SELECT COUNT(*) AS n FROM runs WHERE job_name = 'busy'").first!.decode("n")
            #expect(history == 1)
        }
    }

    @Test func aRenamedJobTakesItsCursorRunsAndAlertsAlongAndWaitsForItsLiveRuns() async throws {
        try await withEnv { env in
            _ = try await env.octo("sh", "add", "inc", "--command", "true")
            #expect(try await env.octo("cursor", "set", "inc", "2026-11-01").status == 0)
            let db = try env.db()
            defer { db.close() }
            let id = try JobStore.require(db, "inc").id!
            func insertRun(_ state: String, secondsAgo: Int64) throws {
                try db.execute(
                    """
                    INSERT INTO runs (job_id, job_name, fire_time, attempt, trigger_kind, state, queued_at, not_before)
                    VALUES (?, 'inc', NOW(6) - INTERVAL ? SECOND, 1, 'manual', ?, NOW(6), NOW(6))
                    """, [.int(id), .int(secondsAgo), .text(state)])
            }
            try insertRun("failed", secondsAgo: 30)
            try db.execute(
                "INSERT INTO alerts (kind, job_name, first_at, last_at, first_line, last_line, next_attempt_at) VALUES ('failed', 'inc', NOW(6), NOW(6), 'x', 'x', NOW(6))"
            )
            // a run that is queued (or waiting, or running) holds a rename back: it was recorded under the old name
            try insertRun("queued", secondsAgo: 20)
            let held = try await env.octo("sh", "edit", "inc", "--rename", "inc2")
            #expect(held.status == 2, "\(held.stderr)")
            #expect(held.stderr.contains("job 'inc' has 1 queued, waiting or running run(s)"), "\(held.stderr)")
            #expect(try JobStore.get(db, "inc") != nil)
            #expect(try await env.octo("cursor", "get", "inc").stdout == "2026-11-01\n")
            try db.execute("UPDATE runs SET state = 'cancelled' WHERE state = 'queued'")
            // a cursor a removed job left under the new name gives way
            try db.execute(
                "INSERT INTO cursors (job_name, value, version, updated_at, updated_by) VALUES ('inc2', 'old', 1, NOW(6), 'x')"
            )
            let r = try await env.octo("sh", "edit", "inc", "--rename", "inc2")
            #expect(r.status == 0, "\(r.stderr)")
            #expect(try await env.octo("cursor", "get", "inc2").stdout == "2026-11-01\n")
            #expect(try await env.octo("cursor", "get", "inc").stdout == "")
            let history = try await env.octo("cursor", "history", "inc2")
            #expect(history.stdout.contains("2026-11-01"), "\(history.stdout)")
            let moved: Int = try db.query(
                "SELECT COUNT(*) AS n FROM runs WHERE job_id = ? AND job_name = 'inc2'", [.int(id)]
            ).first!.decode("n")
            #expect(moved == 2)
            #expect(try await env.octo("sh", "runs", "inc2").stdout.contains("failed"))
            let alerts: Int = try db.query("SELECT COUNT(*) AS n FROM alerts WHERE job_name = 'inc2'").first!.decode(
                "n")
            #expect(alerts == 1)
            // and removal counts the job's running runs under any name it had
            try insertRun("running", secondsAgo: 10)
            let rm = try await env.octo("sh", "rm", "inc2")
            #expect(rm.status == 2 && rm.stderr.contains("1 running run(s)"), "\(rm.stderr)")
        }
    }

    @Test func aJobUnpausedByEditDoesNotCatchUpTheFiresItMissedWhilePaused() async throws {
        try await withEnv { env in
            _ = try await env.octo(
                "sh", "add", "pz", "--command", "true", "--schedule", "*/5 * * * *", "--misfire", "all", "--paused",
                "true")
            let db = try env.db()
            defer { db.close() }
            // paused three days ago
            try db.execute("UPDATE jobs SET next_fire_at = NOW(6) - INTERVAL 3 DAY WHERE name = 'pz'")
            let before = try JobStore.serverNow(db)
            #expect(try await env.octo("sh", "edit", "pz", "--paused", "false").status == 0)
            let after = try JobStore.serverNow(db)
            let next = try #require(try JobStore.require(db, "pz").nextFireAt)
            // the first fire after the moment the edit ran, somewhere between the two reads (a 5-minute boundary
            // may fall between them)
            #expect(next > before && next <= after + .seconds(300), "\(next) after \(before)")
            // and the same through apply
            #expect(try await env.octo("sh", "pause", "pz").status == 0)
            try db.execute("UPDATE jobs SET next_fire_at = NOW(6) - INTERVAL 3 DAY WHERE name = 'pz'")
            let dir = TemporaryDirectory()
            defer { dir.remove() }
            let file = dir.write(
                "jobs.yaml",
                "jobs:\n  - name: pz\n    command: 'true'\n    schedule: '*/5 * * * *'\n    misfire: all\n")
            let applied = try await env.octo("sh", "apply", file)
            #expect(applied.status == 0, "\(applied.stderr)")
            let afterApply = try #require(try JobStore.require(db, "pz").nextFireAt)
            #expect(try !JobStore.require(db, "pz").paused && afterApply > before, "\(afterApply)")
        }
    }

    @Test func nextPrintsFiresInTheJobsZoneAcrossDST() async throws {
        try await withEnv { env in
            _ = try await env.octo(
                "sh", "add", "nightly", "--command", "true", "--schedule", "30 2 * * *", "--timezone",
                "America/New_York")
            let r = try await env.octo("sh", "next", "nightly", "-n", "3", "--after", "2026-03-07T00:00:00Z")
            #expect(r.status == 0, "\(r.stderr)")
            #expect(r.lines == ["2026-03-07T02:30:00-05:00", "2026-03-08T03:00:00-04:00", "2026-03-09T02:30:00-04:00"])
            let local = try await env.octo("sh", "next", "nightly", "-n", "1", "--after", "2026-11-01 01:30")
            #expect(local.lines == ["2026-11-01T02:30:00-05:00"])  // 01:30 EDT, the first one; 02:30 EST follows
        }
    }

    @Test func exportApplyRoundTripIsANoOp() async throws {
        try await withEnv { env in
            _ = try await env.octo(
                "sh", "add", "a", "--command", "echo \"a\" 'b' `c`\nsecond line", "--schedule", "@every 90s")
            _ = try await env.octo(
                "sh", "add", "b", "--command", "true", "--paused", "true", "--alert-to", "x@y.z,ops", "--timeout",
                "1h30m")
            // control characters (ESC, BEL) export as escapes that apply reads back
            _ = try await env.octo("sh", "add", "c", "--command", "printf '\u{1b}[1mbold\u{1b}[0m\u{7}'")
            let before = try env.jobsFingerprint()
            let exported = try await env.octo("sh", "export")
            #expect(exported.stdout.contains("\\e[1mbold"), "\(exported.stdout)")
            #expect(exported.status == 0)
            let dir = TemporaryDirectory()
            defer { dir.remove() }
            let file = dir.write("jobs.yaml", exported.stdout)
            let r = try await env.octo("sh", "apply", file)
            #expect(r.status == 0, "\(r.stderr)")
            #expect(r.stdout == "0 to create, 0 to change, 0 to remove, 3 unchanged\n")
            #expect(try env.jobsFingerprint() == before)
            #expect(try await env.octo("sh", "export").stdout == exported.stdout)
        }
    }

    @Test func applyCreatesUpdatesPrunesAndIsAllOrNothing() async throws {
        try await withEnv { env in
            _ = try await env.octo("sh", "add", "old", "--command", "true")
            _ = try await env.octo("sh", "add", "keep", "--command", "true", "--owner", "alice")
            let dir = TemporaryDirectory()
            defer { dir.remove() }
            let bad = dir.write(
                "bad.yaml",
                "jobs:\n  - name: keep\n    command: changed\n  - name: fresh\n    command: x\n  - name: broken\n    command: y\n    timezone: Mars/Olympus\n"
            )
            let before = try env.jobsFingerprint()
            var r = try await env.octo("sh", "apply", bad, "--prune")
            #expect(r.status == 2)
            #expect(
                r.stderr
                    == "octo: \(bad) line 8: invalid time zone 'Mars/Olympus': expected an IANA zone name such as Europe/London or UTC\n"
            )
            #expect(try env.jobsFingerprint() == before)

            let good = dir.write(
                "good.yaml", "jobs:\n  - name: keep\n    command: changed\n  - name: fresh\n    command: x\n")
            r = try await env.octo("sh", "apply", good, "--prune", "--dry-run")
            #expect(
                r.lines == [
                    "+ fresh", "~ keep: command \"true\" → \"changed\"", "- old",
                    "1 to create, 1 to change, 1 to remove, 0 unchanged (dry run: nothing changed)"
                ])
            #expect(try env.jobsFingerprint() == before)
            r = try await env.octo("sh", "apply", good, "--prune")
            #expect(r.status == 0)
            let db = try env.db()
            defer { db.close() }
            #expect(try JobStore.all(db).map(\.name) == ["fresh", "keep"])
            #expect(try JobStore.require(db, "keep").owner == "alice", "an omitted owner keeps its value")
            #expect(try JobStore.require(db, "keep").command == "changed")
        }
    }

    @Test(
        arguments: [
            (
                ["sh", "add", "x", "--command", "true", "--schedule", "0 25 * * *"],
                "invalid schedule '0 25 * * *': hour '25' is out of range 0-23"
            ),
            (
                ["sh", "add", "x", "--command", "true", "--timezone", "Europe/Atlantis"],
                "invalid time zone 'Europe/Atlantis'"
            ),
            // each machine's own zone: the same job would fire at different instants on different machines
            (
                ["sh", "add", "x", "--command", "true", "--timezone", "localtime"],
                "invalid time zone 'localtime': expected an IANA zone name such as Europe/London or UTC, the same on every machine"
            ),
            (["sh", "add", "bad name", "--command", "true"], "invalid job name 'bad name'"),
            // a path segment: a link to /jobs/.. is a link to /
            (["sh", "add", "..", "--command", "true"], "invalid job name '..'"),
            // longer than the columns hold: refused here, not by the server (exit 1, its error) after connecting
            (
                ["sh", "add", "x", "--command", "true", "--schedule", String(repeating: "0", count: 300) + " * * * *"],
                "at most 255 characters"
            ),
            (
                ["sh", "edit", "existing", "--owner", String(repeating: "e\u{301}", count: 200)],
                "invalid owner"
            ),
            (
                [
                    "sh", "edit", "existing", "--needs",
                    (0..<35).map { "n\($0)" + String(repeating: "x", count: 60) }.joined(separator: ",")
                ], "2048 characters in all"
            ),
            (
                ["register", "--machine", "w9"]
                    + (0..<40).flatMap { ["--group", "g\($0)" + String(repeating: "x", count: 30)] },
                "invalid --group list"
            ),
            // a name's control characters are shown as escapes, never sent to the terminal
            (["sh", "edit", "\u{1b}]0;pwned\u{7}"], "octo sh edit \\e]0;pwned\\x07: name at least one attribute"),
            (["sh", "edit", "existing", "--rename", "."], "invalid job name '.'"),
            (["sh", "add", "x", "--command", "true", "--timeout=-5m"], "invalid timeout '-5m'"),
            (["sh", "add", "x", "--command", "true", "--timeout", "-5m"], "invalid timeout '-5m'"),
            (["sh", "edit", "existing", "--retries", "-1"], "invalid retries '-1'"),
            (
                ["sh", "add", "x", "--command", "true", "--concurrency", "sometimes"],
                "invalid concurrency 'sometimes': expected forbid, queue, allow, replace"
            ),
            (["sh", "add", "x", "--command", "true", "--ok-codes", "0,300"], "invalid ok_codes '0,300'"),
            (["sh", "add", "x", "--command", "true", "--target", "group:"], "invalid target 'group:'"),
            (["sh", "add", "x", "--command", "true", "--retries", "many"], "invalid retries 'many'"),
            (["sh", "add", "x"], "needs --command"),
            (["sh", "add", "existing", "--command", "true"], "a job named 'existing' already exists"),
            (["sh", "edit", "nope", "--retries", "1"], "no job named 'nope'"),
            (["sh", "edit", "existing", "--paused", "maybe"], "invalid paused 'maybe': expected true or false"),
            (["sh", "settings", "lease", "forever"], "invalid lease 'forever'"),
            (["sh", "settings", "colour", "red"], "invalid setting 'colour'"),
            (["sh", "settings", "heartbeat", "5m"], "heartbeat at most half the lease"),
            (["sh", "next", "existing", "--after", "yesterday"], "invalid time 'yesterday'"),
            // issue 17's probe: extreme values crashed, odd ones were stored (each fails on the old code)
            (["sh", "next", "existing", "--after", "1000000-01-01T00:00Z"], "invalid time '1000000-01-01T00:00Z'"),
            (["sh", "next", "existing", "--after", "0000-01-01T00:00Z"], "invalid time '0000-01-01T00:00Z'"),
            (["sh", "next", "existing", "--after", "10000-01-01T00:00Z"], "invalid time '10000-01-01T00:00Z'"),
            (["sh", "log", "existing", "-n", "9223372036854775807"], "invalid -n '9223372036854775807'"),
            (["sh", "runs", "existing", "-n", "-1"], "invalid -n '-1'"),
            (["sh", "edit", "existing", "--retry-delay", "1h1h"], "invalid retry_delay '1h1h'"),
            (["sh", "edit", "existing", "--retry-delay", "30m1h"], "invalid retry_delay '30m1h'"),
            (["sh", "edit", "existing", "--owner", ""], "invalid owner ''"),
            (["sh", "edit", "existing", "--timezone", "Europe/London "], "invalid timezone 'Europe/London '"),
            (["sh", "edit", "existing", "--target", String(repeating: "m", count: 1025)], "at most 1024 characters"),
            (["sh", "edit", "existing", "--alert-to", "--exec=/bin/sh"], "invalid alert_to '--exec=/bin/sh'"),
            (
                ["sh", "edit", "existing", "--alert-to", "ops@example.com,|cmd"],
                "invalid alert_to 'ops@example.com,|cmd'"
            ),
            (["sh", "settings", "alert_command", String(repeating: "x", count: 70_000)], "at most 64 KiB"),
            (["sh", "alerts", "ack", "999999"], "no alert 999999"),
            // domain values parsed as such (ExpressibleByArgument), their choices on the same line
            (["sh", "ls", "--state", "weird"], "'weird' is invalid for '--state <state>'"),
            (["sh", "ls", "--state", "weird"], "one of the following: waiting, queued, running, succeeded"),
            (["sh", "log", "existing", "--level", "loud"], "'loud' is invalid for '--level <level>'")
        ] as [([String], String)])
    func badInputExitsTwoAndChangesNothing(_ args: [String], _ expected: String) async throws {
        try await withEnv { env in
            _ = try await env.octo("sh", "add", "existing", "--command", "true")
            let before = try env.jobsFingerprint()
            let settingsBefore = try await env.octo("sh", "settings", "--json").stdout
            let r = try await OctoBinary.run(args, environment: env.fresh.environment)
            #expect(r.status == 2, "\(r.stdout)\(r.stderr)")
            #expect(r.stderr.hasPrefix("octo: ") && r.stderr.filter { $0 == "\n" }.count == 1, "\(r.stderr)")
            #expect(r.stderr.contains(expected), "\(r.stderr)")
            #expect(try env.jobsFingerprint() == before)
            #expect(try await env.octo("sh", "settings", "--json").stdout == settingsBefore)
        }
    }

    @Test func valuesWithControlCharactersAreShownAsEscapesOnATerminalAndExactToScripts() async throws {
        try await withEnv { env in
            let command = "echo \u{1b}[31mred\u{1b}]0;title\u{7}"
            var r = try await env.octo("sh", "settings", "alert_command", command)
            #expect(r.stdout == "alert_command = echo \\e[31mred\\e]0;title\\x07\n", "\(r.stdout)")
            // into a pipe (a script): exact
            r = try await env.octo("sh", "settings", "alert_command")
            #expect(r.stdout == command + "\n")
            // on a terminal (script(1) gives it one): escaped
            let tty = try await Shell.run(
                "script -qec '\"$OCTO\" sh settings alert_command' /dev/null", environment: env.fresh.environment)
            #expect(tty.stdout.contains("echo \\e[31mred") && !tty.stdout.contains("\u{1b}"), "\(tty.stdout)")
            // a right-to-left override in an owner is shown as an escape, not obeyed
            _ = try await env.octo("sh", "add", "rtl", "--command", "true", "--owner", "x\u{202e}evil")
            let ls = try await env.octo("sh", "ls")
            #expect(ls.stdout.contains("x\\u202eevil") && !ls.stdout.contains("\u{202e}"), "\(ls.stdout)")
            // a server's message is escaped too (here it quotes the host name it could not resolve)
            let host = try await OctoBinary.run(
                ["sh", "ls"], environment: env.fresh.environment.merging(["OCTO_DB_HOST": "h\u{1b}[31m"]) { $1 })
            #expect(host.status != 0 && !host.stderr.contains("\u{1b}"), "\(host.stderr)")
        }
    }

    @Test func settingsAreValidatedAndStored() async throws {
        try await withEnv { env in
            var r = try await env.octo("sh", "settings", "lease", "2m")
            #expect(r.stdout == "lease = 2m\n")
            r = try await env.octo("sh", "settings", "lease")
            #expect(r.stdout == "2m\n")
            r = try await env.octo("sh", "settings", "default_tz", "Australia/Lord_Howe")
            #expect(r.status == 0)
            _ = try await env.octo("sh", "add", "z", "--command", "true", "--schedule", "@daily")
            r = try await env.octo("sh", "show", "z", "--json")
            #expect(r.stdout.contains(#""effective_timezone":"Australia/Lord_Howe""#))
            #expect(r.stdout.contains(#""timezone":"""#))

            // a new default_tz moves the next fire of the jobs that name no zone (it stayed an instant of the old
            // zone's: one fire at a time the schedule does not name); a job with its own zone keeps its fire
            _ = try await env.octo(
                "sh", "add", "own", "--command", "true", "--schedule", "0 3 * * *", "--timezone", "UTC")
            let db = try env.db()
            defer { db.close() }
            let ownBefore = try JobStore.require(db, "own").nextFireAt
            // a zone-less job already due keeps its fire for the producer
            _ = try await env.octo("sh", "add", "due", "--command", "true", "--schedule", "0 3 * * *")
            try db.execute("UPDATE jobs SET next_fire_at = NOW(6) - INTERVAL 1 MINUTE WHERE name = 'due'")
            let dueBefore = try JobStore.require(db, "due").nextFireAt
            let before = try JobStore.serverNow(db)
            r = try await env.octo("sh", "settings", "default_tz", "Asia/Tokyo")
            #expect(r.status == 0, "\(r.stderr)")
            let after = try JobStore.serverNow(db)
            let daily = try Schedule("@daily")
            let tokyo = try Zone.named("Asia/Tokyo")
            let next = try JobStore.require(db, "z").nextFireAt
            #expect(
                [daily.next(after: before, in: tokyo), daily.next(after: after, in: tokyo)].contains(next),
                "\(String(describing: next))")
            #expect(try JobStore.require(db, "own").nextFireAt == ownBefore)
            #expect(try JobStore.require(db, "due").nextFireAt == dueBefore)
        }
    }
}
