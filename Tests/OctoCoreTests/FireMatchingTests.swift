import OctoCore
import OctoTime
import Testing

/// "U's fires for T" (DESIGN.md, dependencies), table-tested without a database.
struct FireMatchingTests {
    struct Case: Sendable, CustomStringConvertible {
        var name: String
        var upstream: String
        var upstreamZone: String
        var downstream: String
        var downstreamZone: String
        var t: String
        /// The expected fires (UTC), or their count with the first and last when there are many.
        var expected: [String]
        var count: Int? = nil
        var description: String { name }
    }

    static let cases: [Case] = [
        Case(
            name: "same schedule: the same fire", upstream: "0 2 * * *", upstreamZone: "UTC", downstream: "0 2 * * *",
            downstreamZone: "UTC", t: "2026-06-01T02:00:00Z", expected: ["2026-06-01T02:00:00Z"]),
        Case(
            name: "hourly under daily at 00:30: the day's 24", upstream: "0 * * * *", upstreamZone: "UTC",
            downstream: "30 0 * * *", downstreamZone: "UTC", t: "2026-06-02T00:30:00Z",
            expected: ["2026-06-01T01:00:00Z", "2026-06-02T00:00:00Z"], count: 24),
        Case(
            name: "hourly under daily on the hour: U fires at T, so that one fire", upstream: "0 * * * *",
            upstreamZone: "UTC", downstream: "0 0 * * *", downstreamZone: "UTC", t: "2026-06-02T00:00:00Z",
            expected: ["2026-06-02T00:00:00Z"]),
        Case(
            name: "daily under hourly: the latest daily fire before T", upstream: "0 2 * * *", upstreamZone: "UTC",
            downstream: "0 * * * *", downstreamZone: "UTC", t: "2026-06-01T05:00:00Z",
            expected: ["2026-06-01T02:00:00Z"]),
        Case(
            name: "daily under hourly before today's upstream fire: yesterday's", upstream: "0 2 * * *",
            upstreamZone: "UTC", downstream: "0 * * * *", downstreamZone: "UTC", t: "2026-06-01T01:00:00Z",
            expected: ["2026-05-31T02:00:00Z"]),
        Case(
            name: "upstream in UTC under a downstream in Asia/Shanghai", upstream: "0 18 * * *", upstreamZone: "UTC",
            downstream: "0 6 * * *", downstreamZone: "Asia/Shanghai", t: "2026-06-01T22:00:00Z",
            expected: ["2026-06-01T18:00:00Z"]),
        Case(
            name: "Asia/Shanghai daily upstream at its midnight under a UTC daily at 01:00", upstream: "0 0 * * *",
            upstreamZone: "Asia/Shanghai", downstream: "0 1 * * *", downstreamZone: "UTC", t: "2026-06-02T01:00:00Z",
            expected: ["2026-06-01T16:00:00Z"]),
        Case(
            name: "America/New_York spring forward: 23 hourly fires in the day", upstream: "0 * * * *",
            upstreamZone: "America/New_York", downstream: "30 0 * * *", downstreamZone: "America/New_York",
            t: "2026-03-09T04:30:00Z", expected: ["2026-03-08T06:00:00Z", "2026-03-09T04:00:00Z"], count: 23),
        Case(
            name: "America/New_York fall back: 25 hourly fires in the day", upstream: "0 * * * *",
            upstreamZone: "America/New_York", downstream: "30 0 * * *", downstreamZone: "America/New_York",
            t: "2026-11-02T05:30:00Z", expected: ["2026-11-01T05:00:00Z", "2026-11-02T05:00:00Z"], count: 25),
        Case(
            name: "Europe/London, the day after the change: 24 again", upstream: "0 * * * *",
            upstreamZone: "Europe/London",
            downstream: "30 0 * * *", downstreamZone: "Europe/London", t: "2026-03-30T23:30:00Z",
            expected: ["2026-03-30T00:00:00Z", "2026-03-30T23:00:00Z"], count: 24),
        Case(
            name: "Europe/London spring forward: 23", upstream: "0 * * * *", upstreamZone: "Europe/London",
            downstream: "30 0 * * *", downstreamZone: "Europe/London", t: "2026-03-29T23:30:00Z",
            expected: ["2026-03-29T01:00:00Z", "2026-03-29T23:00:00Z"], count: 23),
        Case(
            name: "Europe/London fall back: 25", upstream: "0 * * * *", upstreamZone: "Europe/London",
            downstream: "30 0 * * *", downstreamZone: "Europe/London", t: "2026-10-26T00:30:00Z",
            expected: ["2026-10-25T00:00:00Z", "2026-10-26T00:00:00Z"], count: 25)
    ]

    @Test(arguments: cases)
    func upstreamFiresForT(_ c: Case) throws {
        let need = FireMatching.upstreamFires(
            of: try Schedule(c.upstream), in: try Zone.named(c.upstreamZone), forDownstream: try Schedule(c.downstream),
            in: try Zone.named(c.downstreamZone), at: utc(c.t))
        guard case .fires(let fires) = need else {
            Issue.record("expected fires, got \(need)")
            return
        }
        if let count = c.count {
            #expect(fires.count == count)
            #expect(fires.first == utc(c.expected[0]) && fires.last == utc(c.expected[1]), "\(fires.map(\.iso8601))")
            #expect(zip(fires, fires.dropFirst()).allSatisfy { $0 < $1 }, "oldest first, no repeats")
        } else {
            #expect(fires == c.expected.map(utc), "\(fires.map(\.iso8601))")
        }
    }

    @Test func aManualOnlyUpstreamIsMatchedByItsRunsFireTime() throws {
        let t = utc("2026-06-01T10:17:03Z")
        #expect(
            FireMatching.upstreamFires(
                of: try Schedule(""), in: .utc, forDownstream: try Schedule(""), in: .utc, at: t) == .runsAt(t))
    }
}
