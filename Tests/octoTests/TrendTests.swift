import MariaDB
import OctoCore
import OctoTime
import TestSupport
import Testing

/// `octo sh trend`: runs of known durations give exact numbers, bars and letters.
@Suite(.database, .bounded)
struct TrendTests {
    /// 19 succeeded runs of 1 … 19 s, a failed one of 20 s, a skipped one (never started), a running one.
    func seed(_ db: Connection) throws {
        var j = Job(name: "etl", command: "true")
        j.schedule = "@hourly"
        let id = try JobStore.add(db, j, by: "t", defaultZone: "UTC").id!
        func add(_ k: Int, _ state: String, seconds: Int?) throws {
            try db.execute(
                """
                INSERT INTO runs (job_id, job_name, fire_time, attempt, trigger_kind, state, queued_at, not_before,
                  started_at, ended_at)
                VALUES (?, 'etl', '2026-11-01 00:00:00' + INTERVAL ? HOUR, 1, 'schedule', ?, NOW(6), NOW(6),
                  IF(? IS NULL, NULL, '2026-11-01 00:00:00' + INTERVAL ? HOUR),
                  IF(? IS NULL, NULL, '2026-11-01 00:00:00' + INTERVAL ? HOUR + INTERVAL ? SECOND))
                """,
                [
                    .int(id), .int(Int64(k)), .text(state), seconds.sqlValue, .int(Int64(k)), seconds.sqlValue,
                    .int(Int64(k)), seconds.sqlValue
                ])
        }
        for k in 1...19 { try add(k, "succeeded", seconds: k) }
        try add(20, "failed", seconds: 20)
        try add(21, "skipped", seconds: nil)
        try db.execute(
            """
            INSERT INTO runs (job_id, job_name, fire_time, attempt, trigger_kind, state, queued_at, not_before, started_at)
            VALUES (?, 'etl', '2026-11-02 00:00:00', 1, 'schedule', 'running', NOW(6), NOW(6), NOW(6))
            """, [.int(id)])
    }

    @Test func theNumbersAreExact() async throws {
        try await TestDatabase.withInitializedOcto { db, env, _ in
            try seed(db)
            let r = try await OctoBinary.run(["sh", "trend", "etl", "--json"], environment: env)
            #expect(r.status == 0, "\(r.stderr)")
            // 1 … 20 s: median (10 + 11) / 2, p95 the 19th of 20 (nearest rank), the longest 20 s
            #expect(r.stdout.contains("\"median\":10.5,") && r.stdout.contains("\"p95\":19,"), "\(r.stdout)")
            #expect(r.stdout.contains("\"longest\":20,"), "\(r.stdout)")
            #expect(r.stdout.components(separatedBy: "\"state\":\"succeeded\"").count - 1 == 19, "\(r.stdout)")
            #expect(r.stdout.contains("\"duration\":null,\"fire_time\":\"2026-11-01T21:00:00.000000Z\""), "\(r.stdout)")
            #expect(!r.stdout.contains("running"), "a running run has no bar yet")
            // -n takes the newest: of the newest 6 runs, the 5 finished (17 … 20 s and the skipped one)
            let few = try await OctoBinary.run(["sh", "trend", "etl", "-n", "6", "--json"], environment: env)
            #expect(few.stdout.contains("\"median\":18.5,") && few.stdout.contains("\"p95\":20,"), "\(few.stdout)")
        }
    }

    @Test func barsLettersAndColourOnlyOnATerminal() async throws {
        try await TestDatabase.withInitializedOcto { db, env, _ in
            try seed(db)
            let piped = try await OctoBinary.run(["sh", "trend", "etl"], environment: env)
            #expect(piped.status == 0, "\(piped.stderr)")
            #expect(!piped.stdout.contains("\u{1B}"), "escapes into a pipe")
            let lines = piped.stdout.split(separator: "\n").map(String.init)
            #expect(lines.contains { $0.hasSuffix("SSSSSSSSSSSSSSSSSSSFK") }, "\(piped.stdout)")
            #expect(lines.first?.hasPrefix("20.000s ┤") == true, "\(piped.stdout)")
            // the top row: only runs longer than 7/8 of the longest (18, 19 and 20 s); the skipped run has no bar
            #expect(lines.first?.hasSuffix("███ ") == true, "\(piped.stdout)")
            #expect(lines.last == "21 runs; median 10.500s, p95 19.000s (of 20 with a duration)", "\(piped.stdout)")
            // on a terminal (script(1) gives it one): colours, unless NO_COLOR or TERM=dumb (the test runner's own
            // NO_COLOR is taken away first)
            func onTerminal(_ extra: String) async throws -> String {
                let r = try await Shell.run(
                    "env -u NO_COLOR \(extra) script -qec '\"$OCTO\" sh trend etl' /dev/null </dev/null",
                    environment: env)
                #expect(r.stdout.contains("21 runs; median"), "\(r.stdout) \(r.stderr)")
                return r.stdout
            }
            let coloured = try await onTerminal("TERM=xterm")
            #expect(
                coloured.contains("\u{1B}[32m█\u{1B}[0m") && coloured.contains("\u{1B}[31mF\u{1B}[0m"), "\(coloured)")
            #expect(try await !onTerminal("TERM=xterm NO_COLOR=1").contains("\u{1B}["))
            #expect(try await !onTerminal("TERM=dumb").contains("\u{1B}["))
        }
    }

    @Test func badInputExitsTwo() async throws {
        try await TestDatabase.withInitializedOcto { db, env, _ in
            try seed(db)
            for (args, message) in [
                (["sh", "trend", "nosuch"], "no job named 'nosuch'"),
                (["sh", "trend", "etl", "-n", "0"], "invalid -n '0'")
            ] {
                let r = try await OctoBinary.run(args, environment: env)
                #expect(r.status == 2 && r.stderr.contains(message), "\(args): \(r.stderr)")
            }
        }
    }
}
