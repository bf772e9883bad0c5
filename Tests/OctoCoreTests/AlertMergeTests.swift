import MariaDB
import OctoTime
import TestSupport
import Testing

@testable import OctoCore

/// Merging occurrences into alerts, in the occurrences' own times.
@Suite(.database, .bounded)
struct AlertMergeTests {
    @Test func windowsFollowTheOccurrencesTimesNotTheRecordingTime() throws {
        try TestDatabase.with { db, fresh in
            _ = try Migrator.initialize(fresh.config(), settings: Settings(), by: "t")
            let t0 = try JobStore.serverNow(db) - .seconds(3600)
            func at(_ s: Int64, _ line: String) -> Occurrence {
                Occurrence(.log, job: "j", at: t0 + .seconds(s), line: line)
            }
            // one batch spanning two 60 s windows, then a late batch that still belongs to the second window
            try db.transaction {
                _ = try AlertStore.record(
                    db, [at(0, "a"), at(10, "b"), at(59, "c"), at(60, "d"), at(61, "e")], window: 60)
            }
            try db.transaction { _ = try AlertStore.record(db, [at(100, "f"), at(130, "g")], window: 60) }
            let rows = try db.query(
                "SELECT occurrences, summary, first_line, last_line, next_attempt_at FROM alerts ORDER BY id"
            ).rows
            let got = try rows.map {
                "\(try $0.decode("summary", as: Bool.self) ? "summary" : "first") \(try $0.decode("occurrences", as: Int.self)) \(try $0.decode("first_line", as: String.self))-\(try $0.decode("last_line", as: String.self))"
            }
            #expect(got == ["first 1 a-a", "summary 2 b-c", "first 1 d-d", "summary 2 e-f", "first 1 g-g"])
            // a summary is due when its window closes: first occurrence + window
            let due: Instant = try rows[1].decode("next_attempt_at")
            #expect(due == t0 + .seconds(60))
        }
    }

    /// A line stamped in the future (a machine's clock ahead, a mistyped year) counts as now: it no longer opens a
    /// window that swallows every later occurrence of its kind until that time (nor does a window such a line
    /// opened before). Fails on the old code (the summary due a year from now).
    @Test func aTimeInTheFutureCountsAsNow() throws {
        try TestDatabase.with { db, fresh in
            _ = try Migrator.initialize(fresh.config(), settings: Settings(), by: "t")
            let now = try JobStore.serverNow(db)
            try db.transaction {
                _ = try AlertStore.record(
                    db, [Occurrence(.log, job: "j", at: now + .seconds(365 * 86_400), line: "future")], window: 60)
            }
            try db.transaction {
                _ = try AlertStore.record(
                    db, [Occurrence(.log, job: "j", at: now + .seconds(1), line: "x")], window: 60)
            }
            let rows = try db.query("SELECT first_at, next_attempt_at FROM alerts ORDER BY id").rows
            #expect(rows.count == 2)
            let later = try JobStore.serverNow(db)
            for r in rows {
                #expect(try r.decode("first_at", as: Instant.self) <= later)
                #expect(try r.decode("next_attempt_at", as: Instant.self) <= later + .seconds(60))
            }
            // a window an older octo opened in the future is over: the next occurrence is a first alert, due now
            try db.execute("UPDATE alert_streams SET window_start = NOW(6) + INTERVAL 1 YEAR")
            try db.transaction {
                _ = try AlertStore.record(db, [Occurrence(.log, job: "j", at: later, line: "y")], window: 60)
            }
            let y = try #require(
                try db.query("SELECT summary, next_attempt_at FROM alerts WHERE first_line = 'y'").first)
            #expect(try !y.decode("summary", as: Bool.self))
            #expect(try y.decode("next_attempt_at", as: Instant.self) <= JobStore.serverNow(db))
        }
    }

    /// A fresh database with octo's schema, and occurrences of `kind` for job `j`, `s` seconds after `t0` (half
    /// a minute ago).
    func withOccurrences(
        of kind: AlertKind, _ body: (Connection, (Int64, String) -> Occurrence, Instant) throws -> Void
    ) throws {
        try TestDatabase.with { db, fresh in
            _ = try Migrator.initialize(fresh.config(), settings: Settings(), by: "t")
            let t0 = try JobStore.serverNow(db) - .seconds(30)
            try body(db, { s, line in Occurrence(kind, job: "j", at: t0 + .seconds(s), line: line) }, t0)
        }
    }

    /// An occurrence found after its window's summary was sent (a replayed spool, a late scan) gets a summary of
    /// its own, due now; it is not added to one nobody will send again. Fails on the old code.
    @Test func anOccurrenceAfterItsWindowsSummaryWasSentIsSentOnItsOwn() throws {
        try withOccurrences(of: .log) { db, at, _ in
            try db.transaction { _ = try AlertStore.record(db, [at(0, "a"), at(5, "b")], window: 600) }
            try db.execute("UPDATE alerts SET state = 'sent' WHERE summary = 1")
            try db.transaction { _ = try AlertStore.record(db, [at(10, "c")], window: 600) }
            let got = try db.query("SELECT state, occurrences, first_line, next_attempt_at FROM alerts ORDER BY id")
                .rows
                .map {
                    "\(try $0.decode("state", as: String.self)) \(try $0.decode("occurrences", as: Int.self)) \(try $0.decode("first_line", as: String.self))"
                }
            #expect(got == ["pending 1 a", "sent 1 b", "pending 1 c"], "\(got)")
            let due: Instant = try db.query("SELECT next_attempt_at FROM alerts WHERE first_line = 'c'").first!.decode(
                "next_attempt_at")
            #expect(due <= (try JobStore.serverNow(db)))
        }
    }

    /// A recovery sends the failures' summary first (due now, before the notice), and the next failure is a
    /// first alert of its own, not merged into the summary marked recovered. Fails on the old code.
    @Test func aRecoverySendsTheWaitingSummaryFirstAndTheNextFailureStartsAfresh() throws {
        try withOccurrences(of: .failed) { db, failed, t0 in
            try db.transaction { _ = try AlertStore.record(db, [failed(0, "f1"), failed(5, "f2")], window: 600) }
            let recovered = try db.transaction {
                try AlertStore.recover(
                    db, job: "j", succeededAt: t0 + .seconds(10), runID: nil, machine: nil, line: "ok")
            }
            #expect(recovered)
            let now = try JobStore.serverNow(db)
            let summaryDue: Instant = try db.query("SELECT next_attempt_at FROM alerts WHERE first_line = 'f2'").first!
                .decode("next_attempt_at")
            #expect(summaryDue <= now)
            try db.transaction { _ = try AlertStore.record(db, [failed(20, "f3")], window: 600) }
            let got = try db.query("SELECT kind, summary, recovered, first_line FROM alerts ORDER BY id").rows.map {
                "\(try $0.decode("kind", as: String.self)) \(try $0.decode("summary", as: Int.self)) \(try $0.decode("recovered", as: Int.self)) \(try $0.decode("first_line", as: String.self))"
            }
            #expect(got == ["failed 0 1 f1", "failed 1 1 f2", "recovered 0 0 ok", "failed 0 0 f3"], "\(got)")
        }
    }
}
