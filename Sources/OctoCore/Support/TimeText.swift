import MariaDB
import OctoTime

/// Instants as people type them on a command line.
public enum TimeText {
    public static let rule = "YYYY-MM-DD[THH:MM[:SS]] with Z or ±HH:MM, or without a zone for the job's zone"

    /// `2026-03-08T01:30:00Z`, `2026-03-08T01:30-05:00`, `2026-03-08 01:30`
    /// (wall time in `zone`), or `2026-03-08` (midnight in `zone`). A wall time
    /// that occurs twice means its first occurrence; one inside a gap, the end of the gap.
    public static func parse(_ text: String, zone: Zone) throws(OctoError) -> Instant {
        let s = text.trimmingWhitespace()
        let fail = OctoError.invalid("time", text, expected: rule)
        var body = Substring(s)
        var offset: Int64?
        if body.hasSuffix("Z") || body.hasSuffix("z") {
            offset = 0
            body = body.dropLast()
        } else if body.count > 10, let signIdx = body.lastIndex(where: { $0 == "+" || $0 == "-" }),
            body.distance(from: body.startIndex, to: signIdx) > 10
        {
            let tz = body[body.index(after: signIdx)...].split(separator: ":")
            guard tz.count == 2, let h = Int(tz[0]), let m = Int(tz[1]), h <= 14, m < 60 else { throw fail }
            offset = Int64(h * 3600 + m * 60) * (body[signIdx] == "-" ? -1 : 1)
            body = body[..<signIdx]
        }
        let parts = body.split(whereSeparator: { $0 == "T" || $0 == " " })
        guard parts.count == 1 || parts.count == 2 else { throw fail }
        let date = parts[0].split(separator: "-").compactMap { Int($0) }
        // seconds may carry a fraction, to the microsecond (a manual run's fire time: `10:00:05.123456Z`)
        var micro = 0
        var clock = parts.count == 2 ? String(parts[1]) : "0:0"
        if let dot = clock.firstIndex(of: ".") {
            let frac = clock[clock.index(after: dot)...]
            guard (1...6).contains(frac.count), frac.allSatisfy(\.isASCII), let f = Int(frac),
                clock.filter({ $0 == ":" }).count == 2
            else { throw fail }
            micro = f * [1, 100_000, 10_000, 1_000, 100, 10, 1][frac.count]
            clock = String(clock[..<dot])
        }
        let fields = clock.split(separator: ":", omittingEmptySubsequences: false)
        let time = fields.compactMap { Int($0) }
        guard time.count == fields.count else { throw fail }
        // MariaDB's DATETIME range: a year outside it is a typo, never a time to schedule or search for
        guard date.count == 3, (1000...9999).contains(date[0]), (2...3).contains(time.count),
            let civil = Instant(
                year: date[0], month: date[1], day: date[2], hour: time[0], minute: time[1],
                second: time.count == 3 ? time[2] : 0)
        else { throw fail }
        let wall = civil.secondsSinceEpoch
        let fraction = Duration.microseconds(Int64(micro))
        if let offset { return Instant(secondsSinceEpoch: wall - offset) + fraction }
        return instant(wallSeconds: wall, zone: zone) + fraction
    }

    /// A calendar date `YYYY-MM-DD` in `zone`: the instants from its first to
    /// the next date's first (a day of 23 or 25 hours where the clocks change).
    public static func day(_ text: String, zone: Zone) throws(OctoError) -> (start: Instant, end: Instant) {
        let parts = text.split(separator: "-", omittingEmptySubsequences: false)
        guard text.utf8.count == 10, parts.count == 3, parts.allSatisfy({ $0.allSatisfy(\.isASCII) }),
            let y = Int(parts[0]), let m = Int(parts[1]), let d = Int(parts[2]), (1000...9999).contains(y),
            let midnight = Instant(year: y, month: m, day: d), midnight.utc.day == d
        else { throw OctoError.invalid("date", text, expected: "a calendar date YYYY-MM-DD") }
        let wall = midnight.secondsSinceEpoch
        return (instant(wallSeconds: wall, zone: zone), instant(wallSeconds: wall + 86_400, zone: zone))
    }

    /// The instant a wall-clock time (seconds since 1970 as if the zone were
    /// UTC) means in `zone`: a wall time that occurs twice means its first
    /// occurrence; one inside a gap, the end of the gap.
    public static func instant(wallSeconds wall: Int64, zone: Zone) -> Instant {
        for candidate in Set([
            zone.offset(atSeconds: wall - 86_400), zone.offset(atSeconds: wall), zone.offset(atSeconds: wall + 86_400)
        ])
        .map(Int64.init).sorted(by: >) {
            let u = wall - candidate
            if Int64(zone.offset(atSeconds: u)) == candidate { return Instant(secondsSinceEpoch: u) }
        }
        // inside a gap: the instant the gap ends
        let i = zone.segment(containing: wall - Int64(zone.offset(atSeconds: wall)))
        return Instant(secondsSinceEpoch: i > 0 ? zone.transitions[i - 1] : wall)
    }
}
