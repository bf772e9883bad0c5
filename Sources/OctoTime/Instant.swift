#if canImport(Glibc)
    import Glibc
#elseif canImport(Darwin)
    import Darwin
#endif

/// A point in time in UTC with microsecond precision — exactly what a
/// `DATETIME(6)` column holds when the session time zone is UTC, which every
/// `Connection` sets.
///
/// Stored as whole microseconds since 1970-01-01T00:00:00Z, so arithmetic and
/// comparisons are exact (no floating-point rounding of `Date`).
///
/// ```swift
/// let t = Instant(year: 2026, month: 3, day: 8, hour: 7, minute: 0, second: 0)!
/// t.iso8601            // "2026-03-08T07:00:00.000000Z"
/// (t + .seconds(90)).minute == 1
/// ```
public struct Instant: Hashable, Comparable, Sendable, CustomStringConvertible {
    /// Microseconds since the Unix epoch (negative before 1970).
    public var microseconds: Int64

    public init(microsecondsSinceEpoch: Int64) { self.microseconds = microsecondsSinceEpoch }
    public init(secondsSinceEpoch: Int64) { self.microseconds = secondsSinceEpoch &* 1_000_000 }

    /// The UTC instant of a civil date and time; nil when a field is out of range
    /// (month 13, February 30, second 60, …).
    public init?(year: Int, month: Int, day: Int, hour: Int = 0, minute: Int = 0, second: Int = 0, microsecond: Int = 0)
    {
        guard (1...12).contains(month), day >= 1, day <= CivilDate.daysIn(month: month, year: year),
            (0...23).contains(hour), (0...59).contains(minute), (0...59).contains(second),
            (0...999_999).contains(microsecond)
        else { return nil }
        let days = CivilDate.daysFromCivil(year: year, month: month, day: day)
        let secs = Int64(days) * 86_400 + Int64(hour * 3600 + minute * 60 + second)
        self.microseconds = secs * 1_000_000 + Int64(microsecond)
    }

    /// This machine's wall clock. octo schedules by the server's clock
    /// (`NOW(6)`); the local clock is for measuring durations and for doctor's offset check.
    public static func now() -> Instant {
        var ts = timespec()
        clock_gettime(CLOCK_REALTIME, &ts)
        return Instant(microsecondsSinceEpoch: Int64(ts.tv_sec) * 1_000_000 + Int64(ts.tv_nsec) / 1_000)
    }

    /// Whole seconds since the epoch, rounded down (towards the past).
    public var secondsSinceEpoch: Int64 { microseconds.floorDiv(1_000_000) }
    /// The microseconds within the second, 0…999 999.
    public var microsecond: Int { Int(microseconds.floorMod(1_000_000)) }

    /// Civil fields in UTC.
    public var utc: CivilDateTime { CivilDateTime(utcSeconds: secondsSinceEpoch, microsecond: microsecond) }

    /// `2026-11-21T11:05:00.123456Z`
    public var iso8601: String { utc.iso8601(fractionDigits: 6) + "Z" }
    public var description: String { iso8601 }

    public static func < (a: Instant, b: Instant) -> Bool { a.microseconds < b.microseconds }
    public static func + (a: Instant, d: Duration) -> Instant {
        Instant(microsecondsSinceEpoch: a.microseconds + d.microseconds)
    }
    public static func - (a: Instant, d: Duration) -> Instant {
        Instant(microsecondsSinceEpoch: a.microseconds - d.microseconds)
    }
    public static func - (a: Instant, b: Instant) -> Duration { .microseconds(a.microseconds - b.microseconds) }
}

extension Duration {
    /// The duration in whole microseconds (sub-microsecond parts are dropped).
    public var microseconds: Int64 {
        let (s, atto) = components
        return s * 1_000_000 + atto / 1_000_000_000_000
    }
    /// The duration in seconds as a Double, for display.
    public var seconds: Double { Double(microseconds) / 1_000_000 }
}

