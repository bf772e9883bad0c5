import MariaDB
import OctoCore
import OctoTime
import TestSupport
import Testing

/// `LogQuery.Filter.matches` (the dashboard's live reader hands each follower the lines its filter selects, read
/// once for all of them) selects exactly what the filter's SQL selects, on lines that make the two differ if
/// either is wrong: every level, two jobs, machines and runs, times on both sides of each bound, and text where
/// comparing characters instead of bytes would differ (a combining accent, a case).
@Suite(.database, .bounded)
struct LogFilterTests {
    @Test func matchingInMemorySelectsWhatTheQuerySelects() async throws {
        try await withInit { _, db in
            let now = try JobStore.serverNow(db)
            let texts = ["plain", "Error here", "error here", "cafe\u{301}", "caf\u{E9}", "a<b>&c", "", "x error"]
            var n = 0
            for machine in ["m1", "m2"] {
                let writer = LogWriter(db, machine: machine)
                for job in ["load", "clean"] {
                    for level in LogLevel.allCases {
                        for (k, text) in texts.enumerated() {
                            n += 1
                            writer.append(
                                LogLine(
                                    loggedAt: now - .seconds(Int64(n * 97 % 7200)), jobName: job,
                                    runID: k % 3 == 0 ? nil : Int64(k % 3), level: level, content: text))
                        }
                    }
                }
                try writer.flush()
            }
            let all = try LogQuery.tail(db, LogQuery.Filter(), limit: nil).lines
            #expect(all.count == n)
            var filters: [LogQuery.Filter] = [
                LogQuery.Filter(), LogQuery.Filter(job: "load"), LogQuery.Filter(runID: 2)
            ]
            for level in LogLevel.allCases {
                var f = LogQuery.Filter()
                f.level = level
                filters.append(f)
            }
            for grep in ["e", "error", "Error", "\u{301}", "caf\u{E9}", "cafe", "<b>", "", "nowhere"] {
                var f = LogQuery.Filter(job: "clean")
                f.grep = grep
                filters.append(f)
            }
            let cut = all[all.count / 2].loggedAt
            var since = LogQuery.Filter(runID: 1)
            since.since = cut
            var until = LogQuery.Filter()
            until.until = cut
            until.machine = "m2"
            var both = LogQuery.Filter(job: "load")
            (both.since, both.until, both.level, both.grep) = (now - .seconds(3600), cut, .warn, "r")
            filters += [since, until, both]
            for f in filters {
                let bySQL = try LogQuery.tail(db, f, limit: nil).lines.map(\.id)
                let inMemory = all.filter(f.matches).map(\.id)
                #expect(Set(bySQL) == Set(inMemory), "\(f)")
                #expect(!bySQL.isEmpty || f.grep == "nowhere", "a filter that selects nothing tests nothing: \(f)")
            }
        }
    }
}
