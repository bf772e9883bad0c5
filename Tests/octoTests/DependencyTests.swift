import MariaDB
import OctoCore
import OctoTime
import TestSupport
import Testing

/// Dependencies end to end: `needs` refused when it names no job or closes a
/// cycle, waiting runs released by their upstream's success, reruns, pass,
/// blocked alerts, needs_timeout and backfill — the built binary, real jobs,
/// several processes at once.
@Suite(.database, .bounded)
struct DependencyTests {
    func count(_ db: Connection, _ sql: String) throws -> Int { try db.query(sql).first!.decode("n") }

    /// Whatever the concurrent round left (a consumer that finished before a release), later rounds take:
    /// `produce` and one `consume --wait` until no run waits or is queued (at most `rounds` times).
    func drain(_ fresh: FreshDatabase, _ db: Connection, rounds: Int) async throws {
        for _ in 0..<rounds
        where try count(db, "SELECT COUNT(*) AS n FROM runs WHERE state IN ('waiting', 'queued')") > 0 {
            _ = try await octo(fresh, ["produce"])
            _ = try await octo(fresh, ["consume", "--machine", "w0", "--wait"])
        }
    }

    /// Every (job, fire) has one succeeded run, and each started after every run it needs for that fire ended.
    func checkOrder(_ db: Connection, needs: [String: [String]]) throws {
        for (job, ups) in needs {
            for r in try runs(db, job) where r.state == .succeeded {
                for up in ups {
                    let met = try runs(db, up).contains {
                        $0.fireTime == r.fireTime && $0.state.meetsNeeds && $0.endedAt! <= r.startedAt!
                    }
                    #expect(met, "\(job) run \(r.id) started before a run of \(up) for its fire ended well")
                }
            }
        }
    }

