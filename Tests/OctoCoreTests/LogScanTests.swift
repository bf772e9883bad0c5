import MariaDB
import OctoTime
import Testing

@testable import OctoCore

/// The monitor's classifier of log lines, without a database.
struct LogScanTests {
    let t0 = Instant(secondsSinceEpoch: 1_795_000_000)

    func line(
        _ id: Int64, _ job: String, _ level: LogLevel = .info, code: LogCode? = nil, run: Int64? = nil,
        stream: Int64 = 7, _ content: String
    ) -> LogScan.Line {
        LogScan.Line(
            id: id, at: t0 + .seconds(id), job: job, machine: "m1", runID: run, streamID: stream, level: level,
            code: code, content: content)
    }

    @Test func levelsAtOrAboveTheJobsAlertLevelAlert() {
        let rules = ["quiet": LogScan.Rules(alertLevel: .none), "chatty": LogScan.Rules(alertLevel: .info)]
        let scan = LogScan.classify(
            [
                line(1, "quiet", .fatal, "ignored: alert_level none"),
                line(2, "chatty", .info, "noted"),
                line(3, "chatty", .debug, "too verbose"),
                line(4, "nojob", .warn, "warn is below error"),
                line(5, "nojob", .error, "disk full")
            ], rules: rules)
        #expect(scan.occurrences.map(\.line) == ["info: noted", "error: disk full"])
        #expect(scan.occurrences.map(\.kind) == [.log, .log])
        #expect(scan.starts.isEmpty && scan.successes.isEmpty)
        #expect(LogScan.levelsToRead(rules.values) == [.fatal, .error, .warn, .info])
        #expect(LogScan.levelsToRead([LogScan.Rules(alertLevel: .fatal)]) == [.fatal, .error])
    }

    @Test func startsOpenWaitsAndEndsCloseThemByTheirExitStatus() {
        let rules = ["etl": LogScan.Rules(timeout: 60, okCodes: [0, 3])]
        let scan = LogScan.classify(
            [
                line(1, "etl", code: .start, "start"),
                line(2, "etl", code: .heartbeat, "alive"),
                line(3, "etl", code: .end, "end exit code 3"),
                line(4, "etl", code: .end, stream: 8, "end exit 4"),
                line(5, "other", code: .start, stream: 9, "start"),
                line(6, "other", code: .end, stream: 9, "end (signal 9)"),
                line(7, "etl", code: .end, run: 42, "a run's end is not the scan's")
            ], rules: rules)
        #expect(
            scan.starts == [
                .opened(
                    LogScan.OpenStart(
                        logID: 1, streamID: 7, job: "etl", machine: "m1", startedAt: t0 + .seconds(1),
                        deadline: t0 + .seconds(61), content: "start")),
                .closed(streamID: 7, job: "etl"),
                .closed(streamID: 8, job: "etl"),
                .opened(
                    LogScan.OpenStart(
                        logID: 5, streamID: 9, job: "other", machine: "m1", startedAt: t0 + .seconds(5),
                        deadline: t0 + .seconds(5 + Monitor.missingEndAfter), content: "start")),
                .closed(streamID: 9, job: "other")
            ])
        #expect(scan.successes == [LogScan.Success(job: "etl", at: t0 + .seconds(3), machine: "m1")])
        #expect(scan.occurrences.map(\.kind) == [.badExit, .badExit])
        #expect(scan.occurrences.map(\.line) == ["end exit 4", "end (signal 9)"])
    }

    @Test(
        arguments: [
            ("exit 3", 3, nil), ("exit code 3", 3, nil), ("signal 9", nil, 9), ("0 done", 0, nil),
            ("done", nil, nil), ("end: exit=2", 2, nil)
        ] as [(String, Int?, Int?)])
    func endStatusReadsTheExitCodeOrSignal(_ content: String, _ code: Int?, _ signal: Int?) {
        let s = LogScan.endStatus(content)
        #expect(s.code == code && s.signal == signal)
    }
}

/// The trend's statistics, without a database.
struct TrendStatisticsTests {
    @Test(
        arguments: [
            ([], nil, nil), ([4], 4, 4), ([3, 1, 2], 2, 3), ([1, 2, 3, 4], 2.5, 4),
            ((1...20).map(Double.init), 10.5, 19), ((1...100).map(Double.init), 50.5, 95)
        ] as [([Double], Double?, Double?)])
    func medianAndNearestRankP95(_ values: [Double], _ median: Double?, _ p95: Double?) {
        #expect(Trend.median(values) == median)
        #expect(Trend.percentile(95, values) == p95)
    }
}
