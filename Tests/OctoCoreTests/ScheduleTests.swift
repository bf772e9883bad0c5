import MariaDB
import OctoTime
import Testing

@testable import OctoCore

/// `2026-03-08T07:00:00Z` → Instant
func utc(_ s: String) -> Instant {
    let p = s.split(whereSeparator: { "-T:Z".contains($0) }).map { Int($0)! }
    return Instant(year: p[0], month: p[1], day: p[2], hour: p[3], minute: p[4], second: p.count > 5 ? p[5] : 0)!
}

struct ScheduleTests {
    struct Case: CustomTestStringConvertible, Sendable {
        let expr: String, zone: String, after: String, expected: [String]
        var testDescription: String { "\(expr) in \(zone) after \(after)" }
    }

    static let nextCases: [Case] = [
        // America/New_York 2026: spring forward Mar 8 02:00 EST→03:00 EDT (07:00Z), fall back Nov 1 02:00 EDT→01:00 EST (06:00Z)
        Case(
            expr: "30 2 * * *", zone: "America/New_York", after: "2026-03-07T12:00:00Z",
            expected: ["2026-03-08T07:00:00Z", "2026-03-09T06:30:00Z"]),  // in the gap: once, right after it
        Case(
            expr: "0,30 2 * * *", zone: "America/New_York", after: "2026-03-08T06:00:00Z",
            expected: ["2026-03-08T07:00:00Z", "2026-03-09T06:00:00Z"]),  // two gap times: still once
        Case(
            expr: "30 1 * * *", zone: "America/New_York", after: "2026-11-01T00:00:00Z",
            expected: ["2026-11-01T05:30:00Z", "2026-11-02T06:30:00Z"]),  // repeated 01:30: first occurrence only
        Case(
            expr: "*/30 * * * *", zone: "America/New_York", after: "2026-11-01T04:45:00Z",
            expected: [
                "2026-11-01T05:00:00Z", "2026-11-01T05:30:00Z", "2026-11-01T06:00:00Z", "2026-11-01T06:30:00Z",
                "2026-11-01T07:00:00Z"
            ]),
        Case(
            expr: "0 * * * *", zone: "America/New_York", after: "2026-11-01T03:30:00Z",
            expected: ["2026-11-01T04:00:00Z", "2026-11-01T05:00:00Z", "2026-11-01T06:00:00Z", "2026-11-01T07:00:00Z"]),
        Case(
            expr: "*/30 * * * *", zone: "America/New_York", after: "2026-03-08T06:00:00Z",
            expected: ["2026-03-08T06:30:00Z", "2026-03-08T07:00:00Z", "2026-03-08T07:30:00Z"]),  // elapsed: no 02:xx
        // Europe/London 2026: Mar 29 01:00 GMT→02:00 BST, Oct 25 02:00 BST→01:00 GMT (01:00Z)
        Case(
            expr: "30 1 * * *", zone: "Europe/London", after: "2026-03-28T12:00:00Z",
            expected: ["2026-03-29T01:00:00Z", "2026-03-30T00:30:00Z"]),
        Case(
            expr: "30 1 * * *", zone: "Europe/London", after: "2026-10-24T12:00:00Z",
            expected: ["2026-10-25T00:30:00Z", "2026-10-26T01:30:00Z"]),
        Case(
            expr: "0 9 * * 1-5", zone: "Europe/London", after: "2026-11-20T09:00:00Z",
            expected: ["2026-11-23T09:00:00Z", "2026-11-24T09:00:00Z"]),
        // Australia/Lord_Howe: +10:30 standard, +11 summer, a 30-minute shift.
        // 2026-10-04 02:00→02:30 (15:30Z on the 3rd); 2026-04-05 02:00→01:30 (15:00Z on the 4th)
        Case(
            expr: "15 2 * * *", zone: "Australia/Lord_Howe", after: "2026-10-03T12:00:00Z",
            expected: ["2026-10-03T15:30:00Z", "2026-10-04T15:15:00Z"]),
        Case(
            expr: "45 1 * * *", zone: "Australia/Lord_Howe", after: "2026-04-04T12:00:00Z",
            expected: ["2026-04-04T14:45:00Z", "2026-04-05T15:15:00Z"]),
        Case(
            expr: "*/15 * * * *", zone: "Australia/Lord_Howe", after: "2026-04-04T14:20:00Z",
            expected: [
                "2026-04-04T14:30:00Z", "2026-04-04T14:45:00Z", "2026-04-04T15:00:00Z", "2026-04-04T15:15:00Z",
                "2026-04-04T15:30:00Z"
            ]),
        // Asia/Shanghai: +8, no DST
        Case(
            expr: "0 9 * * *", zone: "Asia/Shanghai", after: "2026-06-01T00:00:00Z",
            expected: ["2026-06-01T01:00:00Z", "2026-06-02T01:00:00Z"]),
        Case(
            expr: "@daily", zone: "Asia/Shanghai", after: "2026-12-31T15:59:59Z",
            expected: ["2026-12-31T16:00:00Z", "2027-01-01T16:00:00Z"]),
        // leap years, month ends, year rollover (UTC)
        Case(
            expr: "0 0 29 2 *", zone: "UTC", after: "2026-01-01T00:00:00Z",
            expected: ["2028-02-29T00:00:00Z", "2032-02-29T00:00:00Z"]),
        // 2100 is no leap year
        Case(expr: "0 0 29 2 *", zone: "UTC", after: "2096-03-01T00:00:00Z", expected: ["2104-02-29T00:00:00Z"]),
        // Feb 29 on Sun/Tue/Thu/Sat (day-of-week starts with *: both day fields must match): 2004, then 2020,
        // further apart than the 12 years octo once searched; the longest wait is 2088 → 2116 (2100 is no leap year)
        Case(
            expr: "0 0 29 FEB */2", zone: "UTC", after: "2005-01-01T00:00:00Z",
            expected: ["2020-02-29T00:00:00Z", "2024-02-29T00:00:00Z", "2028-02-29T00:00:00Z"]),
        Case(
            expr: "0 0 29 FEB */2", zone: "UTC", after: "2088-03-01T00:00:00Z",
            expected: ["2116-02-29T00:00:00Z", "2120-02-29T00:00:00Z"]),
        Case(
            expr: "0 12 31 * *", zone: "UTC", after: "2026-04-01T00:00:00Z",
            expected: ["2026-05-31T12:00:00Z", "2026-07-31T12:00:00Z"]),
        // not in February
        Case(expr: "0 0 30 * *", zone: "UTC", after: "2026-01-30T00:00:00Z", expected: ["2026-03-30T00:00:00Z"]),
        Case(expr: "59 23 31 12 *", zone: "UTC", after: "2026-12-31T23:59:00Z", expected: ["2027-12-31T23:59:00Z"]),
        Case(
            expr: "@yearly", zone: "UTC", after: "2026-12-31T23:59:59Z",
            expected: ["2027-01-01T00:00:00Z", "2028-01-01T00:00:00Z"]),
        Case(
            expr: "@monthly", zone: "UTC", after: "2026-01-31T00:00:00Z",
            expected: ["2026-02-01T00:00:00Z", "2026-03-01T00:00:00Z"]),
        Case(
            expr: "@weekly", zone: "UTC", after: "2026-11-21T00:00:00Z",
            expected: ["2026-11-22T00:00:00Z", "2026-11-29T00:00:00Z"]),
        Case(expr: "@hourly", zone: "UTC", after: "2026-11-21T23:00:00Z", expected: ["2026-11-22T00:00:00Z"]),
        // Vixie day rules: both restricted → either; one starts with * → both
        Case(
            expr: "0 0 13 * 5", zone: "UTC", after: "2026-11-01T00:00:00Z",
            expected: ["2026-11-06T00:00:00Z", "2026-11-13T00:00:00Z", "2026-11-20T00:00:00Z"]),
        Case(
            expr: "0 0 */2 * 5", zone: "UTC", after: "2026-11-01T00:00:00Z",
            expected: ["2026-11-13T00:00:00Z", "2026-11-27T00:00:00Z"]),
        // 7 = Sunday
        Case(expr: "0 0 * * 7", zone: "UTC", after: "2026-11-21T00:00:00Z", expected: ["2026-11-22T00:00:00Z"]),
        Case(
            expr: "0 0 * JAN,jul mon-FRI", zone: "UTC", after: "2026-06-30T00:00:00Z",
            expected: ["2026-07-01T00:00:00Z", "2026-07-02T00:00:00Z", "2026-07-03T00:00:00Z", "2026-07-06T00:00:00Z"]),
        Case(
            expr: "10-50/20 8 * * *", zone: "UTC", after: "2026-11-21T00:00:00Z",
            expected: ["2026-11-21T08:10:00Z", "2026-11-21T08:30:00Z", "2026-11-21T08:50:00Z", "2026-11-22T08:10:00Z"]),
        Case(
            expr: "5/20 8 * * *", zone: "UTC", after: "2026-11-21T00:00:00Z",
            expected: ["2026-11-21T08:05:00Z", "2026-11-21T08:25:00Z", "2026-11-21T08:45:00Z"]),
        // seconds field and intervals
        Case(
            expr: "*/20 * * * * *", zone: "UTC", after: "2026-11-21T12:00:05Z",
            expected: ["2026-11-21T12:00:20Z", "2026-11-21T12:00:40Z", "2026-11-21T12:01:00Z"]),
        Case(
            expr: "@every 90s", zone: "America/New_York", after: "1970-01-01T00:01:40Z",
            expected: ["1970-01-01T00:03:00Z", "1970-01-01T00:04:30Z"]),
        Case(expr: "@every 1h", zone: "UTC", after: "2026-11-21T10:00:00Z", expected: ["2026-11-21T11:00:00Z"])
    ]

