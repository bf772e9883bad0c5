import MariaDB
import OctoCore
import OctoTime
import TestSupport
import Testing

@Suite(.database, .bounded)
struct InitDoctorTests {
    @Test func initTwiceThenDoctorIsGreen() async throws {
        try await TestDatabase.withFresh { fresh in
            let first = try await OctoBinary.run(["init"], environment: fresh.environment)
            #expect(first.status == 0, "\(first.stderr)")
            #expect(first.stdout.contains("schema v0 → v\(Schema.latest)"))
            let second = try await OctoBinary.run(["init"], environment: fresh.environment)
            #expect(second.status == 0)
            #expect(second.stdout.contains("up to date (v\(Schema.latest))"))

            let state = TemporaryDirectory()
            defer { _ = try? ChildProcess.run(["rm", "-rf", state.path]) }
            let doctor = try await OctoBinary.run(
                ["doctor", "--machine", "w1"],
                environment: fresh.environment.merging(["OCTO_STATE_DIR": state.path]) { $1 })
            #expect(doctor.status == 0, "\(doctor.stdout)\(doctor.stderr)")
            let names = doctor.lines.filter { !$0.hasPrefix(" ") }.map {
                $0.split(separator: " ", omittingEmptySubsequences: true)[1]
            }
            #expect(names == ["config", "waiting", "connection", "schema", "privileges", "clock"])
            #expect(doctor.lines.allSatisfy { $0.hasPrefix("ok ") })
            #expect(doctor.stdout.contains("machine 'w1'"))
            let quiet = try await OctoBinary.run(["doctor", "-q"], environment: fresh.environment)
            #expect(quiet.status == 0)
            #expect(quiet.stdout.isEmpty)
        }
    }

