import MariaDB
import OctoCore
import OctoTime
import TestSupport
import Testing

#if canImport(Glibc)
    import Glibc
#endif

/// `octo logger` and `octo sh log` end to end, through the built binary.
@Suite(.database, .bounded)
struct LoggerTests {
    func contents(_ db: Connection, _ job: String) throws -> [String] {
        try db.query("SELECT content FROM logs WHERE job_name = ? ORDER BY logged_at, id", [.text(job)]).rows.map {
            try $0.decode("content")
        }
    }

    @Test func storesParsedAndPlainLinesAndTeesTheInputUnchanged() async throws {
        try await TestDatabase.withInitializedOcto { db, env, _ in
            // plain lines, an Octopus line, invalid UTF-8, a NUL, an empty line, CRLF, no final newline
            let r = try await Shell.run(
                """
                printf 'first\\n2013/07/04:16:41:00 app_name error Process has exited!\\nbad \\377 byte\\nnul\\000here\\n\\ncrlf\\r\\nlast' > "$OCTO_STATE_DIR/in"
                "$OCTO" logger -n plain.job-1 -l warn --tee < "$OCTO_STATE_DIR/in" > "$OCTO_STATE_DIR/out" && cmp "$OCTO_STATE_DIR/in" "$OCTO_STATE_DIR/out"
                """, environment: env)
            #expect(r.status == 0, "\(r.stderr)")
            #expect(r.stderr.isEmpty, "\(r.stderr)")
            #expect(try contents(db, "plain.job-1") == ["first", "bad \u{FFFD} byte", "nulhere", "", "crlf", "last"])
            let levels = try db.query("SELECT DISTINCT level FROM logs WHERE job_name = 'plain.job-1'").rows.map {
                try $0.decode("level", as: String.self)
            }
            #expect(levels == ["warn"])
            let parsed = try #require(try db.query("SELECT * FROM logs WHERE job_name = 'app_name'").first)
            #expect(try parsed.decode("level", as: String.self) == "error")
            #expect(try parsed.decode("content", as: String.self) == "Process has exited!")
            #expect(try parsed.decode("machine", as: String.self) == "w1")
            // the machine runs in UTC here (TZ unset in the test environment's zone check below)
            let at: Instant = try parsed.decode("logged_at")
            let zone = try Zone.named(Zone.localName(environment: processEnvironment()))
            #expect(zone.local(at).iso8601() == "2013-07-04T16:41:00")

            // lines dated far ahead and long ago are stored (catch-all partitions)
            let edges = try await OctoBinary.run(
                ["logger"], environment: env,
                input: "9999-12-31T23:59:59Z edge info future\n1001-01-01T00:00:00Z edge info past\n")
            #expect(edges.status == 0, "\(edges.stderr)")
            #expect(Set(try contents(db, "edge")) == ["future", "past"])
        }
    }

    /// The bytes `LOAD DATA` treats specially (tab, backslash, `\N`, a backslash at the end) are stored as sent,
    /// with NULL and non-NULL codes (a run's lines, with their run ids, are `QueueTests`'); the same through the
    /// INSERT path when the server's `local_infile` is off (the server then refuses `LOAD DATA LOCAL`, and octo
    /// falls back). On a server of its own (a server-wide setting is switched, and the server's count of
    /// `LOAD DATA` statements must be this test's alone), the two cases one after the other.
    @Test func bytesThatLoadDataEscapesAreStoredAsSent() async throws {
        try await PrivateServer.withInitializedOcto { _, env, connect in
            let db = try connect()
            defer { db.close() }
            for localInfile in [true, false] { try await storeEscapes(db, env, localInfile: localInfile) }
        }
    }

