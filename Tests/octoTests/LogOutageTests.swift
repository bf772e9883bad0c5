import MariaDB
import OctoCore
import OctoTime
import TestSupport
import Testing

#if canImport(Glibc)
    import Glibc
#endif

/// Log lines across a database outage: each test stops and starts a
/// MariaDB server of its own (so the other tests keep theirs).
@Suite(.database, .bounded)
struct LogOutageTests {
    func withServer(_ body: (PrivateServer, [String: String], () throws -> Connection) async throws -> Void)
        async throws
    {
        try await PrivateServer.withInitializedOcto(body)
    }

    func numbers(_ connect: () throws -> Connection, _ job: String, order: String = "id") throws -> [Int] {
        let db = try connect()
        defer { db.close() }
        return try db.query("SELECT content FROM logs WHERE job_name = ? ORDER BY \(order)", [.text(job)]).rows.map {
            Int(try $0.decode("content", as: String.self)) ?? -1
        }
    }

    @Test func aLoggerRidesOutAnOutageAndReplaysItsOwnSpool() async throws {
        try await withServer { server, env, connect in
            let dir = env["OCTO_STATE_DIR"]!
            // 300 numbered lines, gated so each part meets the database in the state the test means, however
            // loaded the machine: 1-30 while it is up, 31-270 while it is down (spooled), 271-300 once it is
            // back (still spooled until the stream's spool is replayed, so they cannot overtake 31-270)
            func gate(_ name: String) -> String { "while [ ! -e \"\(dir)/\(name)\" ]; do sleep 0.05; done" }
            _ = try await Shell.run(
                """
                ( { seq 1 30; \(gate("down")); for i in $(seq 31 270); do echo $i; sleep 0.01; done; \(gate("up")); seq 271 300; } \
                  | "$OCTO" logger -n outage 2>"\(dir)/err"; echo $? > "\(dir)/rc" ) >/dev/null 2>&1 &
                """, environment: env)
            #expect(try await Processes.waitUntil(seconds: 120) { try numbers(connect, "outage").count >= 30 })
            try await server.stop()
            _ = try await Shell.run("touch \"\(dir)/down\"", environment: env)
            try await Task.sleep(for: .seconds(1.5))
            try await server.start()
            _ = try await Shell.run("touch \"\(dir)/up\"", environment: env)
            #expect(await Processes.waitUntil(seconds: 120) { readFileBytes(dir + "/rc") != nil })
            #expect(String(decoding: readFileBytes(dir + "/rc") ?? [], as: UTF8.self).hasPrefix("0"))
            let err = String(decoding: readFileBytes(dir + "/err") ?? [], as: UTF8.self)
            // the logger itself replayed its spool once the database was back: nothing left, nothing twice, in order
            #expect(Spool(stateDirectory: dir).files().isEmpty, "\(err)")
            #expect(try numbers(connect, "outage") == Array(1...300))
            #expect(try numbers(connect, "outage", order: "logged_at, id") == Array(1...300))
        }
    }

    /// A line spooled during an outage reaches the table once the database is back while its program is
    /// still silent: the writer holds its next line back until the test has seen the first one stored (order,
    /// not a stopwatch). Fails on the old code, which replayed the spool only when another line arrived.
    @Test func aSilentProgramsSpooledLineIsStoredWhenTheDatabaseIsBack() async throws {
        try await withServer { server, env, connect in
            let dir = env["OCTO_STATE_DIR"]!
            func gate(_ name: String) -> String { "while [ ! -e \"\(dir)/\(name)\" ]; do sleep 0.05; done" }
            _ = try await Shell.run(
                """
                ( { echo first; \(gate("down")); echo early; \(gate("seen")); echo late; } \
                  | "$OCTO" logger -n silent 2>"\(dir)/err"; echo $? > "\(dir)/rc" ) >/dev/null 2>&1 &
                """, environment: env)
            func contents() throws -> [String] {
                let db = try connect()
                defer { db.close() }
                return try db.query("SELECT content FROM logs WHERE job_name = 'silent' ORDER BY id").rows.map {
                    try $0.decode("content", as: String.self)
                }
            }
            #expect(try await Processes.waitUntil(seconds: 120) { try contents() == ["first"] })
            try await server.stop()
            _ = try await Shell.run("touch \"\(dir)/down\"", environment: env)
            let spooled = await Processes.waitUntil(seconds: 120) { !Spool(stateDirectory: dir).files().isEmpty }
            #expect(spooled, "the line went to the spool while the database was down")
            try await server.start()
            let stored = try await Processes.waitUntil(seconds: 120) { try contents() == ["first", "early"] }
            let err = String(decoding: readFileBytes(dir + "/err") ?? [], as: UTF8.self)
            #expect(stored, "the spooled line waited for the next one: \(err)")
            _ = try await Shell.run("touch \"\(dir)/seen\"", environment: env)
            #expect(await Processes.waitUntil(seconds: 120) { readFileBytes(dir + "/rc") != nil })
            #expect(try contents() == ["first", "early", "late"])
            #expect(Spool(stateDirectory: dir).files().isEmpty)
        }
    }

