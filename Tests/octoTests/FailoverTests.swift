import MariaDB
import OctoCore
import TestSupport
import Testing

/// A primary and a semi-sync replica (`scripts/mariadb-pair`), three machines running the cron lines every
/// second, a planned switchover and then a crash failover (SIGKILL) while they work: every invariant of the
/// fleet holds across both.
@Suite(.database, .bounded)
struct FailoverTests {
    @Test func aSwitchoverAndACrashFailoverUnderLoadDoubleAndLoseNothing() async throws {
        let dir = TemporaryDirectory()
        let pair = dir.path + "/pair"
        let started = try await Shell.run(
            "\"$ROOT/scripts/mariadb-pair\" start \"$P\"", environment: ["ROOT": Shell.root, "P": pair])
        do {
            try #require(started.status == 0, "\(started.stderr)")
            try await workload(dir, pair)
        } catch {
            Issue.record(error)
        }
        _ = try await Shell.run(
            "\"$ROOT/scripts/mariadb-pair\" stop \"$P\"", environment: ["ROOT": Shell.root, "P": pair])
        _ = try await Shell.run("rm -rf \"$D\"", environment: ["D": dir.path])
    }

    func read(_ file: String) async throws -> String {
        let r = try await Shell.run("cat \"$F\"", environment: ["F": file])
        try #require(r.status == 0, "\(file): \(r.stderr)")
        return r.stdout
    }

    func pairCommand(_ pair: String, _ what: String) async throws {
        let r = try await Shell.run(
            "\"$ROOT/scripts/mariadb-pair\" \(what) \"$P\"", environment: ["ROOT": Shell.root, "P": pair])
        try #require(r.status == 0, "mariadb-pair \(what): \(r.stderr)")
    }

    /// `octo doctor` with the pair healthy: ok; with the replica's replication stopped it warns — the primary's
    /// commits would wait an hour for an acknowledgement — then ok again.
    /// (doctor only reads: nothing waits on the primary meanwhile.) Before, it said ok throughout.
    func doctorSeesAStoppedReplica(_ pair: String, _ env: [String: String]) async throws {
        func servers() async throws -> (status: String, detail: String) {
            let r = try await OctoBinary.run(["doctor", "--json"], environment: env)
            guard case .array(let checks)? = JSON.parse(r.stdout) else { return ("?", r.stdout + r.stderr) }
            for case .object(let c) in checks {
                if case .string("servers")? = c["name"], case .string(let status)? = c["status"],
                    case .string(let detail)? = c["detail"]
                {
                    return (status, detail)
                }
            }
            return ("?", r.stdout)
        }
        func clients() async throws -> String {
            try await Shell.run(
                "mariadb --defaults-file=\"$P/a/my.cnf\" -N -e \"SHOW GLOBAL STATUS LIKE 'Rpl_semi_sync_master_clients'\" | cut -f2",
                environment: ["P": pair]
            ).stdout.trimmingWhitespace()
        }
        /// Polls until the primary counts `n` semi-sync replicas (at most two minutes).
        func clientsBecome(_ n: String) async throws -> Bool {
            for _ in 0..<2400 {
                if try await clients() == n { return true }
                try await Task.sleep(for: .milliseconds(50))
            }
            return false
        }
        let healthy = try await servers()
        #expect(healthy.status == "ok", "\(healthy.detail)")
        _ = try await Shell.run("mariadb --defaults-file=\"$P/b/my.cnf\" -e 'STOP SLAVE'", environment: ["P": pair])
        #expect(try await clientsBecome("0"))
        let stopped = try await servers()
        #expect(stopped.status == "warn", "\(stopped.detail)")
        #expect(stopped.detail.contains("no replica connected"), "\(stopped.detail)")
        _ = try await Shell.run("mariadb --defaults-file=\"$P/b/my.cnf\" -e 'START SLAVE'", environment: ["P": pair])
        #expect(try await clientsBecome("1"))
        let again = try await servers()
        #expect(again.status == "ok", "\(again.detail)")
    }