    func storeEscapes(_ db: Connection, _ env: [String: String], localInfile: Bool) async throws {
        let job = localInfile ? "escapes-load" : "escapes-insert"
        let special = [
            "tab\there", #"back\slash \N \t \\ \0"#, #"\N"#, #"ends with \"#, "a\rb", "", "\\N\t"
        ]
        // enough lines for the bulk path (a batch of a few lines goes through INSERT)
        let lines = (1...20).flatMap { i in special.map { i == 1 ? $0 : "\(i) \($0)" } }
        func loads() throws -> Int {
            Int(try db.query("SHOW GLOBAL STATUS LIKE 'Com_load'").first!.decode("Value", as: String.self)) ?? -1
        }
        let loadsBefore = try loads()
        var input = lines.map { $0 + "\n" }.joined()
        input += "2026/12/07:10:00:00 \(job) 120 exit 0\n"
        if !localInfile { try db.run("SET GLOBAL local_infile = 0") }
        defer { if !localInfile { try? db.run("SET GLOBAL local_infile = 1") } }
        let r = try await OctoBinary.run(["logger", "-n", job], environment: env, input: input)
        #expect(r.status == 0, "\(r.stderr)")
        let stored = try db.query(
            "SELECT content, run_id, code FROM logs WHERE job_name = ? ORDER BY id", [.text(job)]
        ).rows.map { (try $0.decode("content", as: String.self), try $0.decode("code", as: Int?.self)) }
        #expect(stored.map(\.0) == lines + ["exit 0"], "\(stored)")
        #expect(stored.dropLast().allSatisfy { $0.1 == nil } && stored.last?.1 == 120, "\(stored)")
        if localInfile { #expect(try loads() > loadsBefore, "the lines did not go through LOAD DATA") }
    }

    @Test func aReaderGoingAwayDownstreamLosesNothing() async throws {
        try await TestDatabase.withInitializedOcto { db, env, _ in
            // head exits after one line: the tee gets EPIPE, the logging goes on to the end of the input
            let r = try await Shell.run(
                """
                seq 1 50000 | { "$OCTO" logger -n teed --tee; echo "logger rc=$?" >&2; } | head -1
                """, environment: env)
            #expect(r.stdout.hasPrefix("1\n"), "\(r.stdout)")
            #expect(r.stderr == "logger rc=0\n", "\(r.stderr)")
            let n: Int = try db.query("SELECT COUNT(*) AS n FROM logs WHERE job_name = 'teed'").first!.decode("n")
            #expect(n == 50_000)
            // a stop signal ends the reading while the input is still open, and what was read is stored
            // (read: its --tee copy shows it; the signal follows at once, before or after the 0.2 s store)
            let stopped = try await Shell.run(
                """
                mkfifo "$OCTO_STATE_DIR/fifo"
                "$OCTO" logger -n stopped --tee < "$OCTO_STATE_DIR/fifo" > "$OCTO_STATE_DIR/copy" & pid=$!
                exec 3> "$OCTO_STATE_DIR/fifo"
                echo one >&3; echo two >&3
                until grep -q two "$OCTO_STATE_DIR/copy" || ! kill -0 $pid; do sleep 0.05; done
                kill -TERM $pid; wait $pid; echo "rc=$?"
                exec 3>&-
                """, environment: env)
            #expect(stopped.stdout.contains("rc=143"), "\(stopped.stdout) \(stopped.stderr)")
            #expect(try contents(db, "stopped") == ["one", "two"])
        }
    }

    /// The database is away and the spool's disk fills up (a file size limit): the logger reads its
    /// input to the end (the writer is not killed by SIGPIPE), keeps what the spool takes, prints every line it
    /// could not keep on stderr and exits 1 — so every line is either stored (after the replay) or printed.
    /// Fails on the old code (it stopped reading at the first failed spool write and lost the rest).
    @Test func aFullSpoolDiskLosesNoLineSilently() async throws {
        try await TestDatabase.withInitializedOcto { db, env, dir in
            let down = env.merging(["OCTO_DB_SOCKET": "/nonexistent/mysqld.sock"]) { $1 }
            // the file size limit is the logger's alone: its stderr goes through a pipe to cat, outside the limit
            _ = try await Shell.run(
                """
                { seq 1 100000; echo $? > "\(dir)/seqrc"; } | (trap '' XFSZ; ulimit -f 64; "$OCTO" logger -n full; echo $? > "\(dir)/rc") 2>&1 \
                  | cat > "\(dir)/err"
                """, environment: down)
            let seq = String(decoding: readFileBytes(dir + "/seqrc") ?? [], as: UTF8.self).trimmingWhitespace()
            let rc = String(decoding: readFileBytes(dir + "/rc") ?? [], as: UTF8.self).trimmingWhitespace()
            #expect(seq == "0" && rc == "1", "seq's and the logger's exit statuses: \(seq) \(rc)")
            let err = String(decoding: readFileBytes(dir + "/err") ?? [], as: UTF8.self)
            #expect(err.contains("could not store or spool log lines"), "\(err.prefix(500))")
            let printed = Set(err.split(separator: "\n").compactMap { Int($0) })
            // the spool is replayed by the next logger that reaches the database
            #expect(try await OctoBinary.run(["logger", "-n", "other"], environment: env, input: "x\n").status == 0)
            let stored = try db.query("SELECT content FROM logs WHERE job_name = 'full'").rows.map {
                Int(try $0.decode("content", as: String.self)) ?? -1
            }
            #expect(!stored.isEmpty && !printed.isEmpty, "stored \(stored.count), printed \(printed.count)")
            let lost = Set(1...100_000).subtracting(Set(stored).union(printed))
            #expect(lost.isEmpty, "\(lost.count) lines lost, e.g. \(lost.sorted().prefix(10))")
            #expect(stored.count == Set(stored).count, "a line stored twice")
        }
    }

    /// A command that cannot be started (here: no file descriptor left for its pipes) is exit 127 with the reason,
    /// as a shell says of a command it cannot run. Fails on the old code (exit 0, "could not store or spool log
    /// lines": a cron line's failure to start was a success).
    @Test func aCommandThatCannotStartIsExit127() async throws {
        let state = TemporaryDirectory()
        defer { state.remove() }
        let away = [
            "OCTO_STATE_DIR": state.path, "OCTO_DB_SOCKET": "/nonexistent/mysqld.sock", "OCTO_DB_HOST": "localhost"
        ]
        let r = try await Shell.run("ulimit -n 6; \"$OCTO\" logger -n x -- echo hi", environment: away)
        #expect(r.status == 127, "\(r.stdout)\(r.stderr)")
        #expect(r.stderr.hasPrefix("octo: cannot start echo: ") && r.stdout.isEmpty, "\(r.stderr)")
    }

    /// A batch's spool record is written 256 KiB at a time: when the disk fills after some of its pieces,
    /// the file is cut back to where the batch began, so its lines are printed and never also replayed.
    @Test func aSpoolWriteThatFailsAfterSomePiecesLeavesTheFileAsItWas() async throws {
        try await TestDatabase.withInitializedOcto { db, env, dir in
            let down = env.merging(["OCTO_DB_SOCKET": "/nonexistent/mysqld.sock"]) { $1 }
            // 5,000 lines of about 1 KB from a file (reads never wait, so batches fill by size, 1 MiB or more, not
            // by age): a batch's spool record takes several pieces. The file may grow to 1.8 MB (sh counts
            // 512-byte blocks): the first batch fits, a later one fails after some of its pieces
            _ = try await Shell.run(
                """
                awk 'BEGIN { pad = sprintf("%1000s", ""); gsub(/ /, "x", pad); for (i = 1; i <= 5000; i++) print i, pad }' \\
                  > "\(dir)/in"
                (trap '' XFSZ; ulimit -f 3600; "$OCTO" logger -n big < "\(dir)/in"; echo $? > "\(dir)/rc") 2>&1 \\
                  | cat > "\(dir)/err"
                """, environment: down)
            let rc = String(decoding: readFileBytes(dir + "/rc") ?? [], as: UTF8.self).trimmingWhitespace()
            #expect(rc == "1", "the logger's exit status: \(rc)")
            let err = String(decoding: readFileBytes(dir + "/err") ?? [], as: UTF8.self)
            #expect(err.contains("could not store or spool log lines"), "\(err.prefix(500))")
            let printed = err.split(separator: "\n").compactMap { $0.split(separator: " ").first.flatMap { Int($0) } }
            #expect(try await OctoBinary.run(["logger", "-n", "other"], environment: env, input: "x\n").status == 0)
            let stored = try db.query("SELECT content FROM logs WHERE job_name = 'big'").rows.map {
                Int(try $0.decode("content", as: String.self).split(separator: " ").first ?? "") ?? -1
            }
            #expect(!stored.isEmpty && !printed.isEmpty, "stored \(stored.count), printed \(printed.count)")
            let lost = Set(1...5000).subtracting(Set(stored).union(printed))
            #expect(lost.isEmpty, "\(lost.count) lines lost, e.g. \(lost.sorted().prefix(10))")
            let twice = Set(stored).intersection(printed)
            #expect(twice.isEmpty, "\(twice.count) lines printed and stored, e.g. \(twice.sorted().prefix(10))")
            #expect(stored.count == Set(stored).count && printed.count == Set(printed).count, "a line kept twice")
        }
    }

    @Test func hostileInputIsStoredCutAndMemoryStaysFlat() async throws {
        try await TestDatabase.withInitializedOcto { db, env, _ in
            // a 10 MiB line between two short ones, then a million short lines, through /usr/bin/time for the peak RSS
            let r = try await Shell.run(
                """
                { echo before; head -c 10485760 /dev/zero | tr '\\0' 'x'; echo; echo after; seq 1 1000000; } \
                  | /usr/bin/time -f '%M' -o "$OCTO_STATE_DIR/rss" "$OCTO" logger -n hostile
                cat "$OCTO_STATE_DIR/rss"
                """, environment: env)
            #expect(r.status == 0, "\(r.stderr)")
            let peakKiB = try #require(Int(r.stdout.trimmingWhitespace()))
            #expect(peakKiB < 40 * 1024, "peak RSS \(peakKiB) KiB")  // bound stated in the README (debug build here)
            let n: Int = try db.query("SELECT COUNT(*) AS n FROM logs WHERE job_name = 'hostile'").first!.decode("n")
            #expect(n == 1_000_003)
            let long = try #require(
                try db.query(
                    "SELECT CHAR_LENGTH(content) AS len, truncated FROM logs WHERE job_name = 'hostile' AND content LIKE 'xxx%'"
                ).first)
            #expect(try long.decode("len", as: Int.self) == LogText.maxBytes)
            #expect(try long.decode("truncated", as: Bool.self))
            let firstLines = try db.query("SELECT content FROM logs WHERE job_name = 'hostile' ORDER BY id LIMIT 4")
                .rows.map { try $0.decode("content", as: String.self) }
            #expect(
                firstLines.count == 4 && firstLines[0] == "before" && firstLines[2] == "after" && firstLines[3] == "1")
            let distinct: Int = try db.query("SELECT COUNT(DISTINCT content) AS n FROM logs WHERE job_name = 'hostile'")
                .first!.decode("n")
            #expect(distinct == 1_000_003)
            // each line kept its place in the stream (the n-th line of `seq` is the (n + 3)-th, across the
            // batches the store thread took), and times never go back in it
            let misplaced: Int = try db.query(
                "SELECT COUNT(*) AS n FROM logs WHERE job_name = 'hostile' AND seq > 3 AND content <> CAST(seq - 3 AS CHAR)"
            ).first!.decode("n")
            #expect(misplaced == 0)
            let backwards: Int = try db.query(
                """
                SELECT COUNT(*) AS n FROM (SELECT logged_at < LAG(logged_at) OVER (ORDER BY seq) AS back
                FROM logs WHERE job_name = 'hostile') AS t WHERE back
                """
            ).first!.decode("n")
            #expect(backwards == 0)
        }
    }

    /// A line is stored while its program is still running and silent: the
    /// writer holds "late" back until the test has seen "early" in the table
    /// (ordering, not a stopwatch: a logger that waited for more input or for
    /// the end of input would never let it go on). The delay itself is
    /// `LogPipeline.maxDelay` (0.2 s) by construction.
    @Test func aSlowProgramsLineIsStoredBeforeItsNextLine() async throws {
        try await TestDatabase.withInitializedOcto { db, env, _ in
            let gate = env["OCTO_STATE_DIR"]! + "/gate"
            // the writer waits for the gate alone (the test opens it, also when it fails; the writer stops when
            // the test's state directory is gone); the whole pipeline is detached from this shell's output, which
            // the test's runner may read to its end: with the writer's stderr open, that read could last until
            // the writer gave up waiting and wrote "late" (the CI failures of 2026-12-06 and 2026-12-07)
            let bg = try await Shell.run(
                """
                ( { echo early; while [ ! -e "\(gate)" ] && [ -d "$OCTO_STATE_DIR" ]; do sleep 0.1; done; echo late; } \
                  | "$OCTO" logger -n slow 2>"$OCTO_STATE_DIR/err" ) </dev/null >/dev/null 2>&1 &
                echo started
                """, environment: env)
            #expect(bg.status == 0)
            let seen = try await Processes.waitUntil(seconds: 120) { try contents(db, "slow") == ["early"] }
            let err = String(decoding: readFileBytes(env["OCTO_STATE_DIR"]! + "/err") ?? [], as: UTF8.self)
            #expect(try await Shell.run("touch \"\(gate)\"").status == 0)
            let now = try contents(db, "slow")
            #expect(seen, "the first line waited for the next one: \(err) \(now)")
            #expect(try await Processes.waitUntil(seconds: 120) { try contents(db, "slow") == ["early", "late"] })
        }
    }

    @Test func followShowsLinesFromAnotherMachineWhileItRuns() async throws {
        try await TestDatabase.withInitializedOcto { db, env, _ in
            let out = env["OCTO_STATE_DIR"]! + "/follow.out"
            #expect(try await Shell.run("echo old | \"$OCTO\" logger -n fol", environment: env).status == 0)
            let bg = try await Shell.run("\"$OCTO\" sh log fol --follow > \"\(out)\" 2>&1 & echo $!", environment: env)
            let pid = try #require(pid_t(bg.stdout.trimmingWhitespace()))
            defer { kill(pid, SIGTERM) }
            #expect(
                await Processes.waitUntil(seconds: 120) {
                    readFileBytes(out).map { String(decoding: $0, as: UTF8.self).contains("old") } ?? false
                })
            let other = env.merging(["OCTO_MACHINE": "w2"]) { $1 }
            #expect(try await Shell.run("echo fresh-line | \"$OCTO\" logger -n fol", environment: other).status == 0)
            // the follower polls every 250 ms; the bound here is generous (a loaded CI machine), the
            // point is that a running follower shows a line written after it started, once
            let shown = await Processes.waitUntil(seconds: 120) {
                readFileBytes(out).map { String(decoding: $0, as: UTF8.self).contains(" w2 info   fresh-line") }
                    ?? false
            }
            #expect(shown)
            let text = String(decoding: readFileBytes(out) ?? [], as: UTF8.self)
            #expect(text.components(separatedBy: "old").count == 2, "each line once: \(text)")
        }
    }

    @Test func runsACommandLogsItsLifeAndReturnsItsExitCode() async throws {
        try await TestDatabase.withInitializedOcto { db, env, _ in
            let r = try await Shell.run("\"$OCTO\" logger -- sh -c 'echo out; echo err >&2; exit 3'", environment: env)
            #expect(r.status == 3)
            let rows = try db.query("SELECT level, code, content FROM logs WHERE job_name = 'sh' ORDER BY id").rows
            let got = try rows.map {
                "\(try $0.decode("level", as: String.self)) \(try $0.decode("code", as: Int?.self).map(String.init) ?? "-") \(try $0.decode("content", as: String.self))"
            }
            #expect(got.count == 4, "\(got)")
            #expect(got.first == "info 100 start: sh -c 'echo out; echo err >&2; exit 3'")
            #expect(Set(got[1...2]) == ["info - out", "warn - err"])
            #expect(got.last?.hasPrefix("error 120 end: failed, exit 3 after ") == true, "\(got)")

            let ok = try await Shell.run(
                "\"$OCTO\" logger -n named --tee -- printf '%s\\n' 'a b' \"it's\"", environment: env)
            #expect(ok.status == 0)
            #expect(ok.stdout == "a b\nit's\n")
            #expect(try contents(db, "named").dropFirst().dropLast() == ["a b", "it's"])
            #expect(try contents(db, "named").last?.hasPrefix("end: succeeded, exit 0 after") == true)

            let killed = try await Shell.run("\"$OCTO\" logger -n killed -- sh -c 'kill -9 $$'", environment: env)
            #expect(killed.status == 137)
            #expect(try contents(db, "killed").last?.hasPrefix("end: failed, signal 9 (SIGKILL) after") == true)

            let missing = try await Shell.run("\"$OCTO\" logger -n missing -- /no/such/program", environment: env)
            #expect(missing.status == 127)
            #expect(try contents(db, "missing").count == 3)  // start, the shell's complaint, end
        }
    }

    @Test func badInputIsRefusedAndStoresNothing() async throws {
        try await TestDatabase.withInitializedOcto { db, env, _ in
            for args in [
                ["-l", "loud"], ["-l", "120"], ["-n", "bad name"], ["-n", String(repeating: "n", count: 65)],
                ["--run", "x"], ["--run", "0"]
            ] {
                let r = try await Shell.run(
                    "echo hi | \"$OCTO\" logger " + args.map(CrontabBlock.shellQuote).joined(separator: " "),
                    environment: env)
                #expect(r.status == 2, "\(args)")
                #expect(r.stderr.split(separator: "\n").count == 1, "\(r.stderr)")
                #expect(r.stderr.contains(args[1].prefix(20)), "\(r.stderr)")
            }
            for args in [
                ["sh", "log", "j", "--level", "loud"], ["sh", "log", "j", "--since", "yesterday"],
                ["sh", "log", "j", "-n", "-1"],
                ["sh", "log", "bad name"], ["sh", "log", "j", "--follow", "--until", "1h"]
            ] {
                let r = try await OctoBinary.run(args, environment: env)
                #expect(r.status == 2, "\(args): \(r.stderr)")
                #expect(r.stderr.split(separator: "\n").count == 1, "\(r.stderr)")
            }
            #expect(try db.query("SELECT COUNT(*) AS n FROM logs").first!.decode("n", as: Int.self) == 0)
            // an OCTO_RUN_ID that is no run id (a script's stray value) is left out of the lines, which are stored;
            // before, the database refused them and they sat in a spool file that stopped every later replay
            let stray = try await OctoBinary.run(
                ["logger", "-n", "strayrun"], environment: env.merging(["OCTO_RUN_ID": "-1"]) { $1 }, input: "kept\n")
            #expect(stray.status == 0 && stray.stderr.contains("OCTO_RUN_ID '-1' is not a run id"), "\(stray.stderr)")
            let kept = try db.query("SELECT content, run_id FROM logs WHERE job_name = 'strayrun'").rows
            #expect(kept.count == 1)
            #expect(try kept.first?.decode("content", as: String.self) == "kept")
            #expect(try kept.first?.decode("run_id", as: Int64?.self) == nil)
        }
    }

    @Test func shLogFiltersByLevelTextMachineAndTime() async throws {
        try await TestDatabase.withInitializedOcto { db, env, _ in
            let lines = """
                2026-11-21T10:00:00Z app info starting
                2026-11-21T10:00:01Z app warn disk 91% full
                2026-11-21T10:00:02Z app error disk full
                2026-11-21T10:00:03Z app debug details
                2026-11-21T10:00:04Z app 120 exit 1
                """
            #expect(try await OctoBinary.run(["logger"], environment: env, input: lines + "\n").status == 0)
            #expect(
                try await OctoBinary.run(
                    ["logger", "-n", "app"], environment: env.merging(["OCTO_MACHINE": "w2"]) { $1 }, input: "from w2\n"
                ).status == 0)
            func show(_ args: [String]) async throws -> [String] {
                let r = try await OctoBinary.run(["sh", "log", "app"] + args, environment: env)
                #expect(r.status == 0, "\(r.stderr)")
                return r.lines.filter { !$0.isEmpty }.map {
                    String($0.split(separator: " ", maxSplits: 4).last!.drop(while: { $0 == " " }))
                }
            }
            #expect(
                try await show(["--until", "2026-11-21T11:00Z"]) == [
                    "starting", "disk 91% full", "disk full", "details", "exit 1"
                ])
            #expect(
                try await show(["--level", "warn", "--until", "2026-11-21T11:00Z"]) == ["disk 91% full", "disk full"])
            #expect(
                try await show(["--grep", "disk", "--until", "2026-11-21T11:00Z"]) == ["disk 91% full", "disk full"])
            #expect(try await show(["--grep", "DISK"]).isEmpty)
            #expect(try await show(["--machine", "w2"]) == ["from w2"])
            #expect(
                try await show(["--since", "2026-11-21T10:00:02Z", "--until", "2026-11-21T10:00:04Z"]) == [
                    "disk full", "details"
                ])
            #expect(try await show(["-n", "2"]) == ["exit 1", "from w2"])
            #expect(try await show(["--since", "1h"]) == ["from w2"])
            let json = try await OctoBinary.run(
                ["sh", "log", "app", "--json", "-n", "1", "--level", "error"], environment: env)
            #expect(json.stdout.contains("\"content\":\"disk full\""), "\(json.stdout)")
            #expect(json.stdout.contains("\"level\":\"error\""))
        }
    }
}
