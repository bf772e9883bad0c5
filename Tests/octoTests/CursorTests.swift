import MariaDB
import OctoCore
import OctoTime
import TestSupport
import Testing

#if canImport(Glibc)
    import Glibc
#endif

/// `octo cursor` end to end: jobs that set their cursor with the built
/// binary, consumers, database outages, lost leases, two machines.
@Suite(.database, .bounded)
struct CursorTests {
    @discardableResult
    func addJob(_ db: Connection, _ name: String, _ command: String, _ attributes: [String: String] = [:]) throws -> Job
    {
        var j = Job(name: name, command: command)
        for (k, v) in attributes { try Job.attribute(k)!.set(&j, v) }
        return try JobStore.add(db, j, by: "test", defaultZone: "UTC")
    }

    /// Queues a run of `job` (on `machine` if given) and consumes it in the foreground.
    func runOnce(_ env: [String: String], _ job: String, on machine: String? = nil) async throws -> OctoBinary.Result {
        let queued = try await Shell.run(
            "\"$OCTO\" sh run \"$J\" -q" + (machine == nil ? "" : " --on \"$M\""),
            environment: env.merging(["J": job, "M": machine ?? ""]) { $1 })
        #expect(queued.status == 0, "\(queued.stderr)")
        return try await Shell.run("\"$OCTO\" consume", environment: env)
    }

    func get(_ env: [String: String], _ job: String) async throws -> String? {
        let r = try await Shell.run("\"$OCTO\" cursor get \"$J\"", environment: env.merging(["J": job]) { $1 })
        #expect(r.status == 0, "\(r.stderr)")
        return r.stdout.isEmpty ? nil : String(r.stdout.dropLast())  // the value, then one newline
    }

    func text(_ path: String) -> String { String(decoding: readFileBytes(path) ?? [], as: UTF8.self) }

    // MARK: - Within and across runs

    @Test func theNextRunGetsTheLastValueAndAFailedRunsValueIsKept() async throws {
        try await TestDatabase.withInitializedOcto { db, env, state in
            try addJob(
                db, "count",
                """
                printf '%s\\n' "$OCTO_CURSOR" >> "$SEEN"
                for v in one two three; do "$OCTO" cursor set "$v-$OCTO_RUN_ID" || exit 9; done
                """)
            let seen = state + "/seen"
            let env = env.merging(["SEEN": seen]) { $1 }
            #expect(try await runOnce(env, "count").status == 0)
            let first = try #require(try RunQueue.history(db, job: "count", limit: 1).first)
            #expect(try await get(env, "count") == "three-\(first.id)")
            #expect(first.cursorOut == "three-\(first.id)")
            // three stored values, in order, each from the run, versions rising within the run's epoch
            let history = try CursorStore.history(db, job: "count", limit: 10).reversed().map { $0 }
            #expect(history.map(\.value) == ["one", "two", "three"].map { "\($0)-\(first.id)" })
            #expect(history.map { CursorVersion.setNumber(of: $0.version) } == [1, 2, 3])
            #expect(Set(history.map { CursorVersion.epoch(of: $0.version) }).count == 1)
            #expect(history.allSatisfy { $0.via == "run" && $0.runID == first.id && $0.machine == "w1" })
            // the local file has it too, stored
            let local = try #require(try CursorFiles(stateDirectory: state).read("count"))
            #expect(local.value == "three-\(first.id)" && local.state == .synced)

            // the next run starts from it
            #expect(try await runOnce(env, "count").status == 0)
            let second = try #require(try RunQueue.history(db, job: "count", limit: 1).first)
            #expect(second.cursorIn == "three-\(first.id)")
            #expect(text(seen) == "\n" + "three-\(first.id)\n")

            // a run that fails after setting its cursor: the value stays, the next run starts from it
            try db.execute(
                "UPDATE jobs SET command = ? WHERE name = 'count'",
                [
                    .text(
                        "printf '%s\\n' \"$OCTO_CURSOR\" >> \"$SEEN\"; \"$OCTO\" cursor set \"failed-$OCTO_RUN_ID\"; exit 3"
                    )
                ])
            #expect(try await runOnce(env, "count").status == 1)
            let failed = try #require(try RunQueue.history(db, job: "count", limit: 1).first)
            #expect(failed.state == .failed && failed.exitCode == 3)
            #expect(try await get(env, "count") == "failed-\(failed.id)")
            #expect(failed.cursorOut == "failed-\(failed.id)")
            #expect(try await runOnce(env, "count").status == 1)
            let after = try #require(try RunQueue.history(db, job: "count", limit: 1).first)
            #expect(after.cursorIn == "failed-\(failed.id)")
        }
    }