    @Test func needsNamingNoJobOrClosingACycleAreRefusedAndChangeNothing() async throws {
        try await withInit { fresh, db in
            try addJob(db, "load", "true")
            try addJob(db, "clean", "true", ["needs": "load"])
            func fingerprint() throws -> String {
                try db.query("SELECT GROUP_CONCAT(name, ':', needs ORDER BY name) AS f FROM jobs").first!.decode("f")
                    + String(try count(db, "SELECT COUNT(*) AS n FROM audit"))
            }
            let before = try fingerprint()
            let cycle = try await octo(fresh, ["sh", "edit", "load", "--needs", "clean"])
            #expect(cycle.status == 2 && cycle.stderr.contains("load → clean → load"), "\(cycle.stderr)")
            let unknown = try await octo(fresh, ["sh", "add", "x", "--command", "true", "--needs", "nope"])
            #expect(unknown.status == 2 && unknown.stderr.contains("'nope'"), "\(unknown.stderr)")
            let me = try await octo(fresh, ["sh", "add", "x", "--command", "true", "--needs", "x"])
            #expect(me.status == 2 && me.stderr.contains("itself"), "\(me.stderr)")
            let dir = TemporaryDirectory()
            let file = dir.write(
                "jobs.yaml",
                "jobs:\n  - name: load\n    command: 'true'\n    needs: clean\n  - name: clean\n    command: 'true'\n    needs: load\n"
            )
            let applied = try await octo(fresh, ["sh", "apply", file])
            #expect(applied.status == 2 && applied.stderr.contains("cycle"), "\(applied.stderr)")
            let rm = try await octo(fresh, ["sh", "rm", "load"])
            #expect(rm.status == 2 && rm.stderr.contains("needed by clean"), "\(rm.stderr)")
            let renamed = try await octo(fresh, ["sh", "edit", "load", "--rename", "load2"])
            #expect(renamed.status == 2 && renamed.stderr.contains("no job named 'load'"), "\(renamed.stderr)")
            // a job with a schedule of its own cannot need one that runs only by hand (load): its runs are for the
            // moments they are made, never for the scheduled job's fires — every run would wait and be skipped
            let timed = try await octo(
                fresh, ["sh", "add", "nightly", "--command", "true", "--schedule", "0 3 * * *", "--needs", "load"])
            #expect(timed.status == 2 && timed.stderr.contains("'load' runs only when run by hand"), "\(timed.stderr)")
            let scheduled = try await octo(fresh, ["sh", "edit", "clean", "--schedule", "0 3 * * *"])
            #expect(
                scheduled.status == 2 && scheduled.stderr.contains("runs only when run by hand"), "\(scheduled.stderr)")
            #expect(try fingerprint() == before)
            // in any order in one file, applied as a whole
            _ = dir.write(
                "jobs.yaml", "jobs:\n  - name: z\n    command: 'true'\n    needs: y\n  - name: y\n    command: 'true'\n"
            )
            #expect(try await octo(fresh, ["sh", "apply", file, "-q"]).status == 0)
            #expect(try JobStore.require(db, "z").needs == ["y"])
            let dot = try await Shell.run("\"$OCTO\" sh graph --dot | dot -Tplain", environment: fresh.environment)
            #expect(dot.status == 0 && dot.stdout.contains("edge load clean"), "\(dot.stderr)")
            #expect(try await octo(fresh, ["sh", "rm", "load", "--force", "-q"]).status == 0)
            #expect(try JobStore.require(db, "clean").needs.isEmpty)
        }
    }

    @Test func aDiamondOfTwentyFiresWithTenProducersAndFourConsumers() async throws {
        try await withInit { fresh, db in
            for m in 0..<4 { try await register(fresh, "w\(m)", ["--slots", "4"]) }
            // a fires every minute; b and c follow it, d follows b and needs c: 20 missed fires, all caught up
            try addJob(db, "a", "true", ["schedule": "* * * * *", "misfire": "all", "concurrency": "queue"])
            try addJob(db, "b", "true", ["needs": "a"])
            try addJob(db, "c", "true", ["needs": "a"])
            try addJob(db, "d", "true", ["needs": "b,c"])
            try db.execute(
                "UPDATE jobs SET next_fire_at = DATE_FORMAT(NOW(6) - INTERVAL 19 MINUTE, '%Y-%m-%d %H:%i:00') WHERE name = 'a'"
            )
            _ = try await withThrowingTaskGroup(of: OctoBinary.Result.self) { group in
                for p in 0..<10 { group.addTask { try await octo(fresh, ["produce", "--machine", "p\(p)"]) } }
                for m in 0..<4 { group.addTask { try await octo(fresh, ["consume", "--machine", "w\(m)", "--wait"]) } }
                return try await group.reduce(into: []) { $0.append($1) }
            }
            // whatever the first round left (a consumer that finished before a release), later rounds take
            try await drain(fresh, db, rounds: 20)
            let fires = Set(try runs(db, "a").map(\.fireTime))
            #expect(fires.count == 20 || fires.count == 21, "\(fires.count) fires")
            for j in ["a", "b", "c", "d"] {
                let rs = try runs(db, j)
                #expect(rs.count == fires.count && rs.allSatisfy { $0.state == .succeeded }, "\(j): \(rs.map(\.state))")
                #expect(Set(rs.map(\.fireTime)) == fires)
            }
            try checkOrder(db, needs: ["b": ["a"], "c": ["a"], "d": ["b", "c"]])
            #expect(try count(db, "SELECT COUNT(*) AS n FROM runs WHERE state = 'waiting'") == 0)
            // sh ls: a job without a schedule shows whose fires it follows
            let ls = try await octo(fresh, ["sh", "ls"]).stdout
            let schedules = Dictionary(
                ls.split(separator: "\n").dropFirst().map { l in
                    let f = l.split(separator: " ", omittingEmptySubsequences: true)
                    return (String(f[0]), f[1] == "after" ? "after \(f[2])" : String(f[1]))
                }, uniquingKeysWith: { a, _ in a })
            #expect(schedules == ["a": "*", "b": "after a", "c": "after a", "d": "after b"], "\(ls)")
        }
    }

    @Test func aFailedUpstreamBlocksUntilRerunOrPassed() async throws {
        try await withInit { fresh, db in
            try await register(fresh, "w1", ["--slots", "2"])
            let dir = TemporaryDirectory()
            let ok = dir.path + "/b-ok"
            try addJob(db, "a", "true")
            try addJob(db, "b", "test -e \(ok)", ["needs": "a"])
            try addJob(db, "d", "echo \"$OCTO_LOGICAL_DATE\" {date}", ["needs": "b"])
            // a manual-only root: its run brings waiting runs of the jobs that follow it, for the same fire
            #expect(try await octo(fresh, ["sh", "run", "a", "-q"]).status == 0)
            let t = try #require(try runs(db, "a").first).fireTime
            #expect(try runs(db, "d").map(\.state) == [.waiting])
            _ = try await octo(fresh, ["consume", "--machine", "w1", "--wait"])
            #expect(try runs(db, "b").map(\.state) == [.failed])
            #expect(try runs(db, "d").map(\.state) == [.waiting])
            let waits = try await octo(fresh, ["sh", "runs", "d"])
            #expect(waits.stdout.contains("waiting for b for \(t.fireTimeText)"), "\(waits.stdout)")
            for _ in 0..<2 { #expect(try await octo(fresh, ["monitor", "-q"]).status == 0) }
            #expect(try count(db, "SELECT COUNT(*) AS n FROM alerts WHERE kind = 'blocked'") == 1)
            // fixed and rerun: d goes on
            _ = dir.write("b-ok", "")
            #expect(try await octo(fresh, ["sh", "run", "b", "--fire", t.fireTimeText, "-q"]).status == 0)
            _ = try await octo(fresh, ["consume", "--machine", "w1", "--wait"])
            #expect(try runs(db, "b").map(\.state) == [.failed, .succeeded])
            let d = try runs(db, "d")
            #expect(d.map(\.state) == [.succeeded])
            #expect(d[0].logicalDate == Zone.utc.logicalDate(t))
            let day = Zone.utc.logicalDate(t)
            #expect(try LogQuery.lines(db, runID: d[0].id, after: 0).contains { $0.content == "\(day) \(day)" })

            // the same with a pass instead of a rerun
            _ = try await Shell.run("rm -f \(ok)")
            #expect(try await octo(fresh, ["sh", "run", "a", "-q"]).status == 0)
            let t2 = try #require(try runs(db, "a").last).fireTime
            _ = try await octo(fresh, ["consume", "--machine", "w1", "--wait"])
            #expect(try runs(db, "d").last?.state == .waiting)
            let passed = try await octo(fresh, ["sh", "pass", "b", "--fire", t2.fireTimeText])
            #expect(passed.status == 0, "\(passed.stderr)")
            _ = try await octo(fresh, ["consume", "--machine", "w1", "--wait"])
            #expect(try runs(db, "b").last?.state == .passed)
            #expect(try runs(db, "d").last?.state == .succeeded)

            // b fails again; its rerun with --downstream gives d's waiting run the new b run to wait for, no second d
            #expect(try await octo(fresh, ["sh", "run", "a", "-q"]).status == 0)
            let t3 = try #require(try runs(db, "a").last).fireTime
            _ = try await octo(fresh, ["consume", "--machine", "w1", "--wait"])
            let blocked = try #require(try runs(db, "d").last)
            #expect(blocked.state == .waiting && blocked.fireTime == t3)
            let status = try await octo(fresh, ["sh", "status", "--fire", t3.fireTimeText])
            #expect(status.stdout.contains("fire time \(t3.fireTimeText)"), "\(status.stdout)")
            let bFailed = try #require(try runs(db, "b").last)
            #expect(
                status.stdout.contains("1 waiting — waits for b for \(t3.fireTimeText) (run \(bFailed.id) failed)"),
                "\(status.stdout)")
            _ = dir.write("b-ok", "")
            let fixed = try await octo(fresh, ["sh", "run", "b", "--fire", t3.fireTimeText, "--downstream", "--json"])
            #expect(fixed.status == 0 && fixed.stdout.contains("\"run\":\(blocked.id)"), "\(fixed.stdout)")
            let unmetRows: Int = try db.query(
                "SELECT COUNT(*) AS n FROM run_needs WHERE run_id = ? AND met = 0", [.int(blocked.id)]
            ).first!.decode("n")
            #expect(unmetRows == 1)
            _ = try await octo(fresh, ["consume", "--machine", "w1", "--wait"])
            let d3s = try runs(db, "d").filter { $0.fireTime == t3 }
            #expect(d3s.map(\.state) == [.succeeded] && d3s[0].id == blocked.id)
            let b3s = try runs(db, "b").filter { $0.fireTime == t3 }
            #expect(b3s.map(\.state) == [.failed, .succeeded] && b3s[1].endedAt! <= d3s[0].startedAt!)
            let audit = try db.query("SELECT changes FROM audit WHERE action = 'run' ORDER BY id DESC LIMIT 1").first!
            let changes: String = try audit.decode("changes")
            #expect(
                changes.contains("\"waiting\":[null,[\(blocked.id)]]") && changes.contains("[\(b3s[1].id)]"),
                "\(changes)")

            // --downstream reruns a, b and d in order; --ignore-needs queues at once
            let rerun = try await octo(fresh, ["sh", "run", "a", "--fire", t.fireTimeText, "--downstream", "-q"])
            #expect(rerun.status == 0, "\(rerun.stderr)")
            #expect(try runs(db, "d").last?.state == .waiting)
            _ = try await octo(fresh, ["consume", "--machine", "w1", "--wait"])
            let (a3, b3, d3) = (try runs(db, "a").last!, try runs(db, "b").last!, try runs(db, "d").last!)
            #expect([a3, b3, d3].allSatisfy { $0.fireTime == t && $0.state == .succeeded && $0.attempt >= 2 })
            #expect(a3.endedAt! <= b3.startedAt! && b3.endedAt! <= d3.startedAt!)
            let up = try await octo(fresh, ["sh", "run", "d", "--fire", t.fireTimeText, "--upstream", "--json"])
            #expect(up.status == 0 && up.stdout.contains("\"job\":\"a\"") && up.stdout.contains("\"job\":\"b\""))
            _ = try await octo(fresh, ["consume", "--machine", "w1", "--wait"])
            try checkOrder(db, needs: ["b": ["a"], "d": ["b"]])

            // needs_timeout: a run waiting longer is skipped, with the reason, and alerted
            _ = try await Shell.run("rm -f \(ok)")
            #expect(try await octo(fresh, ["sh", "run", "a", "-q"]).status == 0)
            _ = try await octo(fresh, ["consume", "--machine", "w1", "--wait"])
            let stuck = try #require(try runs(db, "d").last)
            #expect(stuck.state == .waiting)
            try db.execute("UPDATE runs SET queued_at = NOW(6) - INTERVAL 2 DAY WHERE id = ?", [.int(stuck.id)])
            #expect(try await octo(fresh, ["monitor", "-q"]).status == 0)
            let skipped = try #require(try RunQueue.get(db, stuck.id))
            #expect(skipped.state == .skipped && skipped.reason.contains("needs_timeout"), "\(skipped.reason)")
            #expect(try count(db, "SELECT COUNT(*) AS n FROM alerts WHERE kind = 'needs_timeout'") == 1)
            let forced = try await octo(
                fresh, ["sh", "run", "d", "--fire", stuck.fireTime.fireTimeText, "--ignore-needs", "-q"])
            #expect(forced.status == 0)
            #expect(try runs(db, "d").last?.state == .queued)
        }
    }

    @Test func backfillThirtyDaysTwoAtATimeWithDownstream() async throws {
        try await withInit { fresh, db in
            for m in 0..<2 { try await register(fresh, "w\(m)", ["--slots", "4"]) }
            try addJob(db, "x", "sleep 0.2", ["schedule": "0 3 * * *"])
            try addJob(db, "y", "true", ["needs": "x"])
            let r = try await octo(
                fresh,
                [
                    "sh", "backfill", "x", "--from", "2026-10-01", "--to", "2026-10-30", "--max-parallel", "2",
                    "--downstream"
                ])
            #expect(r.status == 0, "\(r.stderr)")
            let none = try await octo(fresh, ["sh", "backfill", "x", "--from", "2026-10-02", "--to", "2026-10-01"])
            #expect(none.status == 2)
            _ = try await withThrowingTaskGroup(of: OctoBinary.Result.self) { group in
                for m in 0..<2 { group.addTask { try await octo(fresh, ["consume", "--machine", "w\(m)", "--wait"]) } }
                return try await group.reduce(into: []) { $0.append($1) }
            }
            try await drain(fresh, db, rounds: 10)
            let xs = try runs(db, "x")
            #expect(xs.count == 30 && xs.allSatisfy { $0.state == .succeeded && $0.trigger == .backfill })
            #expect(Set(xs.map(\.logicalDate)).count == 30)
            // never more than 2 at once: at each start, the runs started and not yet ended
            let most = xs.map { s in xs.filter { $0.startedAt! <= s.startedAt! && $0.endedAt! > s.startedAt! }.count }
                .max()!
            #expect(most <= 2 && most >= 1, "\(most) at once")
            #expect(try runs(db, "y").count == 30)
            try checkOrder(db, needs: ["y": ["x"]])
        }
    }

    @Test func aRerunOrBackfillOfAJobWhoseRunWaitsReplacesThatRunOneRunPerPeriod() async throws {
        try await withInit { fresh, db in
            try await register(fresh, "w1", ["--slots", "2"])
            try addJob(db, "u", "true", ["schedule": "0 3 * * *"])
            try addJob(db, "d", "true", ["needs": "u"])
            // d for two past days, u never ran for them: both wait
            for day in ["2026-11-01", "2026-11-02"] {
                let r = try await octo(fresh, ["sh", "run", "d", "--date", day, "-q"])
                #expect(r.status == 0, "\(r.stderr)")
            }
            let old = try runs(db, "d")
            #expect(old.map(\.state) == [.waiting, .waiting])
            // the first day with --upstream: a run of u, a new run of d waiting for it, the old one replaced
            let up = try await octo(
                fresh, ["sh", "run", "d", "--fire", old[0].fireTime.fireTimeText, "--upstream", "-q"])
            #expect(up.status == 0, "\(up.stderr)")
            // the second day by a backfill, then u passed for it
            let bf = try await octo(fresh, ["sh", "backfill", "d", "--from", "2026-11-02", "--to", "2026-11-02"])
            #expect(bf.status == 0, "\(bf.stderr)")
            #expect(try await octo(fresh, ["sh", "pass", "u", "--date", "2026-11-02", "-q"]).status == 0)
            _ = try await octo(fresh, ["consume", "--machine", "w1", "--wait"])
            try await drain(fresh, db, rounds: 5)
            for o in old {
                let mine = try runs(db, "d").filter { $0.fireTime == o.fireTime }
                #expect(mine.filter { $0.state == .succeeded }.count == 1, "\(mine.map { ($0.id, $0.state) })")
                let first = try #require(mine.first { $0.id == o.id })
                #expect(first.state == .cancelled && first.reason.hasPrefix("replaced by a new"), "\(first.reason)")
            }
            try checkOrder(db, needs: ["d": ["u"]])
            let audit: String = try db.query(
                "SELECT changes FROM audit WHERE action = 'backfill' ORDER BY id DESC LIMIT 1"
            ).first!.decode("changes")
            #expect(audit.contains("\"replaced\":[null,[\(old[1].id)]]"), "\(audit)")
        }
    }

    /// A backfill over one still pending replaces its waiting runs; the one that waited for a replaced run waits
    /// for the new one instead of being released by the cancellation. Fails on the old code (the third day's old
    /// run was released as the second's was cancelled, missed by the replacement, and ran beside the new one).
    @Test func aBackfillOverAPendingOneReplacesItsWaitingRunsWithoutReleasingThem() async throws {
        try await withInit { fresh, db in
            try await register(fresh, "w1", ["--slots", "4"])
            try addJob(db, "bf", "true", ["schedule": "0 3 * * *"])
            let first = try await octo(
                fresh, ["sh", "backfill", "bf", "--from", "2026-11-01", "--to", "2026-11-03", "--max-parallel", "1"])
            #expect(first.status == 0, "\(first.stderr)")
            #expect(try runs(db, "bf").map(\.state) == [.queued, .waiting, .waiting])
            let again = try await octo(fresh, ["sh", "backfill", "bf", "--from", "2026-11-02", "--to", "2026-11-03"])
            #expect(again.status == 0, "\(again.stderr)")
            #expect(
                try runs(db, "bf").map(\.state) == [.queued, .cancelled, .cancelled, .queued, .waiting],
                "\((try? runs(db, "bf").map { ($0.id, $0.state) }) ?? [])")
            _ = try await octo(fresh, ["consume", "--machine", "w1", "--wait"])
            try await drain(fresh, db, rounds: 5)
            for (fire, mine) in Dictionary(grouping: try runs(db, "bf"), by: \.fireTime) {
                #expect(mine.filter { $0.state == .succeeded }.count == 1, "\(fire): \(mine.map { ($0.id, $0.state) })")
            }
        }
    }

    @Test func aBackfillWaitingLongerThanNeedsTimeoutForItsTurnIsNotSkipped() async throws {
        try await withInit { fresh, db in
            try await register(fresh, "w1", ["--slots", "4"])
            try addJob(db, "bf", "true", ["schedule": "0 3 * * *"])
            let r = try await octo(
                fresh, ["sh", "backfill", "bf", "--from", "2026-11-01", "--to", "2026-11-03", "--max-parallel", "1"])
            #expect(r.status == 0, "\(r.stderr)")
            #expect(try runs(db, "bf").map(\.state) == [.queued, .waiting, .waiting])
            // recorded two days ago, longer than needs_timeout (1 day): the later runs wait for their turn, not
            // for a need, and are neither skipped nor started early
            try db.execute("UPDATE runs SET queued_at = NOW(6) - INTERVAL 2 DAY WHERE job_name = 'bf'")
            #expect(try await octo(fresh, ["monitor", "-q"]).status == 0)
            #expect(try runs(db, "bf").map(\.state) == [.queued, .waiting, .waiting])
            _ = try await octo(fresh, ["consume", "--machine", "w1", "--wait"])
            try await drain(fresh, db, rounds: 5)
            let xs = try runs(db, "bf")
            #expect(xs.map(\.state) == [.succeeded, .succeeded, .succeeded])
            for (a, b) in zip(xs, xs.dropFirst()) { #expect(a.endedAt! <= b.startedAt!) }
        }
    }

    @Test func aWaitingRunTakenIntoARerunWaitsAfreshForNeedsTimeout() async throws {
        try await withInit { fresh, db in
            try await register(fresh, "w1", ["--slots", "2"])
            let dir = TemporaryDirectory()
            defer { dir.remove() }
            try addJob(db, "u", "test -e \(dir.path)/ok", ["schedule": "0 3 * * *"])
            try addJob(db, "d", "true", ["needs": "u"])
            #expect(try await octo(fresh, ["sh", "run", "u", "--date", "2026-11-01", "-q"]).status == 0)
            _ = try await octo(fresh, ["consume", "--machine", "w1", "--wait"])
            #expect(try runs(db, "u").map(\.state) == [.failed])
            #expect(try await octo(fresh, ["sh", "run", "d", "--date", "2026-11-01", "-q"]).status == 0)
            let waiting = try #require(try runs(db, "d").first)
            #expect(waiting.state == .waiting)
            // it has waited almost a day when u is fixed and rerun with everything below it
            try db.execute(
                "UPDATE runs SET queued_at = NOW(6) - INTERVAL 23 HOUR - INTERVAL 59 MINUTE WHERE id = ?",
                [.int(waiting.id)])
            _ = dir.write("ok", "")
            let rerun = try await octo(fresh, ["sh", "run", "u", "--date", "2026-11-01", "--downstream", "-q"])
            #expect(rerun.status == 0, "\(rerun.stderr)")
            // the clock of its wait starts again: the monitor does not skip it while the rerun is queued
            try db.execute(
                "UPDATE runs SET queued_at = queued_at - INTERVAL 1 HOUR WHERE id = ? AND queued_at < NOW(6) - INTERVAL 1 HOUR",
                [.int(waiting.id)])
            #expect(try await octo(fresh, ["monitor", "-q"]).status == 0)
            #expect(try RunQueue.get(db, waiting.id)?.state == .waiting)
            _ = try await octo(fresh, ["consume", "--machine", "w1", "--wait"])
            try await drain(fresh, db, rounds: 5)
            #expect(try runs(db, "d").map(\.state) == [.succeeded])
            #expect(try runs(db, "d").first?.id == waiting.id)
        }
    }

    @Test func reruningAndBackfillingInputThatCannotBeMetIsRefusedAndChangesNothing() async throws {
        try await withInit { fresh, db in
            try addJob(db, "u", "true", ["schedule": "0 3 * * *"])
            try addJob(db, "d", "true", ["needs": "u"])
            try addJob(db, "mm", "true", ["schedule": "* * * * *"])
            func fingerprint() throws -> String {
                "\(try count(db, "SELECT COUNT(*) AS n FROM runs"))/\(try count(db, "SELECT COUNT(*) AS n FROM machines"))/"
                    + "\(try count(db, "SELECT COUNT(*) AS n FROM audit"))"
            }
            let before = try fingerprint()
            // a scheduled job's manual run is for now, a fire no job below has
            let down = try await octo(fresh, ["sh", "run", "u", "--downstream"])
            #expect(down.status == 2 && down.stderr.contains("--fire T or --date D"), "\(down.stderr)")
            // a bad fire on a machine not registered yet: refused before the registration
            let here = try await octo(fresh, ["sh", "run", "u", "--here", "--fire", "garbage", "--machine", "newmach"])
            #expect(here.status == 2 && here.stderr.contains("'garbage'"), "\(here.stderr)")
            // more fires than one command takes: refused, not cut short
            let month = try await octo(fresh, ["sh", "backfill", "mm", "--from", "2026-10-01", "--to", "2026-10-31"])
            #expect(month.status == 2 && month.stderr.contains("more than 10000"), "\(month.stderr)")
            #expect(try fingerprint() == before)
        }
    }
}
