import MariaDB
import OctoTime

/// A parsed cron expression: 5 fields (minute hour day-of-month month
/// day-of-week) or 6 with a leading seconds field.
///
/// Fields take `*`, numbers, lists (`1,15`), ranges (`9-17`), steps (`*/5`,
/// `10-50/7`, `5/15` = `5-max/15`) and names (`JAN`…`DEC`, `SUN`…`SAT`,
/// any case); Sunday is 0 or 7. As in Vixie cron, when both day fields are
/// restricted a day matches if either does; when one of them starts with `*`
/// both must match.
///
/// Matching works on "local seconds": seconds since 1970-01-01T00:00 of the
/// wall clock, as if the zone were UTC. `Schedule` maps them to instants.
public struct CronExpression: Sendable, Hashable {
    var seconds: UInt64 = 1  // bits 0…59
    var minutes: UInt64 = 0  // bits 0…59
    var hours: UInt64 = 0  // bits 0…23
    var daysOfMonth: UInt64 = 0  // bits 1…31
    var months: UInt64 = 0  // bits 1…12
    var daysOfWeek: UInt64 = 0  // bits 0…6
    var domStar = false
    var dowStar = false
    /// Neither the minute nor the hour field starts with `*`: a job at fixed
    /// wall-clock times, which gets Vixie cron's DST treatment (once after a
    /// spring-forward gap, once in a fall-back overlap). Others follow elapsed time.
    public private(set) var isFixedTime = false

    /// How far `next`/`previous` look before giving up: the Gregorian
    /// calendar repeats every 400 years (146,097 days, a whole number of
    /// weeks), so a schedule that fires at all fires within 400 years of any
    /// moment — `0 0 29 FEB */2` (Feb 29 on Sun/Tue/Thu/Sat, both day fields
    /// required because the day-of-week one starts with `*`) waits 2004 → 2020,
    /// and longer across a century year. The search skips whole months that
    /// do not match, so even the longest wait costs a few thousand steps.
    static let searchYears = 401

    private static let monthNames = ["jan", "feb", "mar", "apr", "may", "jun", "jul", "aug", "sep", "oct", "nov", "dec"]
    private static let dayNames = ["sun", "mon", "tue", "wed", "thu", "fri", "sat"]

    /// Parses `text`; the error names the expression and the offending field.
    public init(_ text: String) throws(OctoError) {
        let fields = text.split(whereSeparator: { $0 == " " || $0 == "\t" }).map(String.init)
        func fail(_ why: String) -> OctoError {
            OctoError(.usage, "invalid schedule '\(text.quotedForMessage)': \(why)")
        }
        guard fields.count == 5 || fields.count == 6 else {
            throw fail(
                "expected 5 fields (minute hour day-of-month month day-of-week), 6 with seconds first, or a macro such as @daily"
            )
        }
        let f = fields.count == 6 ? fields : ["0"] + fields
        seconds = try CronExpression.field(f[0], "second", 0...59, names: nil, fail)
        minutes = try CronExpression.field(f[1], "minute", 0...59, names: nil, fail)
        hours = try CronExpression.field(f[2], "hour", 0...23, names: nil, fail)
        daysOfMonth = try CronExpression.field(f[3], "day-of-month", 1...31, names: nil, fail)
        months = try CronExpression.field(f[4], "month", 1...12, names: CronExpression.monthNames, fail)
        var dow = try CronExpression.field(f[5], "day-of-week", 0...7, names: CronExpression.dayNames, fail)
        if dow & (1 << 7) != 0 { dow = (dow | 1) & ~(1 << 7) }  // 7 is Sunday
        daysOfWeek = dow
        domStar = f[3].hasPrefix("*")
        dowStar = f[5].hasPrefix("*")
        isFixedTime = !f[1].hasPrefix("*") && !f[2].hasPrefix("*")
        // With day-of-week "*", only day-of-month decides: it must fit some chosen month.
        if dowStar {
            let possible = (1...12).contains { m in
                months & (1 << UInt64(m)) != 0 && daysOfMonth & ((1 << UInt64(CronExpression.maxDays[m] + 1)) - 2) != 0
            }
            guard possible else { throw fail("no chosen month has the chosen day of the month, so it would never run") }
        }
    }

