import MariaDB
import OctoCore
import OctoTime
import TestSupport
import Testing

/// What `LogStore` stores for times a `DATETIME` cannot hold (only a spool an older octo wrote can hand it one):
/// the nearest time it can, through both ways a batch goes (`LOAD DATA` for 64 lines or more, INSERT for fewer),
/// every line once, the other lines' times exact. Fails without the clamp (a zero date, read back as NULL).
@Suite(.database, .bounded)
struct LogStoreTests {
    @Test func aTimeDatetimeCannotHoldIsStoredAsTheNearestOneItCan() async throws {
        try await withInit { _, db in
            let now = try JobStore.serverNow(db)
            let late = Instant(secondsSinceEpoch: 253_402_300_800 + 7200)  // 10000-01-01T02:00:00Z
            let early = Instant(secondsSinceEpoch: -30_610_224_000 - 86_400)  // 0999-12-31T00:00:00Z
            let writer = LogWriter(db, machine: "m1")
            var expected: [String: Instant] = [:]
            for (batch, size) in [("bulk", 100), ("small", 3)] {
                for k in 0..<size {
                    let t = k == 1 ? late : k == 2 ? early : now + .microseconds(Int64(k) * 1_001)
                    writer.append(LogLine(loggedAt: t, jobName: batch, level: .info, content: "\(batch) \(k)"))
                    expected["\(batch) \(k)"] = k == 1 ? LogStoreTests.last : k == 2 ? LogStoreTests.first : t
                }
                try writer.flush()
            }
            let stored = try db.query("SELECT content, logged_at FROM logs").rows.map {
                (try $0.decode("content", as: String.self), try $0.decode("logged_at", as: Instant?.self))
            }
            #expect(stored.count == expected.count)
            #expect(Set(stored.map(\.0)) == Set(expected.keys))
            for (content, at) in stored {
                #expect(at == expected[content], "\(content): \(String(describing: at))")
            }
        }
    }

    static let last = Instant(year: 9999, month: 12, day: 31, hour: 23, minute: 59, second: 59)!
    static let first = Instant(year: 1000, month: 1, day: 1, hour: 0, minute: 0, second: 0)!
}