    @Test(arguments: nextCases)
    func nextFires(_ c: Case) throws {
        let s = try Schedule(c.expr)
        let zone = try Zone.named(c.zone)
        #expect(
            s.fires(after: utc(c.after), in: zone, count: c.expected.count).map(\.iso8601)
                == c.expected.map { utc($0).iso8601 })
        // and backwards: each fire's previous is the one before it
        let fires = c.expected.map(utc)
        for (a, b) in zip(fires, fires.dropFirst()) {
            #expect(s.previous(before: b, in: zone) == a, "previous(before: \(b))")
        }
        #expect(try #require(s.previous(before: fires[0], in: zone)) <= utc(c.after))
    }

    @Test func previousFireAcrossYears() throws {
        let s = try Schedule("0 0 29 2 *")
        #expect(s.previous(before: utc("2026-01-01T00:00:00Z"), in: .utc) == utc("2024-02-29T00:00:00Z"))
        #expect(s.previous(before: utc("2104-02-29T00:00:00Z"), in: .utc) == utc("2096-02-29T00:00:00Z"))
        let sparse = try Schedule("0 0 29 FEB */2")
        #expect(sparse.previous(before: utc("2020-02-29T00:00:00Z"), in: .utc) == utc("2004-02-29T00:00:00Z"))
        let every = try Schedule("@every 15m")
        #expect(every.previous(before: utc("2026-11-21T10:15:00Z"), in: .utc) == utc("2026-11-21T10:00:00Z"))
        #expect(
            every.previous(
                before: Instant(microsecondsSinceEpoch: utc("2026-11-21T10:15:00Z").microseconds + 1), in: .utc)
                == utc("2026-11-21T10:15:00Z"))
    }

    @Test func manualHasNoFires() throws {
        let s = try Schedule("  ")
        #expect(s.isManual)
        #expect(s.next(after: utc("2026-01-01T00:00:00Z"), in: .utc) == nil)
        #expect(s.previous(before: utc("2026-01-01T00:00:00Z"), in: .utc) == nil)
    }

    @Test(arguments: [
        ("0 0 30 2 *", "never run"),
        ("0 0 31 4,6,9 *", "never run"),
        ("60 * * * *", "minute '60' is out of range 0-59"),
        ("0 24 * * *", "hour '24' is out of range 0-23"),
        ("* * 0 * *", "day-of-month '0' is out of range 1-31"),
        ("* * * 13 *", "month '13' is out of range 1-12"),
        ("* * * * 8", "day-of-week '8' is out of range 0-7"),
        ("5-1 * * * *", "runs backwards"),
        ("*/0 * * * *", "step '0'"),
        ("a b c d e", "minute 'a' is not a number"),
        ("* * * * funday", "day-of-week 'funday'"),
        ("* * * *", "expected 5 fields"),
        ("* * * * * * *", "expected 5 fields"),
        ("1,,2 * * * *", "empty item"),
        ("@reboot", "known macros"),
        ("@every 0s", "at least 1s"),
        ("@every soon", "@every"),
        ("0 0 L * *", "day-of-month 'L'")
    ])
    func rejects(_ expr: String, _ why: String) {
        let e = #expect(throws: OctoError.self) { try Schedule(expr) }
        #expect(e?.exitCode == 2)
        #expect(e?.message.hasPrefix("invalid schedule '\(expr)'") == true)
        #expect(e?.message.contains(why) == true, "\(e?.message ?? "")")
    }

    @Test func impossibleLookingButValid() throws {
        _ = try Schedule("0 0 30 2 1")  // both day fields restricted: any Monday
        _ = try Schedule("0 0 29 2 *")  // leap years
        _ = try Schedule("0 0 31 1-12 *")
    }

    @Test func zonesReadPosixRulesBeyondTheTable() throws {
        let ny = try Zone.named("America/New_York")
        #expect(ny.offset(at: utc("2150-07-01T00:00:00Z")) == -4 * 3600)
        #expect(ny.offset(at: utc("2150-01-01T00:00:00Z")) == -5 * 3600)
        let lh = try Zone.named("Australia/Lord_Howe")
        #expect(lh.offset(at: utc("2026-01-01T00:00:00Z")) == 11 * 3600)
        #expect(lh.offset(at: utc("2026-07-01T00:00:00Z")) == 10 * 3600 + 1800)
        #expect(try Zone.named("Asia/Shanghai").offset(at: utc("2026-07-01T00:00:00Z")) == 8 * 3600)
        #expect(lh.format(utc("2026-04-04T15:15:00Z")) == "2026-04-05T01:45:00+10:30")
        #expect(throws: OctoError.self) { try Zone.named("Europe/Atlantis") }
    }
}