    private static let maxDays = [0, 31, 29, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31]

    private static func field(
        _ text: String, _ name: String, _ range: ClosedRange<Int>, names: [String]?,
        _ fail: (String) -> OctoError
    ) throws(OctoError) -> UInt64 {
        var mask: UInt64 = 0
        for item in text.split(separator: ",", omittingEmptySubsequences: false) {
            guard !item.isEmpty else { throw fail("empty item in the \(name) field '\(text)'") }
            let parts = item.split(separator: "/", omittingEmptySubsequences: false)
            guard parts.count <= 2 else { throw fail("\(name) '\(item)' has more than one '/'") }
            var step = 1
            if parts.count == 2 {
                guard let s = Int(parts[1]), s >= 1, s <= range.upperBound - range.lowerBound + 1 else {
                    throw fail(
                        "\(name) step '\(parts[1])' must be a number from 1 to \(range.upperBound - range.lowerBound + 1)"
                    )
                }
                step = s
            }
            var lo: Int
            var hi: Int
            if parts[0] == "*" {
                (lo, hi) = (range.lowerBound, range.upperBound)
                if name == "day-of-week" { hi = 6 }
            } else {
                let bounds = parts[0].split(separator: "-", omittingEmptySubsequences: false)
                guard bounds.count <= 2 else { throw fail("\(name) '\(parts[0])' is not a value or a range a-b") }
                lo = try value(bounds[0], name, range, names, fail)
                hi =
                    bounds.count == 2
                    ? try value(bounds[1], name, range, names, fail) : (parts.count == 2 ? range.upperBound : lo)
                guard lo <= hi else { throw fail("\(name) range '\(parts[0])' runs backwards") }
            }
            for v in stride(from: lo, through: hi, by: step) { mask |= 1 << UInt64(v) }
        }
        return mask
    }

    private static func value(
        _ s: Substring, _ name: String, _ range: ClosedRange<Int>, _ names: [String]?,
        _ fail: (String) -> OctoError
    ) throws(OctoError) -> Int {
        if let n = Int(s), s.allSatisfy(\.isASCII) {
            guard range.contains(n) else {
                throw fail("\(name) '\(s)' is out of range \(range.lowerBound)-\(range.upperBound)")
            }
            return n
        }
        if let names, let i = names.firstIndex(of: s.lowercased()) { return name == "month" ? i + 1 : i }
        let valid = names.map { ", or a name " + $0.first!.uppercased() + "…" + $0.last!.uppercased() } ?? ""
        throw fail(
            "\(name) '\(String(s).quotedForMessage)' is not a number \(range.lowerBound)-\(range.upperBound)\(valid)")
    }

    // MARK: - Matching

    @inline(__always) private static func has(_ mask: UInt64, _ v: Int) -> Bool { mask & (1 << UInt64(v)) != 0 }

    /// The smallest set bit ≥ `v`, if any.
    @inline(__always) private static func next(_ mask: UInt64, _ v: Int) -> Int? {
        guard v < 64 else { return nil }
        let m = mask & (~0 << UInt64(v))
        return m == 0 ? nil : m.trailingZeroBitCount
    }

    /// The largest set bit ≤ `v`, if any.
    @inline(__always) private static func prev(_ mask: UInt64, _ v: Int) -> Int? {
        guard v >= 0 else { return nil }
        let m = v >= 63 ? mask : mask & ((2 << UInt64(v)) - 1)
        return m == 0 ? nil : 63 - m.leadingZeroBitCount
    }

    @inline(__always) func dayMatches(year: Int, month: Int, day: Int) -> Bool {
        let dom = CronExpression.has(daysOfMonth, day)
        let dow = CronExpression.has(
            daysOfWeek, CivilDate.weekday(days: CivilDate.daysFromCivil(year: year, month: month, day: day)))
        return (domStar || dowStar) ? (dom && dow) : (dom || dow)
    }

    /// True if the wall-clock second `local` matches every field.
    public func matches(local: Int64) -> Bool {
        let c = CivilDateTime(utcSeconds: local)
        return CronExpression.has(months, c.month) && dayMatches(year: c.year, month: c.month, day: c.day)
            && CronExpression.has(hours, c.hour) && CronExpression.has(minutes, c.minute)
            && CronExpression.has(seconds, c.second)
    }