/// Broken-down civil date and time (no zone attached).
public struct CivilDateTime: Hashable, Sendable {
    public var year, month, day, hour, minute, second, microsecond: Int

    public init(year: Int, month: Int, day: Int, hour: Int, minute: Int, second: Int, microsecond: Int = 0) {
        (self.year, self.month, self.day, self.hour, self.minute, self.second, self.microsecond) =
            (year, month, day, hour, minute, second, microsecond)
    }

    /// Fields of `utcSeconds` seconds after the epoch.
    public init(utcSeconds: Int64, microsecond: Int = 0) {
        let days = utcSeconds.floorDiv(86_400)
        let rem = Int(utcSeconds - days * 86_400)
        let (y, m, d) = CivilDate.civilFromDays(Int(days))
        self.init(
            year: y, month: m, day: d, hour: rem / 3600, minute: rem / 60 % 60, second: rem % 60,
            microsecond: microsecond)
    }

    /// `2026-11-21T11:05:00` with `fractionDigits` digits of the second (0 for none).
    public func iso8601(fractionDigits: Int = 0) -> String {
        var s =
            year.zeroPadded(4) + "-" + month.zeroPadded(2) + "-" + day.zeroPadded(2) + "T" + hour.zeroPadded(2) + ":"
            + minute.zeroPadded(2) + ":"
            + second.zeroPadded(2)
        if fractionDigits > 0 {
            var frac = microsecond.zeroPadded(6)
            frac.removeLast(max(0, 6 - fractionDigits))
            s += "." + frac
        }
        return s
    }
}

extension BinaryInteger {
    /// The number in decimal with leading zeros to `width` digits: `7.zeroPadded(2)` is `07`.
    @inline(__always) public func zeroPadded(_ width: Int) -> String {
        let s = String(self)
        return s.count >= width ? s : String(repeating: "0", count: width - s.count) + s
    }
}

/// Proleptic Gregorian calendar arithmetic (H. Hinnant's algorithms), exact for any year.
public enum CivilDate {
    /// Days since 1970-01-01 of a civil date.
    public static func daysFromCivil(year: Int, month: Int, day: Int) -> Int {
        let y = month <= 2 ? year - 1 : year
        let era = (y >= 0 ? y : y - 399) / 400
        let yoe = y - era * 400
        let mp = (month + 9) % 12
        let doy = (153 * mp + 2) / 5 + day - 1
        let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy
        return era * 146_097 + doe - 719_468
    }

    /// Civil date of a day count since 1970-01-01.
    public static func civilFromDays(_ z0: Int) -> (year: Int, month: Int, day: Int) {
        let z = z0 + 719_468
        let era = (z >= 0 ? z : z - 146_096) / 146_097
        let doe = z - era * 146_097
        let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365
        let doy = doe - (365 * yoe + yoe / 4 - yoe / 100)
        let mp = (5 * doy + 2) / 153
        let d = doy - (153 * mp + 2) / 5 + 1
        let m = mp < 10 ? mp + 3 : mp - 9
        return (yoe + era * 400 + (m <= 2 ? 1 : 0), m, d)
    }

    public static func isLeap(_ y: Int) -> Bool { y % 4 == 0 && (y % 100 != 0 || y % 400 == 0) }

    public static func daysIn(month: Int, year: Int) -> Int {
        switch month {
        case 2: return isLeap(year) ? 29 : 28
        case 4, 6, 9, 11: return 30
        default: return 31
        }
    }

    /// 0 = Sunday for a day count since 1970-01-01 (a Thursday).
    public static func weekday(days: Int) -> Int { (days + 4).floorMod(7) }
}

extension BinaryInteger {
    /// Division rounding towards negative infinity.
    @inline(__always) public func floorDiv(_ d: Self) -> Self {
        let q = self / d
        return (self % d != 0 && ((self < 0) != (d < 0))) ? q - 1 : q
    }
    /// Remainder with the sign of the divisor.
    @inline(__always) public func floorMod(_ d: Self) -> Self { self - floorDiv(d) * d }
}