    /// A run's lease token is for its own job's cursor: a job that names another (`OCTO_JOB=victim`) is refused and
    /// the other job's cursor stays as it was. Fails on the old code (the set was stored as victim's).
    @Test func aRunCannotSetAnotherJobsCursor() async throws {
        try await TestDatabase.withInitializedOcto { db, env, state in
            try addJob(
                db, "sneaky",
                """
                OCTO_JOB=victim "$OCTO" cursor set stolen 2>"$D/set-err"; echo $? > "$D/set-rc"
                """)
            try addJob(db, "victim", "true")
            let env = env.merging(["D": state]) { $1 }
            #expect(try await Shell.run("\"$OCTO\" cursor set victim own", environment: env).status == 0)
            #expect(try await runOnce(env, "sneaky").status == 0)
            #expect(text(state + "/set-rc") == "1\n", "\(text(state + "/set-err"))")
            #expect(
                text(state + "/set-err").contains("is a run of 'sneaky', not of 'victim'"),
                "\(text(state + "/set-err"))")
            #expect(try await get(env, "victim") == "own")
            #expect(try CursorStore.history(db, job: "victim", limit: 10).map(\.value) == ["own"])
        }
    }

    @Test func hostileValuesRoundTripExactlyAndAreNeverExecuted() async throws {
        try await TestDatabase.withInitializedOcto { db, env, state in
            let values = [
                "x'; touch \"$PWN\" #", "\"double\" and 'single' quotes", "line one\nline two", "$(touch \"$PWN\")",
                "`touch \"$PWN\"`", String(repeating: "漢", count: 341), "🐙 {cursor} {fire_time}"
            ]
            let pwn = state + "/pwned"
            // the job writes what it received three ways, then sets it again from inside the run
            try addJob(
                db, "h",
                """
                printf '%s' "$OCTO_CURSOR" > "$OUT.env"; printf '%s' {cursor} > "$OUT.placeholder"
                "$OCTO" cursor set "$OCTO_CURSOR"
                """)
            for value in values {
                let env = env.merging(["V": value, "PWN": pwn, "OUT": state + "/out"]) { $1 }
                let set = try await Shell.run("\"$OCTO\" cursor set h \"$V\"", environment: env)
                #expect(set.status == 0, "\(set.stderr)")
                #expect(try await get(env, "h") == value)
                #expect(try await runOnce(env, "h").status == 0)
                #expect(text(state + "/out.env") == value)
                #expect(text(state + "/out.placeholder") == value)
                let remote = try #require(try CursorStore.get(db, job: "h"))
                #expect(remote.value == value)
                #expect(remote.updatedRun != nil)  // stored again by the run
                let json = try await Shell.run("\"$OCTO\" cursor get h --json", environment: env)
                #expect(json.stdout.contains("\"version\":\(remote.version)"))
            }
            #expect(access(pwn, F_OK) != 0, "a cursor value was executed")
        }
    }

    @Test func badValuesAndUsageExitTwoAndChangeNothing() async throws {
        try await TestDatabase.withInitializedOcto { db, env, _ in
            try addJob(db, "j", "true")
            #expect(try await Shell.run("\"$OCTO\" cursor set j good", environment: env).status == 0)
            func rejected(_ script: String, _ message: String) async throws {
                let r = try await Shell.run(script, environment: env)
                #expect(r.status == 2, "\(script): \(r.stderr)")
                #expect(r.stderr.contains(message), "\(script): \(r.stderr)")
                #expect(r.stderr.split(separator: "\n").count == 1)
            }
            try await rejected(
                "\"$OCTO\" cursor set j \"$(head -c 1025 /dev/zero | tr '\\0' a)\"", "at most 1024 bytes")
            try await rejected("\"$OCTO\" cursor set j \"$(printf 'ok\\377bad')\"", "not valid UTF-8")
            try await rejected("\"$OCTO\" cursor set alone", "outside a run, name the job")
            try await rejected("\"$OCTO\" cursor set 'bad name' v", "invalid job name 'bad name'")
            try await rejected("\"$OCTO\" cursor set nosuchjob v", "no job named 'nosuchjob'")
            try await rejected("\"$OCTO\" cursor get nosuchjob", "no job named 'nosuchjob'")
            try await rejected("\"$OCTO\" cursor set j a b", "too many arguments")
            #expect(try CursorStore.get(db, job: "j")?.value == "good")
            #expect(try CursorStore.history(db, job: "j", limit: 10).count == 1)
            // a job without a cursor: nothing printed, exit 0
            try addJob(db, "empty", "true")
            let none = try await Shell.run("\"$OCTO\" cursor get empty", environment: env)
            #expect(none.status == 0 && none.stdout.isEmpty)
        }
    }

    // MARK: - Fencing

    @Test func aRunThatLostItsLeaseIsRefusedAndStopped() async throws {
        try await TestDatabase.withInitializedOcto { db, env, state in
            // the job ignores SIGTERM so that its set surely runs after the loss (its supervisor SIGKILLs it after the grace)
            try addJob(
                db, "slow",
                """
                trap '' TERM; touch "$D/started"
                while [ ! -e "$D/go" ]; do sleep 0.05; done
                "$OCTO" cursor set late 2>"$D/set-err"; echo $? > "$D/set-rc"
                sleep 600; touch "$D/finished"
                """)
            let env = env.merging(["D": state]) { $1 }
            #expect(try await Shell.run("\"$OCTO\" cursor set slow before", environment: env).status == 0)
            #expect(try await Shell.run("\"$OCTO\" sh run slow -q", environment: env).status == 0)
            _ = try await Shell.run(
                """
                ( "$OCTO" consume 2>"$D/consume-err" & echo $! > "$D/consume.pid"; wait $!; echo $? > "$D/consume-rc" ) \
                  >/dev/null 2>&1 &
                """, environment: env)
            #expect(await Processes.waitUntil(seconds: 120) { access(state + "/started", F_OK) == 0 })
            let consume = try #require(pid_t(text(state + "/consume.pid").trimmingWhitespace()))
            // the supervisor is held still until the job's set has run: its fence check cannot stop the job first
            #expect(kill(consume, SIGSTOP) == 0)
            // the machine's lease lapses (as if its network broke) and a sweep declares the run lost
            try db.execute(
                "UPDATE runs SET lease_expires_at = NOW(6) - INTERVAL 1 SECOND WHERE job_name = 'slow' AND state = 'running'"
            )
            #expect(try RunQueue.sweepLost(db).count == 1)
            _ = try await Shell.run("touch \"$D/go\"", environment: env)
            #expect(await Processes.waitUntil(seconds: 120) { !text(state + "/set-rc").isEmpty })
            #expect(text(state + "/set-rc") == "1\n", "\(text(state + "/set-err"))")
            #expect(
                text(state + "/set-err").contains("run") && text(state + "/set-err").contains("is lost"),
                "\(text(state + "/set-err"))")
            #expect(try await get(env, "slow") == "before")
            #expect(try CursorFiles(stateDirectory: state).read("slow")?.state == .refused)
            // its supervisor, going on, stops it: consume returns long before the job's sleep ends
            #expect(kill(consume, SIGCONT) == 0)
            #expect(await Processes.waitUntil(seconds: 120) { !text(state + "/consume-rc").isEmpty })
            #expect(access(state + "/finished", F_OK) != 0)
            let run = try #require(try RunQueue.history(db, job: "slow", limit: 1).first)
            #expect(run.state == .lost)
            // a later sync does not offer the refused value again
            let sync = try await Shell.run("\"$OCTO\" cursor sync --json", environment: env)
            #expect(sync.status == 0 && sync.stdout == "[]\n", "\(sync.stdout) \(sync.stderr)")
            #expect(try await get(env, "slow") == "before")
        }
    }

    @Test func aForcedSetWinsOverTheRunningRun() async throws {
        try await TestDatabase.withInitializedOcto { db, env, state in
            try addJob(
                db, "busy",
                """
                touch "$D/started"; while [ ! -e "$D/go" ]; do sleep 0.05; done
                "$OCTO" cursor set from-run 2>"$D/set-err"; echo $? > "$D/set-rc"
                """)
            let env = env.merging(["D": state]) { $1 }
            #expect(try await Shell.run("\"$OCTO\" sh run busy -q", environment: env).status == 0)
            _ = try await Shell.run("\"$OCTO\" consume >/dev/null 2>&1 &", environment: env)
            #expect(await Processes.waitUntil(seconds: 120) { access(state + "/started", F_OK) == 0 })
            let refused = try await Shell.run("\"$OCTO\" cursor set busy by-hand", environment: env)
            #expect(
                refused.status == 1 && refused.stderr.contains("is running") && refused.stderr.contains("--force"),
                "\(refused.stderr)")
            #expect(try CursorStore.get(db, job: "busy") == nil)
            #expect(try await Shell.run("\"$OCTO\" cursor set busy by-hand --force", environment: env).status == 0)
            _ = try await Shell.run("touch \"$D/go\"", environment: env)
            #expect(await Processes.waitUntil(seconds: 120) { !text(state + "/set-rc").isEmpty })
            #expect(text(state + "/set-rc") == "1\n")
            #expect(text(state + "/set-err").contains("older than the stored cursor"), "\(text(state + "/set-err"))")
            #expect(
                await Processes.waitUntil(seconds: 120) {
                    (try? RunQueue.history(db, job: "busy", limit: 1).first?.state.isFinished) == true
                })
            #expect(try await get(env, "busy") == "by-hand")
            let history = try CursorStore.history(db, job: "busy", limit: 10)
            #expect(history.map(\.via) == ["manual"] && history[0].machine.hasSuffix("@w1"))
        }
    }

    // MARK: - Outages and machines

    @Test func valuesSetDuringAnOutageAreSyncedLaterAndNeverGoBackwards() async throws {
        try await PrivateServer.withInitializedOcto { server, env, connect in
            let state = env["OCTO_STATE_DIR"]!
            let db = try connect()
            try addJob(
                db, "etl",
                """
                "$OCTO" cursor set a1 || exit 9; touch "$D/ready"
                while [ ! -e "$D/go" ]; do sleep 0.05; done
                "$OCTO" cursor set a2 2>>"$D/set-err"; echo $? >> "$D/set-rc"
                "$OCTO" cursor set a3 2>>"$D/set-err"; echo $? >> "$D/set-rc"
                touch "$D/done"
                """)
            db.close()
            let env = env.merging(["D": state]) { $1 }
            // the supervisor cannot renew the run's lease during the outage: on a loaded machine the server's
            // stop alone outlasted the default lease's kill deadline (50 s), and the job was killed before its sets
            #expect(try await Shell.run("\"$OCTO\" sh settings lease 1h -q", environment: env).status == 0)
            #expect(try await Shell.run("\"$OCTO\" sh run etl -q", environment: env).status == 0)
            let bg = try await Shell.run("\"$OCTO\" consume >/dev/null 2>&1 & echo $!", environment: env)
            let consume = try #require(pid_t(bg.stdout.trimmingWhitespace()))
            #expect(await Processes.waitUntil(seconds: 120) { access(state + "/ready", F_OK) == 0 })
            try await server.stop()
            _ = try await Shell.run("touch \"$D/go\"", environment: env)
            #expect(await Processes.waitUntil(seconds: 120) { access(state + "/done", F_OK) == 0 })
            // the job went on: both sets exited 0 with a warning, the local file holds the last value
            #expect(text(state + "/set-rc") == "0\n0\n")
            #expect(text(state + "/set-err").contains("cannot be reached"), "\(text(state + "/set-err"))")
            let files = CursorFiles(stateDirectory: state)
            let pending = try #require(try files.read("etl"))
            #expect(pending.value == "a3" && pending.state == .pending)
            // the supervisor dies before the database is back (its end cannot push anything)
            kill(consume, SIGKILL)
            #expect(await Processes.waitUntil(seconds: 120) { Processes.isGone(consume) })
            #expect(try await Shell.run("cp \"$D/cursors/etl.cursor\" \"$D/saved\"", environment: env).status == 0)
            try await server.start()

            #expect(try await get(env, "etl") == "a1")
            let sync = try await Shell.run("\"$OCTO\" cursor sync", environment: env)
            #expect(sync.status == 0, "\(sync.stderr)")
            #expect(sync.stdout.contains("stored cursor of etl"), "\(sync.stdout)")
            #expect(try await get(env, "etl") == "a3")
            #expect(try files.read("etl")?.state == .synced)
            let db2 = try connect()
            defer { db2.close() }
            #expect(try CursorStore.history(db2, job: "etl", limit: 10).map(\.via) == ["sync", "run"])

            // a later run moves it on; then the old pending file comes back (a restored backup, a slow disk):
            // sync refuses it, the cursor does not go back
            try db2.execute(
                "UPDATE runs SET state = 'lost', ended_at = NOW(6) WHERE job_name = 'etl' AND state = 'running'")
            try db2.execute("UPDATE jobs SET command = ? WHERE name = 'etl'", [.text("\"$OCTO\" cursor set b1")])
            #expect(try await runOnce(env, "etl").status == 0)
            #expect(try await get(env, "etl") == "b1")
            #expect(try await Shell.run("cp \"$D/saved\" \"$D/cursors/etl.cursor\"", environment: env).status == 0)
            let again = try await Shell.run("\"$OCTO\" cursor sync", environment: env)
            #expect(again.status == 0)
            #expect(again.stderr.contains("refused: run") && again.stderr.contains("supersedes it"), "\(again.stderr)")
            #expect(try await get(env, "etl") == "b1")
            #expect(try files.read("etl")?.state == .refused)
        }
    }

    @Test func theSupervisorStoresTheLastValueWhenTheDatabaseComesBackBeforeItGivesUp() async throws {
        try await PrivateServer.withInitializedOcto { server, env, connect in
            let state = env["OCTO_STATE_DIR"]!
            let db = try connect()
            try addJob(
                db, "late",
                """
                touch "$D/ready"; while [ ! -e "$D/go" ]; do sleep 0.05; done
                "$OCTO" cursor set z1 2>/dev/null; "$OCTO" cursor set z2 2>/dev/null; touch "$D/done"; exit 4
                """)
            db.close()
            let env = env.merging(["D": state]) { $1 }
            // the lease must not lapse during the outage, however loaded the machine (see above)
            #expect(try await Shell.run("\"$OCTO\" sh settings lease 1h -q", environment: env).status == 0)
            #expect(try await Shell.run("\"$OCTO\" sh run late -q", environment: env).status == 0)
            _ = try await Shell.run(
                "( \"$OCTO\" consume >/dev/null 2>&1; echo $? > \"$D/rc\" ) >/dev/null 2>&1 &", environment: env)
            #expect(await Processes.waitUntil(seconds: 120) { access(state + "/ready", F_OK) == 0 })
            // an outage that ends at once (a restart's start could outlast the supervisor's patience on a
            // loaded machine); the job ends during it, its supervisor retries the end
            try await server.cutOff()
            _ = try await Shell.run("touch \"$D/go\"", environment: env)
            #expect(await Processes.waitUntil(seconds: 120) { access(state + "/done", F_OK) == 0 })
            // its supervisor may try the end now or after the outage: the outcome is the same
            try await Task.sleep(for: .seconds(1))
            try await server.restore()
            #expect(await Processes.waitUntil(seconds: 120) { !text(state + "/rc").isEmpty })
            #expect(try await get(env, "late") == "z2")
            let db2 = try connect()
            defer { db2.close() }
            let history = try CursorStore.history(db2, job: "late", limit: 10)
            #expect(history.map(\.via) == ["end"])
            let run = try #require(try RunQueue.history(db2, job: "late", limit: 1).first)
            #expect(run.state == .failed && run.exitCode == 4 && run.cursorOut == "z2")
            #expect(try CursorFiles(stateDirectory: state).read("late")?.state == .synced)
        }
    }

    @Test func twoMachinesLocalValuesSyncToTheNewestInEitherOrder() async throws {
        try await TestDatabase.withInitializedOcto { db, env, state in
            for machine in ["w1", "w2"] {
                let r = try await Shell.run("\"$OCTO\" register --machine \(machine) -q", environment: env)
                #expect(r.status == 0, "\(r.stderr)")
            }
            // the job cannot reach the database (its own socket setting is wrong): its value stays local;
            // its supervisor is then killed, so nothing pushes it until a sync
            let command = """
                OCTO_DB_SOCKET=/nonexistent/octo.sock "$OCTO" cursor set "from-$OCTO_MACHINE" 2>/dev/null
                touch "$D/$OCTO_JOB-$OCTO_MACHINE"; sleep 60
                """
            for (job, order) in [("ab", ["w2", "w1"]), ("ba", ["w1", "w2"])] {
                try addJob(db, job, command, ["concurrency": "allow", "max_parallel": "2"])
                var consumers: [pid_t] = []
                for machine in ["w1", "w2"] {  // w1's run is claimed first, so w2's values are newer
                    let menv = env.merging([
                        "OCTO_MACHINE": machine, "OCTO_STATE_DIR": state + "/" + machine, "D": state
                    ]) { $1 }
                    #expect(
                        try await Shell.run("\"$OCTO\" sh run \(job) --on \(machine) -q", environment: menv).status == 0
                    )
                    let bg = try await Shell.run("\"$OCTO\" consume >/dev/null 2>&1 & echo $!", environment: menv)
                    consumers.append(try #require(pid_t(bg.stdout.trimmingWhitespace())))
                    #expect(await Processes.waitUntil(seconds: 120) { access(state + "/\(job)-\(machine)", F_OK) == 0 })
                }
                for pid in consumers { kill(pid, SIGKILL) }
                for pid in consumers { #expect(await Processes.waitUntil(seconds: 120) { Processes.isGone(pid) }) }
                for machine in order {
                    let menv = env.merging(["OCTO_MACHINE": machine, "OCTO_STATE_DIR": state + "/" + machine]) { $1 }
                    let local = try #require(try CursorFiles(stateDirectory: state + "/" + machine).read(job))
                    #expect(local.state == .pending && local.value == "from-\(machine)")
                    let sync = try await Shell.run("\"$OCTO\" cursor sync --json", environment: menv)
                    #expect(sync.status == 0, "\(sync.stderr)")
                    // w1's run was claimed before w2's: w2's value supersedes it, whichever reaches the database first
                    let expected = machine == "w1" ? "refused" : "stored"
                    #expect(sync.stdout.contains("\"result\":\"\(expected)\""), "\(job) \(machine): \(sync.stdout)")
                    #expect(
                        try await get(env, job) == (machine == "w2" || order == ["w2", "w1"] ? "from-w2" : nil),
                        "\(job) \(machine)")
                }
                #expect(try await get(env, job) == "from-w2", "\(job)")
            }
        }
    }
}