    /// The first matching wall-clock second at or after `local`.
    public func next(atOrAfter local: Int64) -> Int64? {
        let days = local.floorDiv(86_400)
        let sod = Int(local - days * 86_400)
        var (y, mo, d) = CivilDate.civilFromDays(Int(days))
        var (h, mi, s) = (sod / 3600, sod / 60 % 60, sod % 60)
        let limit = y + CronExpression.searchYears
        while y <= limit {
            if !CronExpression.has(months, mo) {
                if let m = CronExpression.next(months, mo + 1), m <= 12 {
                    mo = m
                } else {
                    y += 1
                    mo = months.trailingZeroBitCount
                }
                (d, h, mi, s) = (1, 0, 0, 0)
                continue
            }
            if d > CivilDate.daysIn(month: mo, year: y) {
                mo += 1
                if mo > 12 {
                    mo = 1
                    y += 1
                }
                (d, h, mi, s) = (1, 0, 0, 0)
                continue
            }
            if !dayMatches(year: y, month: mo, day: d) {
                d += 1
                (h, mi, s) = (0, 0, 0)
                continue
            }
            guard let nh = CronExpression.next(hours, h), nh < 24 else {
                d += 1
                (h, mi, s) = (0, 0, 0)
                continue
            }
            if nh != h { (h, mi, s) = (nh, 0, 0) }
            guard let nm = CronExpression.next(minutes, mi), nm < 60 else {
                (h, mi, s) = (h + 1, 0, 0)
                if h > 23 {
                    d += 1
                    h = 0
                }
                continue
            }
            if nm != mi { (mi, s) = (nm, 0) }
            guard let ns = CronExpression.next(seconds, s), ns < 60 else {
                (mi, s) = (mi + 1, 0)
                if mi > 59 {
                    mi = 0
                    h += 1
                    if h > 23 {
                        h = 0
                        d += 1
                    }
                }
                continue
            }
            return Int64(CivilDate.daysFromCivil(year: y, month: mo, day: d)) * 86_400 + Int64(h * 3600 + mi * 60 + ns)
        }
        return nil
    }

    /// The last matching wall-clock second at or before `local`.
    public func previous(atOrBefore local: Int64) -> Int64? {
        let days = local.floorDiv(86_400)
        let sod = Int(local - days * 86_400)
        var (y, mo, d) = CivilDate.civilFromDays(Int(days))
        var (h, mi, s) = (sod / 3600, sod / 60 % 60, sod % 60)
        let limit = y - CronExpression.searchYears
        while y >= limit {
            if !CronExpression.has(months, mo) {
                if let m = CronExpression.prev(months, mo - 1), m >= 1 {
                    mo = m
                } else {
                    y -= 1
                    mo = 63 - months.leadingZeroBitCount
                }
                (d, h, mi, s) = (CivilDate.daysIn(month: mo, year: y), 23, 59, 59)
                continue
            }
            if d < 1 {
                mo -= 1
                if mo < 1 {
                    mo = 12
                    y -= 1
                }
                (d, h, mi, s) = (CivilDate.daysIn(month: mo, year: y), 23, 59, 59)
                continue
            }
            if !dayMatches(year: y, month: mo, day: d) {
                d -= 1
                (h, mi, s) = (23, 59, 59)
                continue
            }
            guard let ph = CronExpression.prev(hours, h) else {
                d -= 1
                (h, mi, s) = (23, 59, 59)
                continue
            }
            if ph != h { (h, mi, s) = (ph, 59, 59) }
            guard let pm = CronExpression.prev(minutes, mi) else {
                (h, mi, s) = (h - 1, 59, 59)
                if h < 0 {
                    d -= 1
                    h = 23
                }
                continue
            }
            if pm != mi { (mi, s) = (pm, 59) }
            guard let ps = CronExpression.prev(seconds, s) else {
                (mi, s) = (mi - 1, 59)
                if mi < 0 {
                    mi = 59
                    h -= 1
                    if h < 0 {
                        h = 23
                        d -= 1
                    }
                }
                continue
            }
            return Int64(CivilDate.daysFromCivil(year: y, month: mo, day: d)) * 86_400 + Int64(h * 3600 + mi * 60 + ps)
        }
        return nil
    }
}