/// Random expressions and instants: the results agree with a brute-force
/// oracle that checks every minute between `t` and `next(t)` by the rules.
struct SchedulePropertyTests {
    static let zones = ["America/New_York", "Europe/London", "Australia/Lord_Howe", "Asia/Shanghai", "UTC"]

    struct SplitMix {
        var state: UInt64
        mutating func next() -> UInt64 {
            state &+= 0x9E37_79B9_7F4A_7C15
            var z = state
            z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
            z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
            return z ^ (z >> 31)
        }
        mutating func int(_ r: ClosedRange<Int>) -> Int { r.lowerBound + Int(next() % UInt64(r.count)) }
    }

    static func field(_ g: inout SplitMix, _ r: ClosedRange<Int>, star: Int) -> String {
        switch g.int(0...9) {
        case 0..<star: return "*"
        case 4: return "*/\(g.int(2...max(2, r.count / 2)))"
        case 5:
            let a = g.int(r)
            return "\(a)-\(g.int(a...r.upperBound))"
        case 6: return (0..<g.int(2...3)).map { _ in String(g.int(r)) }.joined(separator: ",")
        default: return String(g.int(r))
        }
    }

    /// Does the oracle say the schedule fires at `u` (whole minute, UTC seconds)?
    static func oracleFires(_ c: CronExpression, _ zone: Zone, _ u: Int64) -> Bool {
        let off = Int64(zone.offset(atSeconds: u))
        let wall = u + off
        let nearby = Set([zone.offset(atSeconds: u - 86_400), zone.offset(atSeconds: u + 86_400), Int32(off)]).map(
            Int64.init)
        if !c.isFixedTime { return c.matches(local: wall) }
        if c.matches(local: wall) {
            // a fixed-time job fires at the first instant with this wall time only
            let earlier = nearby.contains { o in
                let u2 = wall - o
                return u2 < u && Int64(zone.offset(atSeconds: u2)) == o
            }
            return !earlier
        }
        // right after a gap: some skipped wall time matched
        let before = Int64(zone.offset(atSeconds: u - 1))
        guard before < off else { return false }
        return stride(from: u + before, to: u + off, by: 60).contains { c.matches(local: $0) }
    }