    func workload(_ dir: TemporaryDirectory, _ pair: String) async throws {
        let admin = try await Shell.run(
            """
            mariadb --defaults-file="$P/a/my.cnf" -e "CREATE USER 'octo'@'127.0.0.1' IDENTIFIED BY 'pw';
              GRANT SELECT, INSERT, UPDATE, DELETE, CREATE, ALTER, DROP, INDEX ON octo.* TO 'octo'@'127.0.0.1'"
            """, environment: ["P": pair])
        try #require(admin.status == 0, "\(admin.stderr)")
        let hosts = try await read(pair + "/hosts").trimmingWhitespace()
        let cnf = dir.write(
            "octo.cnf", "[client]\nuser = octo\npassword = pw\nhost = \(hosts)\n[octo]\ndatabase = octo\n")
        let rec = dir.path + "/rec"
        let env = [
            "OCTO_DEFAULTS_FILE": cnf, "OCTO_STATE_DIR": dir.path + "/state", "R": rec, "STOP": dir.path + "/stop"
        ]
        var options = ConnectionOptions()
        (options.defaultsFile, options.database) = (cnf, "octo")
        options.hosts = try OctoConfig.hostList(hosts)
        options.user = "octo"
        options.password = "pw"
        let setup = try await Shell.run(
            """
            set -e
            mkdir -p "$R/alerts"; : > "$R/overlaps"
            cat > "$R/forbid.sh" <<'EOF'
            #!/bin/bash
            exec 9>>"$R/forbid.lock"
            flock -n 9 || echo "run $OCTO_RUN_ID overlapped" >> "$R/overlaps"
            sleep 1.5
            EOF
            cat > "$R/cursor.sh" <<'EOF'
            #!/bin/bash
            "$OCTO" cursor set $(( ${OCTO_CURSOR:-0} + 1 ))
            EOF
            cat > "$R/alert.sh" <<'EOF'
            #!/bin/sh
            cat > "$R/alerts/$OCTO_ALERT_ID.$$"
            EOF
            chmod 755 "$R"/*.sh
            "$OCTO" init -q
            for kv in "heartbeat 2s" "lease 12s" "machine_ttl 20s" "alert_merge_window 5s" "alert_command $R/alert.sh"; do
                "$OCTO" sh settings $kv -q
            done
            "$OCTO" sh add forbid --command "$R/forbid.sh" --schedule '@every 2s' --misfire all -q
            "$OCTO" sh add cursor --command "$R/cursor.sh" --schedule '@every 3s' --misfire all -q
            "$OCTO" sh add chatty --command 'for i in $(seq 1 50); do echo "line $OCTO_RUN_ID $i"; done' \
                --schedule '@every 2s' --concurrency allow --misfire all -q
            "$OCTO" sh add failing --command 'exit 3' --schedule '@every 5s' --misfire all -q
            for m in m1 m2 m3; do "$OCTO" register --machine $m --slots 4 -q; done
            """, environment: env.merging(["OCTO": OctoBinary.path]) { a, _ in a })
        try #require(setup.status == 0, "\(setup.stderr)")
        try await doctorSeesAStoppedReplica(pair, env)
        // whatever happens below, the machines stop (the loop ends within a second of the file)
        defer { _ = dir.write("stop", "") }
        // the machines: each second, produce, consume (claiming for a second) and monitor on each, in the
        // background as cron starts them, until told to stop
        async let machines = Shell.run(
            """
            while [ ! -e "$STOP" ]; do
                for m in m1 m2 m3; do
                    ("$OCTO" register --machine $m -q; "$OCTO" produce --machine $m; \
                     "$OCTO" consume --machine $m --claim-for 1s; "$OCTO" monitor --machine $m --every 1s -q) >>"$R/cron.log" 2>&1 &
                done
                sleep 1
            done
            wait
            """, environment: env)

        func succeeded() -> Int {
            guard let db = try? Connection(options) else { return 0 }
            defer { db.close() }
            return (try? db.query("SELECT COUNT(*) AS n FROM runs WHERE state = 'succeeded'").first?.decode("n")) ?? 0
        }
        func serverNow() throws -> Double {
            let db = try Connection(options)
            defer { db.close() }
            return try db.retrying { db in try db.query("SELECT UNIX_TIMESTAMP(NOW(6)) AS t").first!.decode("t") }
        }
        // the rows certainly written after a promotion ended at t, and the id (or epoch) each hands out
        let sequences = [
            (
                "runs.id", "SELECT MAX(id) AS v FROM runs",
                "SELECT MIN(id) AS v FROM runs WHERE fire_time > FROM_UNIXTIME(?)"
            ),
            (
                "runs.cursor_epoch", "SELECT MAX(cursor_epoch) AS v FROM runs",
                "SELECT MIN(cursor_epoch) AS v FROM runs WHERE started_at > FROM_UNIXTIME(?)"
            ),
            (
                "cursor_history.id", "SELECT MAX(id) AS v FROM cursor_history",
                "SELECT MIN(id) AS v FROM cursor_history WHERE set_at > FROM_UNIXTIME(?)"
            ),
            (
                "logs.id", "SELECT MAX(id) AS v FROM logs",
                "SELECT MIN(l.id) AS v FROM logs l JOIN runs r ON r.id = l.run_id WHERE r.started_at > FROM_UNIXTIME(?)"
            )
        ]
        func highWater() throws -> [Int64] {
            let db = try Connection(options)
            defer { db.close() }
            return try db.retrying { db in
                try sequences.map { (_, highest, _) in try db.query(highest).first?.decode("v") ?? 0 }
            }
        }
        var seen = 0
        var promotions: [(step: String, marks: [Int64], after: Double)] = []
        for step in ["switchover", "failover", "rejoin", ""] {
            // work goes on before each step: 15 more runs succeeded
            let target = seen + 15
            let going = await Processes.waitUntil(seconds: 180) { succeeded() >= target }
            #expect(going, "before \(step): \(succeeded()) runs succeeded, waited for \(target)")
            seen = succeeded()
            if !step.isEmpty {
                let marks = try highWater()
                try await pairCommand(pair, step)
                promotions.append((step, marks, try serverNow()))
            }
        }
        // drain: no new fires, every queued run taken, the monitors' last alerts delivered
        let db = try Connection(options)
        defer { db.close() }
        // production has caught up (a loaded machine's produce may lag a few seconds): every fire due a second ago
        // has its run, so the fires checked below (up to 4 s before the pause) all should
        let caughtUp = await Processes.waitUntil(seconds: 120) {
            (try? db.retrying { db in
                try db.query(
                    "SELECT COUNT(*) AS n FROM jobs WHERE NOT paused AND next_fire_at <= NOW(6) - INTERVAL 1 SECOND"
                ).first!.decode("n", as: Int.self)
            }) == 0
        }
        #expect(caughtUp, "production did not catch up")
        let pausedAt: Double = try db.query("SELECT UNIX_TIMESTAMP(NOW(6)) AS t").first!.decode("t")
        for job in ["forbid", "cursor", "chatty", "failing"] {
            _ = try await Shell.run("\"$OCTO\" sh pause \(job) -q", environment: env)
        }
        let drained = await Processes.waitUntil(seconds: 120) {
            (try? db.retrying { db in
                try db.query(
                    """
                    SELECT COUNT(*) AS n FROM runs r WHERE r.state IN ('queued', 'running')
                       OR (SELECT COUNT(*) FROM alerts WHERE state = 'pending') > 0
                       OR (r.state IN ('failed', 'timeout', 'lost')
                           AND NOT EXISTS (SELECT 1 FROM alert_sources s WHERE s.source = CONCAT('run:', r.id)))
                    """
                ).first!.decode("n", as: Int.self)
            }) == 0
        }
        // (a failure is alerted by a monitor after the run ended: the wait covers it too)
        #expect(drained, "runs or alerts still pending after the drain")
        _ = dir.write("stop", "")
        _ = try await machines

        // a promoted server goes on where the old primary stopped: every AUTO_INCREMENT id and every cursor epoch
        // handed out after a promotion is above all those committed before it (none reused, none out of order)
        for p in promotions where p.step != "rejoin" {
            for ((what, _, after), mark) in zip(sequences, p.marks) {
                let next: Int64? = try db.query(after, [.double(p.after)]).first?.decode("v")
                let n = try #require(next, "\(what): none handed out after the \(p.step)")
                #expect(n > mark, "\(what): \(n) handed out after the \(p.step), \(mark) already before it")
            }
        }
        // every due fire of the @every jobs has exactly one run chain, started once per attempt
        for (job, every) in [("forbid", 2.0), ("cursor", 3.0), ("chatty", 2.0), ("failing", 5.0)] {
            let rows = try db.query(
                "SELECT UNIX_TIMESTAMP(fire_time) AS f, attempt, state FROM runs WHERE job_name = ? ORDER BY fire_time",
                [.text(job)]
            ).rows
            var attempts: [Double: [Int]] = [:]
            for r in rows { attempts[try r.decode("f", as: Double.self), default: []].append(try r.decode("attempt")) }
            let fires = attempts.keys.sorted()
            #expect(attempts.values.allSatisfy { $0.sorted() == Array(1...$0.count) }, "\(job): \(attempts)")
            let (first, last) = (try #require(fires.first), try #require(fires.last))
            var missing: [Double] = []
            var t = first
            while t <= min(last, pausedAt - 4) {
                if attempts[t] == nil { missing.append(t) }
                t += every
            }
            #expect(missing.isEmpty, "\(job): no run for the fires \(missing)")
            let ended = try db.query(
                "SELECT COUNT(*) AS n FROM runs WHERE job_name = ? AND state = ?",
                [.text(job), .text(job == "failing" ? "failed" : "succeeded")]
            ).first!.decode("n", as: Int.self)
            #expect(ended > 3, "\(job): only \(ended) runs ended as expected")
        }
        // no forbid run overlapped another
        let overlaps = try await read(rec + "/overlaps")
        #expect(overlaps.isEmpty, "\(overlaps)")
        // the cursor never moved backwards: each value stored is the one before it plus one (a run adds one to what
        // it was given), and every succeeded run stored its value (a run lost or failed after its set keeps it)
        let history = try db.query(
            "SELECT h.value, h.run_id, r.state FROM cursor_history h JOIN runs r ON r.id = h.run_id WHERE h.job_name = 'cursor' ORDER BY h.id"
        ).rows
        let values = try history.map { Int(try $0.decode("value", as: String.self)) ?? -1 }
        #expect(values == (0..<values.count).map { $0 + 1 }, "\(values)")
        let storedBy = Set(try history.map { try $0.decode("run_id", as: Int64.self) })
        let succeededRuns = try db.query("SELECT id FROM runs WHERE job_name = 'cursor' AND state = 'succeeded'").rows
            .map { try $0.decode("id", as: Int64.self) }
        #expect(succeededRuns.count > 3 && succeededRuns.allSatisfy(storedBy.contains), "\(succeededRuns) \(storedBy)")
        let others = try history.filter { try $0.decode("state", as: String.self) != "succeeded" }.map {
            "run \(try $0.decode("run_id", as: Int64.self)) \(try $0.decode("state", as: String.self))"
        }
        if !others.isEmpty { print("cursor values stored by runs that did not succeed: \(others)") }
        // every log line stored once, none lost from a succeeded run
        let lines = try db.query("SELECT run_id, content FROM logs WHERE job_name = 'chatty' AND content LIKE 'line %'")
            .rows
        var byRun: [Int64: [String]] = [:]
        for l in lines { byRun[try l.decode("run_id"), default: []].append(try l.decode("content")) }
        for (run, contents) in byRun { #expect(Set(contents).count == contents.count, "run \(run): a line twice") }
        for r in try db.query("SELECT id FROM runs WHERE job_name = 'chatty' AND state = 'succeeded'").rows {
            let id: Int64 = try r.decode("id")
            #expect(byRun[id]?.count == 50, "run \(id) succeeded with \(byRun[id]?.count ?? 0) of its 50 lines")
        }
        // every failure alerted once (a source per failed run), every alert delivered exactly once
        let failed = try db.query("SELECT id FROM runs WHERE state IN ('failed', 'timeout', 'lost')").rows.map {
            try $0.decode("id", as: Int64.self)
        }
        let sources = Set(
            try db.query("SELECT source FROM alert_sources").rows.map { try $0.decode("source", as: String.self) })
        #expect(
            failed.count >= 3 && failed.allSatisfy { sources.contains("run:\($0)") },
            "\(failed.count) failures, not alerted: \(failed.filter { !sources.contains("run:\($0)") })")
        let alerts = try db.query("SELECT id, state FROM alerts").rows
        let delivered = try await Shell.run(
            "ls \"$R/alerts\" | sed 's/\\..*//' | sort | uniq -c | awk '$1 > 1'", environment: env)
        #expect(delivered.stdout.isEmpty, "delivered more than once: \(delivered.stdout)")
        #expect(try alerts.allSatisfy { try $0.decode("state", as: String.self) == "sent" }, "an alert not sent")
    }
}
