import MariaDB
import OctoCore
import OctoTime
import TestSupport
import Testing

#if canImport(Glibc)
    import Glibc
#endif

/// `octo monitor` and `octo sh alerts` end to end: real jobs, real log
/// lines, several monitors at once, a real alert command.
@Suite(.database, .bounded)
struct MonitorTests {
    func octo(_ env: [String: String], _ args: [String], input: String? = nil) async throws -> OctoBinary.Result {
        try await OctoBinary.run(args, environment: env, input: input)
    }

    /// `n` monitors at once.
    func monitors(_ env: [String: String], _ n: Int, _ extra: [String] = []) async throws {
        let results = try await withThrowingTaskGroup(of: OctoBinary.Result.self) { group in
            for i in 0..<n {
                group.addTask {
                    try await self.octo(env.merging(["OCTO_MACHINE": "m\(i)"]) { $1 }, ["monitor"] + extra)
                }
            }
            return try await group.reduce(into: []) { $0.append($1) }
        }
        #expect(results.allSatisfy { $0.status == 0 }, "\(results.map(\.stderr))")
    }

    func alerts(_ db: Connection, kind: String? = nil) throws -> [(
        kind: String, job: String, run: Int64?, count: Int, summary: Bool, state: String
    )] {
        try db.query(
            "SELECT kind, job_name, run_id, occurrences, summary, state FROM alerts "
                + (kind == nil ? "" : "WHERE kind = ? ") + "ORDER BY id",
            kind.map { [.text($0)] } ?? []
        ).rows.map {
            (
                try $0.decode("kind"), try $0.decode("job_name"), try $0.decode("run_id"), try $0.decode("occurrences"),
                try $0.decode("summary"), try $0.decode("state")
            )
        }
    }

    /// A `log` alert for `job`, due for delivery now.
    func addDueAlert(_ db: Connection, job: String = "j") throws {
        try db.execute(
            "INSERT INTO alerts (kind, job_name, first_at, last_at, first_line, last_line, next_attempt_at) VALUES ('log', ?, NOW(6), NOW(6), 'x', 'x', NOW(6))",
            [.text(job)])
    }

    /// `octo monitor` started in the background (output discarded); its pid.
    func monitorInBackground(_ env: [String: String], alertTimeout: String) async throws -> pid_t {
        let bg = try await Shell.run(
            "\"$OCTO\" monitor --every 0 --alert-timeout \(alertTimeout) </dev/null >/dev/null 2>&1 & echo $!",
            environment: env)
        return try #require(pid_t(bg.stdout.trimmingWhitespace()))
    }

    func addJob(_ db: Connection, _ name: String, _ command: String, _ attributes: [String: String] = [:]) throws {
        var j = Job(name: name, command: command)
        for (k, v) in attributes { try Job.attribute(k)!.set(&j, v) }
        _ = try JobStore.add(db, j, by: "test", defaultZone: "UTC")
    }