    /// Lines and cursor values kept on this machine during an outage are reported until they are out.
    @Test func doctorReportsWhatWaitsForTheDatabase() async throws {
        try await TestDatabase.withInitializedOcto { _, env, _ in
            let clean = try await OctoBinary.run(["doctor"], environment: env)
            #expect(
                clean.lines.contains { $0.hasPrefix("ok ") && $0.contains("waiting") && $0.contains("nothing waits") },
                "\(clean.stdout)")
            var away = env
            away["OCTO_DB_SOCKET"] = "/nonexistent/mysqld.sock"
            away["OCTO_DB_HOST"] = "localhost"
            let logged = try await Shell.run("printf 'a\\nb\\nc\\n' | \"$OCTO\" logger -n away", environment: away)
            #expect(logged.status == 0, "\(logged.stderr)")
            // an in-run set with the database away stays local (exit 0)
            var run = away
            (run["OCTO_JOB"], run["OCTO_RUN_ID"], run["OCTO_RUN_TOKEN"], run["OCTO_CURSOR_EPOCH"]) = (
                "nightly", "1", "t0", "7"
            )
            let set = try await OctoBinary.run(["cursor", "set", "v1"], environment: run)
            #expect(set.status == 0, "\(set.stderr)")
            let waiting = try await OctoBinary.run(["doctor", "-q"], environment: env)
            #expect(waiting.status == 0, "\(waiting.stdout)")  // a warning, not a failure
            #expect(
                waiting.lines.first
                    == "warn  waiting     3 log line(s) in 1 spool file(s) and cursor value(s) of nightly wait for the database",
                "\(waiting.stdout)")
            // the spool is replayed by the monitor, the cursor by sync (refused here: run 1 never existed); then nothing waits
            #expect(try await OctoBinary.run(["monitor", "-q"], environment: env).status == 0)
            _ = try await OctoBinary.run(["cursor", "sync", "-q"], environment: env)
            let after = try await OctoBinary.run(["doctor", "-q"], environment: env)
            #expect(after.status == 0 && after.stdout.isEmpty, "\(after.stdout)")
        }
    }

    /// Privileges as `SHOW GRANTS` gives them: the README's worker account, the same through nested roles, table
    /// grants. A worker without ALTER, DROP on logs is warned (its monitor cannot keep log partitions).
    @Test func doctorReadsPrivilegesFromGrantsAndRoles() async throws {
        try await TestDatabase.withFresh { fresh in
            #expect(try await OctoBinary.run(["init", "-q"], environment: fresh.environment).status == 0)
            let root = try fresh.connect()
            defer { root.close() }
            let tag = String(fresh.name.suffix(10).filter { $0.isLetter || $0.isNumber || $0 == "_" })
            let (direct, viaRoles, partial, roleW, roleL) = (
                "d_\(tag)", "r_\(tag)", "p_\(tag)", "rw_\(tag)", "rl_\(tag)"
            )
            let db = "`\(fresh.name)`"
            defer {
                for u in [direct, viaRoles, partial] { try? root.run("DROP USER IF EXISTS '\(u)'@'localhost'") }
                for r in [roleW, roleL] { try? root.run("DROP ROLE IF EXISTS \(r)") }
            }
            for statement in [
                "CREATE USER '\(direct)'@'localhost' IDENTIFIED BY 'pw'",
                "GRANT SELECT, INSERT, UPDATE, DELETE ON \(db).* TO '\(direct)'@'localhost'",
                "CREATE ROLE \(roleW)", "GRANT SELECT, INSERT, UPDATE, DELETE ON \(db).* TO \(roleW)",
                "CREATE ROLE \(roleL)", "GRANT ALTER, DROP ON \(db).`logs` TO \(roleL)", "GRANT \(roleL) TO \(roleW)",
                "CREATE USER '\(viaRoles)'@'localhost' IDENTIFIED BY 'pw'",
                "GRANT \(roleW) TO '\(viaRoles)'@'localhost'",
                "SET DEFAULT ROLE \(roleW) FOR '\(viaRoles)'@'localhost'",
                "CREATE USER '\(partial)'@'localhost' IDENTIFIED BY 'pw'",
                "GRANT SELECT, UPDATE, DELETE ON \(db).* TO '\(partial)'@'localhost'",
                "GRANT INSERT ON \(db).`jobs` TO '\(partial)'@'localhost'"
            ] { try root.run(statement) }
            let state = TemporaryDirectory()
            defer { state.remove() }
            func doctor(_ user: String) async throws -> (status: Int32, line: String, all: String) {
                let env = fresh.environment.merging([
                    "OCTO_DB_USER": user, "OCTO_DB_PASSWORD": "pw", "OCTO_STATE_DIR": state.path
                ]) { $1 }
                let r = try await OctoBinary.run(["doctor"], environment: env)
                return (r.status, r.lines.first { $0.contains(" privileges ") } ?? "", r.stdout + r.stderr)
            }
            let initNeedsAnother =
                "can run jobs and keep log partitions; CREATE, ALTER, DROP, INDEX on `\(fresh.name)` missing, so octo init needs another account"

            let plain = try await doctor(direct)
            #expect(plain.status == 0, "\(plain.all)")
            #expect(
                plain.line.hasPrefix("warn ") && plain.line.contains("without ALTER, DROP on `\(fresh.name)`.`logs`"),
                "\(plain.all)")
            #expect(
                plain.all.contains("fix: GRANT ALTER, DROP ON `\(fresh.name)`.`logs` TO '\(direct)'@'localhost'"),
                "\(plain.all)")
            try root.run("GRANT ALTER, DROP ON \(db).`logs` TO '\(direct)'@'localhost'")  // the README's worker account
            let readme = try await doctor(direct)
            #expect(
                readme.status == 0 && readme.line.hasPrefix("ok ") && readme.line.contains(initNeedsAnother),
                "\(readme.all)")

            let roles = try await doctor(viaRoles)
            #expect(
                roles.status == 0 && roles.line.hasPrefix("ok ") && roles.line.contains(initNeedsAnother),
                "\(roles.all)")

            let some = try await doctor(partial)
            #expect(some.status == 1, "\(some.all)")
            let lacking = Schema.objects.filter { $0 != "jobs" }.joined(separator: ", ")
            #expect(
                some.line.hasPrefix("fail ") && some.line.contains("lacks INSERT (on \(lacking)) in `\(fresh.name)`"),
                "\(some.all)")
            #expect(
                some.all.contains(
                    "fix: GRANT SELECT, INSERT, UPDATE, DELETE ON `\(fresh.name)`.* TO '\(partial)'@'localhost'"),
                "\(some.all)")
        }
    }

    @Test func doctorSaysWhatIsWrongAndHowToFixIt() async throws {
        try await TestDatabase.withFresh { fresh in
            // database exists but has no schema
            let r = try await OctoBinary.run(["doctor", "--json"], environment: fresh.environment)
            #expect(r.status == 1)
            #expect(r.stdout.contains(#""name":"schema""#))
            #expect(r.stdout.contains(#""fix":"octo init""#))
            #expect(r.stdout.contains(#""status":"fail""#))

            var env = fresh.environment
            env["OCTO_DB_NAME"] = fresh.name + "_missing"
            let missing = try await OctoBinary.run(["doctor"], environment: env)
            #expect(missing.status == 1)
            #expect(missing.stdout.contains("database '\(fresh.name)_missing' does not exist"))
            #expect(missing.stdout.contains("fix: octo init"))

            env = fresh.environment
            env["OCTO_DB_SOCKET"] = "/nonexistent/mysqld.sock"
            let down = try await OctoBinary.run(["doctor"], environment: env)
            #expect(down.status == 1)
            #expect(down.stdout.contains("cannot reach MariaDB"))
            #expect(down.stdout.contains("/nonexistent/mysqld.sock"))
        }
    }

    /// An init that waits for another one longer than the cron path's read timeout still succeeds: it waits
    /// in short steps (and its own connection reads with a long timeout: a migration's DDL is work, not a hang).
    @Test func initWaitsForAnotherOneLongerThanTheReadTimeout() async throws {
        try await TestDatabase.withFresh { fresh in
            let holder = try fresh.connect()
            defer { holder.close() }
            let lock = "octo.init." + fresh.name
            #expect(
                try holder.query("SELECT GET_LOCK(?, 0) AS got", [.text(lock)]).first?.decode("got", as: Int.self) == 1)
            async let waiting = OctoBinary.run(["init"], environment: fresh.environment)
            let seen = await Processes.waitUntil(seconds: 120) {
                let n: Int? = try? holder.query(
                    "SELECT COUNT(*) AS n FROM information_schema.PROCESSLIST WHERE DB = ? AND INFO LIKE 'SELECT GET_LOCK%'",
                    [.text(fresh.name)]
                ).first?.decode("n")
                return n == 1
            }
            #expect(seen, "octo init never waited for the lock")
            try await Task.sleep(for: .seconds(Int(ConnectionOptions().readTimeout) + 5))
            _ = try holder.query("SELECT RELEASE_LOCK(?)", [.text(lock)])
            let r = try await waiting
            #expect(r.status == 0, "\(r.stderr)")
            #expect(r.stdout.contains("schema v0 → v\(Schema.latest)"), "\(r.stdout)")
        }
    }

    @Test func concurrentInitFromFourMachines() async throws {
        try await TestDatabase.withFresh { fresh in
            let results = try await withThrowingTaskGroup(of: OctoBinary.Result.self) { group in
                for i in 1...4 {
                    group.addTask {
                        try await OctoBinary.run(["init", "--machine", "m\(i)"], environment: fresh.environment)
                    }
                }
                return try await group.reduce(into: []) { $0.append($1) }
            }
            #expect(results.map(\.status) == [0, 0, 0, 0], "\(results.map(\.stderr))")
            let applied = results.filter { $0.stdout.contains("→") }.count
            #expect(applied >= 1)
            let db = try fresh.connect()
            defer { db.close() }
            let versions = try db.query("SELECT version FROM schema_version").rows.map {
                try $0.decode("version", as: Int.self)
            }
            #expect(versions == Array(1...Schema.latest))
            let settings: Int = try #require(try db.query("SELECT COUNT(*) AS n FROM settings").first).decode("n")
            #expect(settings == Settings.keys.count)
            #expect(try Migrator.currentVersion(db) == Schema.latest)
        }
    }

    @Test func newerSchemaIsRefused() async throws {
        try await TestDatabase.withFresh { fresh in
            #expect(try await OctoBinary.run(["init"], environment: fresh.environment).status == 0)
            let db = try fresh.connect()
            try db.execute(
                "INSERT INTO schema_version VALUES (?, 'future', NOW(6), 'x')", [.int(Int64(Schema.latest + 1))])
            db.close()
            let r = try await OctoBinary.run(["init"], environment: fresh.environment)
            #expect(r.status == 1)
            #expect(
                r.stderr
                    == "octo: database '\(fresh.name)' has schema v\(Schema.latest + 1), newer than this octo knows (v\(Schema.latest)); upgrade octo on this machine\n"
            )
        }
    }
}