    @Test func nextAndPreviousAgreeWithTheOracle() throws {
        var g = SplitMix(state: 0x0C70_5EED)
        var checked = 0
        for _ in 0..<3000 {
            // hours 0-3 a third of the time: that is where the DST changes are
            let hour = g.int(0...2) == 0 ? String(g.int(0...3)) : Self.field(&g, 0...23, star: 4)
            let expr = [
                Self.field(&g, 0...59, star: 2), hour, Self.field(&g, 1...31, star: 8),
                Self.field(&g, 1...12, star: 9), Self.field(&g, 0...6, star: 8)
            ].joined(separator: " ")
            guard let s = try? Schedule(expr), case .cron(let c) = s.kind else { continue }
            let zone = try Zone.named(Self.zones[g.int(0...4)])
            // instants near DST changes more often than not
            let base = [
                utc("2026-03-08T05:00:00Z"), utc("2026-11-01T04:00:00Z"), utc("2026-03-29T00:00:00Z"),
                utc("2026-10-25T00:00:00Z"), utc("2026-04-04T13:00:00Z"), utc("2026-10-03T14:00:00Z"),
                utc("2025-01-01T00:00:00Z")
            ]
            let t = base[g.int(0...6)] + .seconds(g.int(-7200...7200))
            guard let n = s.next(after: t, in: zone) else {
                Issue.record("no next for \(expr)")
                continue
            }
            #expect(n > t)
            #expect(Self.oracleFires(c, zone, n.secondsSinceEpoch), "\(expr) in \(zone): \(n) is not a fire")
            if n - t <= .seconds(3 * 86_400) {
                // nothing fires strictly between t and n
                var m = (t.secondsSinceEpoch / 60 + 1) * 60
                while m < n.secondsSinceEpoch {
                    #expect(
                        !Self.oracleFires(c, zone, m),
                        "\(expr) in \(zone): missed \(Instant(secondsSinceEpoch: m)) before \(n)")
                    m += 60
                }
                checked += 1
            }
            // prev(next(t)) ≤ t, and next(prev(n)) == n
            if let p = s.previous(before: n, in: zone) {
                #expect(p <= t, "\(expr) in \(zone): previous(\(n)) = \(p) is after \(t)")
                #expect(s.next(after: p, in: zone) == n)
            }
        }
        #expect(checked > 1000, "too few cases were checked minute by minute (\(checked))")
    }
}