    /// `sh log --follow` waits out a database restart and carries on with the lines written after it.
    /// Fails on the old code (the follower exited when its retries ran out).
    @Test func aFollowerRidesOutARestart() async throws {
        try await withServer { server, env, connect in
            let dir = env["OCTO_STATE_DIR"]!
            #expect(try await Shell.run("echo before | \"$OCTO\" logger -n app", environment: env).status == 0)
            let bg = try await Shell.run(
                "\"$OCTO\" sh log app --follow > \"\(dir)/followed\" 2>&1 & echo $!", environment: env)
            let pid = try #require(pid_t(bg.stdout.trimmingWhitespace()))
            defer { kill(pid, SIGKILL) }
            func followed() -> String { String(decoding: readFileBytes(dir + "/followed") ?? [], as: UTF8.self) }
            #expect(await Processes.waitUntil(seconds: 120) { followed().contains("before") })
            try await server.stop()
            try await Task.sleep(for: .seconds(3))  // longer than the old follower's retries (about 2 s)
            try await server.start()
            #expect(try await Shell.run("echo after | \"$OCTO\" logger -n app", environment: env).status == 0)
            #expect(await Processes.waitUntil(seconds: 120) { followed().contains("after") }, "\(followed())")
            #expect(!Processes.isGone(pid), "the follower exited")
        }
    }

    @Test func aReplayKilledHalfWayLosesAndDuplicatesNothing() async throws {
        try await withServer { server, env, connect in
            let dir = env["OCTO_STATE_DIR"]!
            let total = 200_000
            try await server.stop()
            // the database is down for the whole run: every line goes to the spool, exit 0 and a warning
            let spooled = try await Shell.run("seq 1 \(total) | \"$OCTO\" logger -n big", environment: env)
            #expect(spooled.status == 0)
            #expect(spooled.stderr.contains("\(total) log lines went to the spool"), "\(spooled.stderr)")
            let spool = Spool(stateDirectory: dir)
            #expect(spool.pendingLineCount() == total)
            try await server.start()

            // a replay (any octo logger replays at start), killed with SIGKILL half-way. The table is read-locked
            // before it starts and let go only for an instant at a time (UNLOCK, then LOCK again at once: an
            // insert waiting for the table gets through, hardly more), so the replay moves a batch or so per
            // step and is counted and killed only while it is held — however fast or slow the machine, or
            // however late this test gets the CPU back, the kill lands after part and before the end.
            let holder = try connect()
            defer { holder.close() }
            try holder.run("LOCK TABLES logs READ")
            let bg = try await Shell.run(
                "\"$OCTO\" logger -n replayer </dev/null >/dev/null 2>&1 & echo $!", environment: env)
            let pid = try #require(pid_t(bg.stdout.trimmingWhitespace()))
            // (on a thread of its own: the test runner's few threads go on with the other tests)
            nonisolated(unsafe) let stepping = holder
            try await Threads.run {
                let deadline = Monotonic.seconds() + 120
                while try stepping.query("SELECT COUNT(*) AS n FROM logs WHERE job_name = 'big'").first!.decode(
                    "n", as: Int.self) < 2_000, Monotonic.seconds() < deadline
                {
                    usleep(10_000)  // held: the replay waits at its insert
                    try stepping.run("UNLOCK TABLES")
                    try stepping.run("LOCK TABLES logs READ")
                }
                kill(pid, SIGKILL)
            }
            #expect(await Processes.waitUntil(seconds: 120) { Processes.isGone(pid) })
            try holder.run("UNLOCK TABLES")
            let partial = try numbers(connect, "big").count
            #expect(partial > 0 && partial < total, "the kill came after \(partial) of \(total) lines")
            #expect(spool.files().count == 1)

            // the next replay finishes the job: every number once, in order
            let again = try await Shell.run("\"$OCTO\" logger -n replayer -v </dev/null", environment: env)
            #expect(again.status == 0, "\(again.stderr)")
            #expect(spool.files().isEmpty)
            let got = try numbers(connect, "big")
            #expect(got.count == total)
            #expect(got == Array(1...total))
        }
    }