struct BadInputTests {
    @Test(
        arguments: [
            (["init", "--machine", "bad name"], [:], "invalid machine name 'bad name'"),
            (["init", "--machine", String(repeating: "x", count: 65)], [:], "invalid machine name"),
            (["doctor"], ["OCTO_DB_PORT": "port80"], "invalid port 'port80'"),
            (["doctor", "--defaults-file", "/nonexistent/my.cnf"], [:], "'/nonexistent/my.cnf' does not exist"),
            (["init", "--frobnicate"], [:], "--frobnicate"),
            (["nosuchcommand"], [:], "nosuchcommand"),
            (["sh", "runs", "j", "-n", "0"], [:], "invalid -n '0'"),
            (["sh", "alerts", "-n", "10001"], [:], "invalid -n '10001'"),
            (["sh", "next", "j", "-n", "20000"], [:], "invalid -n '20000'"),
            (["cursor", "history", "j", "-n", "0"], [:], "invalid -n '0'")
        ] as [([String], [String: String], String)])
    func exitTwoWithOneLineNamingTheValue(_ args: [String], _ env: [String: String], _ expected: String) async throws {
        let r = try await OctoBinary.run(args, environment: env)
        #expect(r.status == 2)
        #expect(r.stderr.hasPrefix("octo: "))
        #expect(r.stderr.filter { $0 == "\n" }.count == 1, "one line: \(r.stderr)")
        #expect(r.stderr.contains(expected), "\(r.stderr)")
        #expect(r.stdout.isEmpty)
    }

    @Test func malformedOptionFile() async throws {
        let dir = TemporaryDirectory()
        defer { dir.remove() }
        let file = dir.write("bad.cnf", "[client]\nuser = x\n[octo\n")
        let r = try await OctoBinary.run(["doctor", "--defaults-file", file])
        #expect(r.status == 2)
        #expect(r.stderr == "octo: option file '\(file)' line 3: group header '[octo' has no closing ']'\n")
    }

    @Test func readablePasswordFileIsWarnedAbout() async throws {
        let dir = TemporaryDirectory()
        defer { dir.remove() }
        let file = dir.write("pw.cnf", "[client]\nsocket = /nonexistent/s.sock\npassword = topsecret\n", mode: 0o644)
        let r = try await OctoBinary.run(["doctor"], environment: ["OCTO_DEFAULTS_FILE": file])
        #expect(
            r.stderr.contains(
                "octo: warning: \(file) holds a password and other users can read it (mode 644); run: chmod 600 \(file)"
            ))
        #expect(!r.stderr.contains("topsecret") && !r.stdout.contains("topsecret"))
    }
}