    @Test func eachDetectionGivesExactlyOneAlert() async throws {
        try await TestDatabase.withInitializedOcto { db, env, dir in
            // only 'quiet' (silent for a day) is stale, however long a loaded machine takes to get there
            #expect(try db.execute("UPDATE settings SET value = '1h' WHERE name = 'machine_ttl'") == 1)
            // runs that fail three ways, on a real consumer
            try addJob(db, "exits", "exit 3")
            try addJob(db, "killed", "kill -9 $$")
            try addJob(db, "slow", "sleep 10", ["timeout": "1s"])
            for j in ["exits", "killed", "slow"] { #expect(try await octo(env, ["sh", "run", j, "-q"]).status == 0) }
            _ = try await octo(env, ["consume", "--wait"])
            // a run whose machine vanished: running, lease lapsed
            try addJob(db, "vanished", "true")
            #expect(try await octo(env, ["sh", "run", "vanished", "-q"]).status == 0)
            try db.execute(
                """
                UPDATE runs SET state = 'running', machine = 'gone', lease_token = 'x', lease_expires_at = NOW(6) - INTERVAL 1 MINUTE,
                  started_at = NOW(6) - INTERVAL 2 MINUTE WHERE job_name = 'vanished'
                """)
            try db.execute("DELETE FROM queue")
            // log lines: an error line; a start two days old with no end; an end with a bad exit code; a good one
            let old = try JobStore.serverNow(db) - .seconds(2 * 86_400)
            let oldText = old.iso8601
            let lines = "plain info line\n\(oldText) stuck 100 nightly begins\n"
            #expect(try await octo(env, ["logger", "-n", "app"], input: "ERROR-ish but info\n").status == 0)
            #expect(try await octo(env, ["logger", "-n", "app", "-l", "error"], input: "disk full\n").status == 0)
            #expect(try await octo(env, ["logger", "-n", "stuck"], input: lines).status == 0)
            #expect(try await octo(env, ["logger", "-n", "badexit", "--", "sh", "-c", "exit 4"]).status == 4)
            #expect(try await octo(env, ["logger", "-n", "goodexit", "--", "true"]).status == 0)
            // a job nobody produces; a run nobody claims; a machine that went quiet
            try addJob(db, "orphan", "true", ["schedule": "*/5 * * * *"])
            try db.execute("UPDATE jobs SET next_fire_at = NOW(6) - INTERVAL 10 MINUTE WHERE name = 'orphan'")
            try addJob(db, "waiting", "true", ["target": "nosuchgroup"])
            #expect(try await octo(env, ["sh", "run", "waiting", "-q"]).status == 0)
            // a queue job's second run waits for its first, running long: it waits for its turn, no machine is
            // missing (before, it was alerted `unclaimed` too)
            try addJob(db, "turn", "true", ["concurrency": "queue"])
            for _ in 0..<2 { #expect(try await octo(env, ["sh", "run", "turn", "-q"]).status == 0) }
            try db.execute(
                """
                UPDATE runs SET state = 'running', machine = 'busy', lease_token = 't', lease_expires_at = NOW(6) + INTERVAL 1 HOUR,
                  started_at = NOW(6) - INTERVAL 20 MINUTE WHERE job_name = 'turn' ORDER BY id LIMIT 1
                """)
            try db.execute("DELETE q FROM queue q JOIN runs r ON r.id = q.run_id WHERE r.state = 'running'")
            try db.execute("UPDATE queue SET not_before = NOW(6) - INTERVAL 10 MINUTE")
            #expect(try await octo(env.merging(["OCTO_MACHINE": "quiet"]) { $1 }, ["register"]).status == 0)
            try db.execute("UPDATE machines SET last_seen = NOW(6) - INTERVAL 1 DAY WHERE name = 'quiet'")

            // three monitors at once, then once more: each thing found once
            try await monitors(env, 3)
            try await monitors(env, 1)
            let got = try alerts(db)
            func one(_ kind: String, _ job: String, run: Bool = false, sourceLine: String = #function) throws {
                let matching = got.filter { $0.kind == kind }
                #expect(matching.count == 1, "\(kind): \(matching)")
                #expect(matching.first?.job == job, "\(kind): \(matching)")
                if run {
                    let expected: Int64? = try db.query(
                        "SELECT MIN(id) AS id FROM runs WHERE job_name = ?", [.text(job)]
                    ).first!.decode("id")
                    #expect(matching.first?.run == expected, "\(kind)")
                }
            }
            try one("failed", "exits", run: true)
            try one("signal", "killed", run: true)
            try one("timeout", "slow", run: true)
            try one("lost", "vanished", run: true)
            try one("missing_end", "stuck")
            try one("bad_exit", "badexit")
            try one("missed_fire", "orphan")
            try one("unclaimed", "waiting", run: true)
            try one("machine_stale", "")
            // level alerts: the error line and the supervisor's own error lines of failed runs, none for info lines
            let logAlerts = got.filter { $0.kind == "log" }
            #expect(logAlerts.contains { $0.job == "app" && $0.count == 1 && !$0.summary })
            #expect(!logAlerts.contains { $0.job == "goodexit" || $0.job == "stuck" })
            #expect(got.filter { $0.kind == "log" && $0.job == "app" }.count == 1)
            let stale = try db.query("SELECT machine FROM alerts WHERE kind = 'machine_stale'").first!.decode(
                "machine", as: String?.self)
            #expect(stale == "quiet")
            // no alert command set: they wait, and say so
            let r = try await octo(env, ["monitor"])
            #expect(r.stderr.contains("alert_command is not set"))
            #expect(got.allSatisfy { $0.state == "pending" })
            let listed = try await octo(env, ["sh", "alerts", "--open", "--json"])
            #expect(listed.status == 0 && listed.stdout.contains("\"kind\":\"missing_end\""))
        }
    }

    /// Eight machines' monitors started at once, as cron starts them: one sweeps for the fleet, the others find
    /// the sweep lease taken and exit at once; the failure is still alerted and delivered, once. The lease lapses
    /// after half of `--every` (moved back here rather than waited for); `--every 0` sweeps regardless.
    @Test func aFleetOfMonitorsSweepsOncePerInterval() async throws {
        try await TestDatabase.withInitializedOcto { db, env, dir in
            try addJob(db, "exits", "exit 3")
            #expect(try await octo(env, ["sh", "run", "exits", "-q"]).status == 0)
            _ = try await octo(env, ["consume", "--wait"])
            #expect(try await octo(env, ["sh", "settings", "alert_command", "cat >> \(dir)/delivered"]).status == 0)
            func sweeps() throws -> Int64 {
                try db.query("SELECT value FROM markers WHERE name = 'monitor_sweep'").first?.decode("value") ?? 0
            }
            let results = try await withThrowingTaskGroup(of: OctoBinary.Result.self) { group in
                for i in 0..<8 {
                    group.addTask {
                        try await self.octo(
                            env.merging(["OCTO_MACHINE": "m\(i)"]) { $1 }, ["monitor", "--every", "1h", "--json"])
                    }
                }
                return try await group.reduce(into: []) { $0.append($1) }
            }
            #expect(results.allSatisfy { $0.status == 0 }, "\(results.map(\.stderr))")
            let skipped = results.filter { $0.stdout.contains("\"skipped\"") }
            #expect(skipped.count == 7, "\(results.map(\.stdout))")
            #expect(skipped.allSatisfy { $0.stdout.contains("once per --every 1h") })
            #expect(try sweeps() == 1)
            let failed = try alerts(db, kind: "failed")
            #expect(failed.count == 1 && failed.first?.state == "sent", "\(failed)")
            #expect(
                String(decoding: readFileBytes(dir + "/delivered") ?? [], as: UTF8.self).components(
                    separatedBy: "\"kind\":\"failed\""
                ).count == 2)
            // within the lease (half of 60 minutes): skipped, and -v says why; after it: the next one sweeps
            try db.execute("UPDATE markers SET updated_at = NOW(6) - INTERVAL 29 MINUTE WHERE name = 'monitor_sweep'")
            let early = try await octo(env, ["monitor", "--every", "1h", "-v"])
            let age = early.stdout.firstRange(of: "a sweep began ").map {
                Int(early.stdout[$0.upperBound...].prefix(while: \.isNumber)) ?? -1
            }
            #expect(early.status == 0 && (1740..<1800).contains(age ?? -1), "\(early.stdout)")
            #expect(try sweeps() == 1)
            try db.execute("UPDATE markers SET updated_at = NOW(6) - INTERVAL 31 MINUTE WHERE name = 'monitor_sweep'")
            let late = try await octo(env, ["monitor", "--every", "1h", "-v"])
            #expect(late.status == 0 && late.stdout.contains("lost runs:"), "\(late.stdout)")
            #expect(try sweeps() == 2)
            // --every 0: a sweep whatever the lease
            #expect(try await octo(env, ["monitor", "--every", "0", "-v"]).stdout.contains("lost runs:"))
            #expect(try sweeps() == 3)
            let bad = try await octo(env, ["monitor", "--every", "soon"])
            #expect(bad.status == 2 && bad.stderr.contains("invalid every 'soon'"), "\(bad.stderr)")
        }
    }

    @Test func threeMonitorsDeliverFiftyAlertsExactlyOnce() async throws {
        try await TestDatabase.withInitializedOcto { db, env, dir in
            for i in 1...50 {
                try db.execute(
                    """
                    INSERT INTO alerts (kind, job_name, first_at, last_at, first_line, last_line, next_attempt_at)
                    VALUES ('log', ?, NOW(6), NOW(6), 'x', 'x', NOW(6))
                    """, [.text("job\(i)")])
            }
            #expect(try await octo(env, ["sh", "settings", "alert_command", "cat >> \(dir)/delivered"]).status == 0)
            try await monitors(env, 3)
            let lines = String(decoding: readFileBytes(dir + "/delivered") ?? [], as: UTF8.self).split(separator: "\n")
            #expect(lines.count == 50)
            let ids = Set(
                lines.compactMap { l in
                    l.firstRange(of: "\"id\":").map { Int(l[$0.upperBound...].prefix(while: \.isNumber))! }
                })
            #expect(ids.count == 50)
            #expect(
                try db.query("SELECT COUNT(*) AS n FROM alerts WHERE state = 'sent' AND attempts = 1").first!.decode(
                    "n", as: Int.self) == 50)
            // nothing is sent twice
            try await monitors(env, 2)
            #expect(
                String(decoding: readFileBytes(dir + "/delivered") ?? [], as: UTF8.self).split(separator: "\n").count
                    == 50)
        }
    }

    @Test func aFailingCommandIsRetriedThenMarkedFailed() async throws {
        try await TestDatabase.withInitializedOcto { db, env, dir in
            try addDueAlert(db)
            #expect(
                try await octo(
                    env,
                    ["sh", "settings", "alert_command", "echo attempt >> \(dir)/tries; echo 'smtp down' >&2; exit 1"]
                ).status == 0)
            // a backoff of an hour: the monitor right after cannot be past it however slow the machine; the test
            // moves time on by SQL
            for attempt in 1...AlertStore.maxAttempts {
                let r = try await octo(env, ["monitor", "--retry-delay", "1h"])
                #expect(r.stderr.contains("the alert command failed"), "\(r.stderr)")
                let row = try db.query(
                    "SELECT state, attempts, last_error, next_attempt_at > NOW(6) AS later FROM alerts"
                ).first!
                #expect(try row.decode("attempts", as: Int.self) == attempt)
                #expect(try row.decode("last_error", as: String.self) == "alert command failed (exit 1): smtp down")
                #expect(
                    try row.decode("state", as: String.self)
                        == (attempt < AlertStore.maxAttempts ? "pending" : "failed"))
                #expect(try row.decode("later", as: Bool.self))  // backoff
                // the monitor right after does not retry before the backoff
                _ = try await octo(env, ["monitor", "--retry-delay", "1h"])
                #expect(
                    String(decoding: readFileBytes(dir + "/tries") ?? [], as: UTF8.self).split(separator: "\n").count
                        == attempt)
                try db.execute("UPDATE alerts SET next_attempt_at = NOW(6)")  // time passes
            }
            _ = try await octo(env, ["monitor"])
            #expect(
                String(decoding: readFileBytes(dir + "/tries") ?? [], as: UTF8.self).split(separator: "\n").count
                    == AlertStore.maxAttempts)
            let listed = try await octo(env, ["sh", "alerts", "--open"])
            #expect(listed.stdout.contains("failed (5 attempts)"), "\(listed.stdout)")
            // closed by hand: no longer open; a bad id is refused
            let id: Int64 = try db.query("SELECT id FROM alerts").first!.decode("id")
            #expect(try await octo(env, ["sh", "alerts", "ack", String(id)]).status == 0)
            #expect(try await octo(env, ["sh", "alerts", "--open"]).stdout == "no open alerts\n")
            let bad = try await octo(env, ["sh", "alerts", "ack", "x1"])
            #expect(bad.status == 2 && bad.stderr.contains("x1"), "\(bad.stderr)")
            #expect(try await octo(env, ["sh", "alerts", "ack", "999"]).status == 2)
        }
    }

    @Test func tenThousandErrorLinesGiveTwoMessages() async throws {
        try await TestDatabase.withInitializedOcto { db, env, dir in
            #expect(try await octo(env, ["sh", "settings", "alert_command", "cat >> \(dir)/delivered"]).status == 0)
            // a window far longer than storing 10,000 lines takes on any machine; the test closes it by SQL
            #expect(try await octo(env, ["sh", "settings", "alert_merge_window", "1h"]).status == 0)
            let feed = try await Shell.run("seq 1 10000 | \"$OCTO\" logger -n noisy -l error", environment: env)
            #expect(feed.status == 0)
            try await monitors(env, 2)
            let got = try alerts(db, kind: "log").filter { $0.job == "noisy" }
            #expect(got.count == 2, "\(got)")
            #expect(got.first.map { $0.count == 1 && !$0.summary && $0.state == "sent" } == true, "\(got)")
            #expect(got.last.map { $0.count == 9_999 && $0.summary } == true, "\(got)")
            let summary = try db.query("SELECT first_line, last_line FROM alerts WHERE summary = 1").first!
            #expect(try summary.decode("first_line", as: String.self) == "error: 2")
            #expect(try summary.decode("last_line", as: String.self) == "error: 10000")
            // the window closes (time passes): the summary goes out, once
            #expect(got.last?.state == "pending", "\(got)")
            try db.execute("UPDATE alerts SET next_attempt_at = NOW(6) WHERE summary = 1 AND state = 'pending'")
            try await monitors(env, 2)
            try await monitors(env, 1)
            let delivered = String(decoding: readFileBytes(dir + "/delivered") ?? [], as: UTF8.self).split(
                separator: "\n")
            #expect(delivered.count == 2)
            #expect(
                delivered.filter { $0.contains("\"occurrences\":9999") && $0.contains("\"summary\":true") }.count == 1,
                "\(delivered)")
            #expect(
                delivered.filter { $0.contains("\"occurrences\":1,") && $0.contains("\"summary\":false") }.count == 1,
                "\(delivered)")
        }
    }

    /// Found by scripts/fleet: MariaDB stopped just after an alert command ran, the monitor gave up recording
    /// the delivery, and another monitor sent the alert again once the claim lapsed. The record is now retried
    /// until the claim would lapse.
    @Test func aDeliveryIsRecordedAcrossADatabaseRestart() async throws {
        try await PrivateServer.withInitializedOcto { server, env, connect in
            let dir = env["OCTO_STATE_DIR"]!
            let env = env.merging(["D": dir]) { $1 }
            let db = try connect()
            try addDueAlert(db)
            db.close()
            let command = "cat >> \"$D/delivered\"; touch \"$D/sent\"; while [ ! -e \"$D/go\" ]; do sleep 0.05; done"
            #expect(try await octo(env, ["sh", "settings", "alert_command", command]).status == 0)
            _ = try await Shell.run(
                "( \"$OCTO\" monitor --every 0 --alert-timeout 10m 2>\"$D/err\"; echo $? > \"$D/rc\" ) >/dev/null 2>&1 &",
                environment: env)
            #expect(await Processes.waitUntil(seconds: 120) { access(dir + "/sent", F_OK) == 0 })
            try await server.stop()
            _ = try await Shell.run("touch \"$D/go\"", environment: env)
            try await Task.sleep(for: .seconds(3))  // the monitor keeps trying to record the delivery
            try await server.start()
            #expect(await Processes.waitUntil(seconds: 120) { readFileBytes(dir + "/rc") != nil })
            let err = String(decoding: readFileBytes(dir + "/err") ?? [], as: UTF8.self)
            #expect(String(decoding: readFileBytes(dir + "/rc") ?? [], as: UTF8.self) == "0\n", "\(err)")
            let after = try connect()
            defer { after.close() }
            #expect(try after.query("SELECT state FROM alerts").first!.decode("state", as: String.self) == "sent")
            // time passes beyond any claim: the next monitor has nothing to send again
            try after.execute(
                "UPDATE alerts SET claim_expires_at = NOW(6) - INTERVAL 1 SECOND WHERE claim_expires_at IS NOT NULL")
            #expect(try await octo(env, ["monitor"]).status == 0)
            #expect(
                String(decoding: readFileBytes(dir + "/delivered") ?? [], as: UTF8.self).split(separator: "\n").count
                    == 1)
        }
    }

    /// A slow alert command and many due alerts: a claim covers one delivery, so a monitor claims each alert
    /// right before delivering it (claims taken in a batch would lapse in the queue and a second monitor would
    /// send those alerts too). Each delivery waits for the test's word: while two monitors each hold one, only
    /// those two alerts are claimed; then every alert is delivered once.
    @Test func aSlowAlertCommandDeliversEachAlertOnce() async throws {
        try await TestDatabase.withInitializedOcto { db, env, dir in
            for i in 1...5 {
                try addDueAlert(db, job: "j\(i)")
            }
            let command =
                "cat >> \(dir)/delivered; echo >> \(dir)/delivered; touch \(dir)/started.$OCTO_ALERT_ID; "
                + "while [ ! -e \(dir)/release ]; do sleep 0.05; done"
            #expect(try await octo(env, ["sh", "settings", "alert_command", command]).status == 0)
            let alertIDs: [Int64] = try db.query("SELECT id FROM alerts").rows.map { try $0.decode("id") }
            #expect(alertIDs.count == 5)
            func started() -> Int { alertIDs.filter { access(dir + "/started.\($0)", F_OK) == 0 }.count }
            func claimed() throws -> Int {
                try db.query("SELECT COUNT(*) AS n FROM alerts WHERE claim_expires_at > NOW(6) AND state = 'pending'")
                    .first!.decode("n")
            }
            let first = try await monitorInBackground(env, alertTimeout: "1h")
            #expect(await Processes.waitUntil(seconds: 120) { started() == 1 })
            #expect(try claimed() == 1, "a monitor claimed more than the alert it delivers")
            let second = try await monitorInBackground(env.merging(["OCTO_MACHINE": "w2"]) { $1 }, alertTimeout: "1h")
            #expect(await Processes.waitUntil(seconds: 120) { started() == 2 })
            #expect(try claimed() == 2, "two monitors claimed more than the two alerts they deliver")
            _ = try ChildProcess.run(["touch", dir + "/release"])
            #expect(await Processes.waitUntil(seconds: 120) { Processes.isGone(first) && Processes.isGone(second) })
            let delivered = String(decoding: readFileBytes(dir + "/delivered") ?? [], as: UTF8.self).split(
                separator: "\n")
            let ids: [Int64] = delivered.compactMap { line in
                guard let r = line.firstRange(of: "\"id\":") else { return nil }
                return Int64(line[r.upperBound...].prefix { $0.isNumber })
            }
            #expect(ids.count == 5 && Set(ids) == Set(alertIDs), "\(delivered)")
            #expect(try alerts(db).allSatisfy { $0.state == "sent" })
            #expect(started() == 5)
        }
    }

    /// One sweep per machine at a time: a second monitor of the same machine exits at once without touching
    /// the database, another machine's monitor sweeps as usual, and a monitor killed mid-delivery does not
    /// keep the lock (its alert command, still running, does not hold it either).
    @Test func aSecondMonitorOfTheSameMachineSkipsWhileOneRuns() async throws {
        try await TestDatabase.withInitializedOcto { db, env, dir in
            try addDueAlert(db)
            // the first delivery waits for the test's word; later ones go straight through
            let command =
                "if [ ! -e \(dir)/started ]; then touch \(dir)/started; while [ ! -e \(dir)/release ]; do sleep 0.05; done; fi; cat >> \(dir)/delivered; echo >> \(dir)/delivered"
            #expect(try await octo(env, ["sh", "settings", "alert_command", command]).status == 0)
            let pid = try await monitorInBackground(env, alertTimeout: "1h")
            defer { _ = try? ChildProcess.run(["touch", dir + "/release"]) }
            #expect(await Processes.waitUntil(seconds: 120) { readFileBytes(dir + "/started") != nil })

            // a failure the busy monitor has not seen: a second monitor of w1 leaves it alone
            try addJob(db, "exits", "exit 3")
            #expect(try await octo(env, ["sh", "run", "exits", "-q"]).status == 0)
            #expect(try await octo(env, ["consume"]).status == 1)
            let second = try await octo(env, ["monitor", "-v"])
            #expect(second.status == 0)
            #expect(
                second.stdout.contains("another octo monitor for machine 'w1' is still running"), "\(second.stdout)")
            let json = try await octo(env, ["monitor", "--json"])
            #expect(json.status == 0 && json.stdout.contains("\"skipped\""), "\(json.stdout)")
            #expect(try alerts(db, kind: "failed").isEmpty)

            // another machine's monitor is not held back: it records the failure and delivers it
            let other = try await octo(env.merging(["OCTO_MACHINE": "w2"]) { $1 }, ["monitor", "-v"])
            #expect(other.status == 0 && !other.stdout.contains("still running"), "\(other.stdout) \(other.stderr)")
            #expect(try alerts(db, kind: "failed").map(\.state) == ["sent"])

            // the busy monitor dies mid-delivery: the next monitor of w1 sweeps
            kill(pid, SIGKILL)
            #expect(await Processes.waitUntil(seconds: 120) { kill(pid, 0) != 0 })
            let next = try await octo(env, ["monitor", "-v"])
            #expect(next.status == 0 && !next.stdout.contains("still running"), "\(next.stdout) \(next.stderr)")
            #expect(next.stdout.contains("lost runs:"), "\(next.stdout)")
        }
    }

    /// The monitor dies while its alert command runs: the command itself SIGKILLs it (its pid is in a file the
    /// test writes), so the monitor certainly holds its claim when it dies, however slow the machine (the test
    /// used to race the monitor's 5 s alert timeout with its own poll and kill).
    @Test func aMonitorKilledAfterItsClaimLeavesTheAlertToTheNextOne() async throws {
        try await TestDatabase.withInitializedOcto { db, env, dir in
            try addDueAlert(db)
            let command = """
                if [ ! -e \(dir)/first ]; then while [ ! -s \(dir)/monitor.pid ]; do sleep 0.05; done
                kill -9 "$(cat \(dir)/monitor.pid)"; touch \(dir)/first; sleep 30; exit 1; fi; cat >> \(dir)/delivered
                """
            #expect(try await octo(env, ["sh", "settings", "alert_command", command]).status == 0)
            // its claim lasts the alert timeout + 10 s: the next monitor certainly finds it held; the test then
            // lets it lapse by SQL
            let pid = try await monitorInBackground(env, alertTimeout: "10m")
            _ = try ChildProcess.run([
                "sh", "-c", "echo \(pid) > \(dir)/monitor.pid.new && mv \(dir)/monitor.pid.new \(dir)/monitor.pid"
            ])
            #expect(await Processes.waitUntil(seconds: 120) { readFileBytes(dir + "/first") != nil })
            #expect(await Processes.waitUntil(seconds: 120) { kill(pid, 0) != 0 })
            let claimed = try db.query("SELECT state, attempts, claim_token IS NOT NULL AS held FROM alerts").first!
            #expect(try claimed.decode("held", as: Bool.self))
            // while the dead monitor's claim holds, nobody delivers; once it expires, the next monitor does, once
            _ = try await octo(env, ["monitor"])
            #expect(readFileBytes(dir + "/delivered") == nil)
            try db.execute("UPDATE alerts SET claim_expires_at = NOW(6) - INTERVAL 1 SECOND")  // time passes
            _ = try await octo(env, ["monitor"])
            #expect(readFileBytes(dir + "/delivered") != nil)
            _ = try await octo(env, ["monitor"])
            #expect(
                String(decoding: readFileBytes(dir + "/delivered") ?? [], as: UTF8.self).split(separator: "\n").count
                    == 1)
            let row = try db.query("SELECT state, attempts FROM alerts").first!
            #expect(try row.decode("state", as: String.self) == "sent")
            #expect(try row.decode("attempts", as: Int.self) == 2)
        }
    }

    /// `warn_after`: a run still running after it raises one `slow` alert while it goes on (and ends as it
    /// would); a run that ends sooner raises none. The long run waits for the test's word, not a clock.
    @Test func aRunStillRunningAfterWarnAfterRaisesOneSlowAlert() async throws {
        try await TestDatabase.withInitializedOcto { db, env, dir in
            try addJob(db, "quick", "true", ["warn_after": "2s"])
            #expect(try await octo(env, ["sh", "run", "quick", "-q"]).status == 0)
            #expect(try await octo(env, ["consume"]).status == 0)
            try addJob(
                db, "long", "touch \(dir)/started; while [ ! -e \(dir)/release ]; do sleep 0.05; done",
                ["warn_after": "2s", "timeout": "1h"])
            #expect(try await octo(env, ["sh", "run", "long", "-q"]).status == 0)
            let consume = try Processes.startOcto(["consume"], environment: env)
            defer { kill(consume, SIGKILL) }
            #expect(
                await Processes.waitUntil(seconds: 120) {
                    (try? db.query(
                        "SELECT started_at < NOW(6) - INTERVAL 2 SECOND AS late FROM runs WHERE job_name = 'long' AND state = 'running'"
                    ).first?.decode("late", as: Bool.self)) == true
                })
            #expect(try await octo(env, ["monitor"]).status == 0)
            #expect(try await octo(env, ["monitor"]).status == 0)
            var slow = try alerts(db, kind: "slow")
            #expect(slow.count == 1 && slow.first?.job == "long" && slow.first?.count == 1, "\(slow)")
            #expect(slow.first?.run == (try runs(db, "long").first?.id))
            // the run goes on, and ends as it would
            _ = try ChildProcess.run(["touch", dir + "/release"])
            #expect(await Processes.waitUntil(seconds: 120) { Processes.isGone(consume) })
            #expect(try runs(db, "long").map(\.state) == [.succeeded])
            #expect(try await octo(env, ["monitor"]).status == 0)
            slow = try alerts(db, kind: "slow")
            #expect(slow.count == 1 && slow.first?.count == 1, "\(slow)")
            #expect(try alerts(db).filter { $0.job == "quick" }.isEmpty)
            let line: String = try db.query("SELECT first_line FROM alerts WHERE kind = 'slow'").first!.decode(
                "first_line")
            #expect(line.contains("still running after 2s (warn_after"), "\(line)")
        }
    }

    @Test func aSuccessAfterAFailureSendsOneRecoveryNotice() async throws {
        try await TestDatabase.withInitializedOcto { db, env, dir in
            #expect(try await octo(env, ["sh", "settings", "alert_command", "cat >> \(dir)/delivered"]).status == 0)
            try addJob(db, "flaky", "test -e \(dir)/ok")
            #expect(try await octo(env, ["sh", "run", "flaky", "-q"]).status == 0)
            #expect(try await octo(env, ["consume"]).status == 1)
            try await monitors(env, 1)
            #expect(try alerts(db).map(\.kind).filter { $0 != "log" } == ["failed"])
            _ = try ChildProcess.run(["touch", dir + "/ok"])
            #expect(try await octo(env, ["sh", "run", "flaky", "-q"]).status == 0)
            #expect(try await octo(env, ["consume"]).status == 0)
            try await monitors(env, 3)
            try await monitors(env, 1)
            #expect(try alerts(db).map(\.kind).filter { $0 != "log" } == ["failed", "recovered"])
            let open = try await octo(env, ["sh", "alerts", "--open", "--job", "flaky", "--json"])
            #expect(!open.stdout.contains("\"kind\":\"failed\""), "\(open.stdout)")
            // and a second success sends nothing more
            #expect(try await octo(env, ["sh", "run", "flaky", "-q"]).status == 0)
            #expect(try await octo(env, ["consume"]).status == 0)
            try await monitors(env, 1)
            #expect(try alerts(db, kind: "recovered").count == 1)
            let delivered = String(decoding: readFileBytes(dir + "/delivered") ?? [], as: UTF8.self).split(
                separator: "\n")
            #expect(delivered.filter { $0.contains("\"kind\":\"recovered\"") }.count == 1)
            #expect(delivered.filter { $0.contains("\"kind\":\"failed\"") }.count == 1)
        }
    }
}
