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
}