    @Test func anUnreadableSpoolFileIsSetAsideAndTheOthersReplay() async throws {
        try await withServer { server, env, connect in
            let spool = Spool(stateDirectory: env["OCTO_STATE_DIR"]!)
            try await server.stop()
            #expect(try await Shell.run("seq 1 100 | \"$OCTO\" logger -n later", environment: env).status == 0)
            // older than it (names sort by time): a file that is no spool file, and one of another format version
            let (junk, other) = (
                spool.directory + "/00000000000000001-1-1.spool", spool.directory + "/00000000000000002-1-2.spool"
            )
            _ = try await Shell.run(
                "printf 'not a spool' > \"\(junk)\"; printf 'OCTOSPL9 from a newer octo' > \"\(other)\"")
            // and a FIFO (its open waited for a writer: every replay hung) and a link (followed to any file)
            let (fifo, link) = (
                spool.directory + "/00000000000000000-1-0.spool", spool.directory + "/00000000000000003-1-3.spool"
            )
            _ = try await Shell.run("mkfifo \"\(fifo)\"; ln -s \"\(junk)\" \"\(link)\"")
            #expect(spool.files() == [fifo, junk, other, link] + spool.files().suffix(1))
            try await server.start()
            let r = try await Shell.run("\"$OCTO\" logger -n replayer </dev/null", environment: env)
            #expect(r.status == 0)
            // the junk no longer stops the replay: set aside (kept, named in a warning); the other version's file waits for it
            for f in [junk, fifo, link] {
                #expect(r.stderr.contains("\(f).unreadable: not a log spool file this octo can read"), "\(r.stderr)")
            }
            #expect(try numbers(connect, "later") == Array(1...100))
            #expect(spool.files() == [other])
            #expect(readFileBytes(junk + ".unreadable") == Array("not a spool".utf8))
        }
    }

    @Test func consumeKeepsARunsLinesAcrossAnOutage() async throws {
        try await withServer { server, env, connect in
            let db = try connect()
            defer { db.close() }
            _ = try JobStore.add(
                db, Job(name: "chatty", command: "for i in $(seq 1 60); do echo $i; sleep 0.05; done"), by: "t",
                defaultZone: "UTC")
            #expect(try await Shell.run("\"$OCTO\" sh run chatty -q", environment: env).status == 0)
            let dir = env["OCTO_STATE_DIR"]!
            _ = try await Shell.run(
                "( \"$OCTO\" consume 2>\"\(dir)/err\"; echo $? > \"\(dir)/rc\" ) >/dev/null 2>&1 &", environment: env)
            #expect(
                try await Processes.waitUntil(seconds: 120) {
                    try numbers(connect, "chatty").filter { $0 > 0 }.count >= 5
                })
            // an outage that ends at once: a restart's start could outlast the supervisor's patience for the
            // run's end on a loaded machine (the logger's restart tests above take a real restart)
            try await server.cutOff()
            try await Task.sleep(for: .seconds(2))
            try await server.restore()
            #expect(await Processes.waitUntil(seconds: 120) { readFileBytes(dir + "/rc") != nil })
            let err = String(decoding: readFileBytes(dir + "/err") ?? [], as: UTF8.self)
            #expect(String(decoding: readFileBytes(dir + "/rc") ?? [], as: UTF8.self).hasPrefix("0"), "\(err)")
            let lines = try numbers(connect, "chatty").filter { $0 > 0 }
            #expect(lines == Array(1...60), "\(err)")
            let db2 = try connect()
            defer { db2.close() }
            let state: String = try db2.query("SELECT state FROM runs WHERE job_name = 'chatty'").first!.decode("state")
            #expect(state == "succeeded")
        }
    }
}
