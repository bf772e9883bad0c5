import MariaDB
import OctoTime
import Synchronization

/// An IANA time zone, read from the system's zoneinfo (TZif) files.
///
/// The zone is a sorted table of UTC instants at which the UTC offset changes,
/// extended with the file's POSIX TZ rule up to the year 2200, so converting
/// is a binary search. Only offsets matter to octo (abbreviations and the DST
/// flag do not), so transitions that keep the offset are dropped.
///
/// ```swift
/// let ny = try Zone.named("America/New_York")
/// ny.offset(at: Instant(year: 2026, month: 7, day: 1)!)   // -14400 (EDT)
/// ```
public final class Zone: Sendable, CustomStringConvertible {
    public let name: String
    /// UTC seconds at which the offset changes, ascending.
    let transitions: [Int64]
    /// Seconds east of UTC; `offsets[i]` is in effect from `transitions[i-1]`
    /// (or forever before) up to `transitions[i]` (or forever after).
    let offsets: [Int32]

    init(name: String, transitions: [Int64], offsets: [Int32]) {
        precondition(offsets.count == transitions.count + 1)
        self.name = name
        self.transitions = transitions
        self.offsets = offsets
    }

    public var description: String { name }

    public static let utc = Zone(name: "UTC", transitions: [], offsets: [0])

    private static let cache = Mutex<[String: Zone]>([:])

    /// The zone called `name`; loaded once per process. Throws a usage error
    /// naming the value when there is no such zone.
    public static func named(_ name: String) throws(OctoError) -> Zone {
        if name == "UTC" { return utc }
        if let z = cache.withLock({ $0[name] }) { return z }
        guard Zone.isSafeName(name), let bytes = readFileBytes(Zone.directory + "/" + name),
            let zone = TZif.parse(bytes, name: name)
        else {
            throw OctoError.invalid("time zone", name, expected: "an IANA zone name such as Europe/London or UTC")
        }
        cache.withLock { $0[name] = zone }
        return zone
    }

    /// The index of the offset in effect at `utc` (seconds).
    @inline(__always) func segment(containing utc: Int64) -> Int {
        var lo = 0
        var hi = transitions.count
        while lo < hi {
            let mid = (lo + hi) >> 1
            if transitions[mid] <= utc { lo = mid + 1 } else { hi = mid }
        }
        return lo
    }

    /// Seconds east of UTC at `utc` seconds since the epoch.
    public func offset(atSeconds utc: Int64) -> Int32 { offsets[segment(containing: utc)] }

    /// Seconds east of UTC at an instant.
    public func offset(at t: Instant) -> Int32 { offset(atSeconds: t.secondsSinceEpoch) }

    /// The wall-clock fields of an instant in this zone.
    public func local(_ t: Instant) -> CivilDateTime {
        let s = t.secondsSinceEpoch
        return CivilDateTime(utcSeconds: s + Int64(offset(atSeconds: s)), microsecond: t.microsecond)
    }

    /// `2026-03-08`: the calendar date of the instant here (a run's logical date).
    public func logicalDate(_ t: Instant) -> String {
        let l = local(t)
        return l.year.zeroPadded(4) + "-" + l.month.zeroPadded(2) + "-" + l.day.zeroPadded(2)
    }

    /// `2026-03-08T03:00:00-04:00`: the instant's wall time here with its UTC offset.
    public func format(_ t: Instant) -> String {
        let off = Int(offset(at: t))
        let sign = off < 0 ? "-" : "+"
        let a = abs(off)
        var s = local(t).iso8601() + sign + (a / 3600).zeroPadded(2) + ":" + (a / 60 % 60).zeroPadded(2)
        if a % 60 != 0 { s += ":" + (a % 60).zeroPadded(2) }
        return s
    }
}

// MARK: - TZif (RFC 8536)

enum TZif {
    static let lastYear = 2200

    static func parse(_ b: [UInt8], name: String) -> Zone? {
        guard b.count >= 44, b[0] == 0x54, b[1] == 0x5a, b[2] == 0x69, b[3] == 0x66 else { return nil }
        func u32(_ i: Int) -> Int {
            Int(UInt32(b[i]) << 24 | UInt32(b[i + 1]) << 16 | UInt32(b[i + 2]) << 8 | UInt32(b[i + 3]))
        }
        func i32(_ i: Int) -> Int32 { Int32(bitPattern: UInt32(u32(i))) }
        func i64(_ i: Int) -> Int64 { Int64(u32(i)) << 32 | Int64(u32(i + 4)) }
        let version = b[4]
        var h = 0
        var timeSize = 4
        if version >= 0x32 {  // skip the v1 block, read the 64-bit one
            let (isut, isstd, leap, time, type, chars) = (u32(20), u32(24), u32(28), u32(32), u32(36), u32(40))
            h = 44 + time * 4 + time + type * 6 + chars + leap * 8 + isstd + isut
            timeSize = 8
            guard b.count >= h + 44 else { return nil }
        }
        let (isut, isstd, leap, time, type, chars) = (
            u32(h + 20), u32(h + 24), u32(h + 28), u32(h + 32), u32(h + 36), u32(h + 40)
        )
        var p = h + 44
        let dataSize = time * timeSize + time + type * 6 + chars + leap * (timeSize + 4) + isstd + isut
        guard type > 0, b.count >= p + dataSize else { return nil }
        var times: [Int64] = []
        for k in 0..<time { times.append(timeSize == 8 ? i64(p + k * 8) : Int64(i32(p + k * 4))) }
        p += time * timeSize
        let idx = Array(b[p..<(p + time)])
        p += time
        var typeOffsets: [Int32] = []
        for k in 0..<type { typeOffsets.append(i32(p + k * 6)) }
        p += type * 6 + chars + leap * (timeSize + 4) + isstd + isut

        var transitions: [Int64] = []
        var offsets: [Int32] = [typeOffsets[0]]
        for (k, t) in times.enumerated() {
            let off = typeOffsets[Int(idx[k]) < type ? Int(idx[k]) : 0]
            if off != offsets.last! {
                transitions.append(t)
                offsets.append(off)
            }
        }
        // The footer's POSIX rule continues the table after the last transition.
        if timeSize == 8, p < b.count, b[p] == 0x0a, let end = b[(p + 1)...].firstIndex(of: 0x0a) {
            let footer = String(decoding: b[(p + 1)..<end], as: UTF8.self)
            if let rule = PosixTZ(footer) {
                if transitions.isEmpty { offsets = [rule.stdOffset] }
                let after = transitions.last ?? Int64.min
                let firstYear = transitions.last.map { CivilDateTime(utcSeconds: $0).year } ?? 1970
                if rule.dst != nil {
                    for y in firstYear...lastYear {
                        for (t, off) in rule.transitions(year: y) where t > after {
                            if off != offsets.last! {
                                transitions.append(t)
                                offsets.append(off)
                            }
                        }
                    }
                }
            }
        }
        return Zone(name: name, transitions: transitions, offsets: offsets)
    }
}

// MARK: - POSIX TZ strings ("EST5EDT,M3.2.0,M11.1.0")

struct PosixTZ {
    /// Seconds east of UTC.
    let stdOffset: Int32
    let dst: (offset: Int32, start: Rule, end: Rule)?

    struct Rule {
        enum Day {
            case julianNoLeap(Int)
            case zeroBased(Int)
            case monthWeekDay(Int, Int, Int)
        }
        let day: Day
        /// Seconds after local midnight (may be negative or beyond 24 h).
        let time: Int64
    }

    init?(_ s: String) {
        var c = Array(s.utf8)[...]
        guard PosixTZ.skipName(&c), let std = PosixTZ.parseOffset(&c) else { return nil }
        stdOffset = Int32(-std)
        if c.isEmpty {
            dst = nil
            return
        }
        guard PosixTZ.skipName(&c) else { return nil }
        var dstOff = Int32(-std + 3600)
        if let f = c.first, f != UInt8(ascii: ",") {
            guard let o = PosixTZ.parseOffset(&c) else { return nil }
            dstOff = Int32(-o)
        }
        guard c.popFirst() == UInt8(ascii: ","), let start = PosixTZ.parseRule(&c), c.popFirst() == UInt8(ascii: ","),
            let end = PosixTZ.parseRule(&c), c.isEmpty
        else { return nil }
        dst = (dstOff, start, end)
    }

    /// The two offset changes of `year`: (UTC seconds, offset from then on).
    func transitions(year: Int) -> [(Int64, Int32)] {
        guard let dst else { return [] }
        let start = PosixTZ.dayStart(dst.start.day, year: year) + dst.start.time - Int64(stdOffset)
        let end = PosixTZ.dayStart(dst.end.day, year: year) + dst.end.time - Int64(dst.offset)
        return [(start, dst.offset), (end, stdOffset)].sorted { $0.0 < $1.0 }
    }

    /// Local midnight of the rule's day, as seconds if local time were UTC.
    static func dayStart(_ day: Rule.Day, year: Int) -> Int64 {
        let jan1 = CivilDate.daysFromCivil(year: year, month: 1, day: 1)
        let days: Int
        switch day {
        case .julianNoLeap(let n):
            days = jan1 + n - 1 + (CivilDate.isLeap(year) && n >= 60 ? 1 : 0)
        case .zeroBased(let n):
            days = jan1 + n
        case .monthWeekDay(let m, let w, let d):
            let first = CivilDate.daysFromCivil(year: year, month: m, day: 1)
            var day = first + (d - CivilDate.weekday(days: first) + 7) % 7 + (w - 1) * 7
            let dim = CivilDate.daysIn(month: m, year: year)
            while day >= first + dim { day -= 7 }
            days = day
        }
        return Int64(days) * 86_400
    }

    private static func skipName(_ c: inout ArraySlice<UInt8>) -> Bool {
        if c.first == UInt8(ascii: "<") {
            guard let close = c.firstIndex(of: UInt8(ascii: ">")) else { return false }
            c = c[(close + 1)...]
            return true
        }
        let n = c.prefix { ($0 >= 65 && $0 <= 90) || ($0 >= 97 && $0 <= 122) }.count
        guard n >= 3 else { return false }
        c = c.dropFirst(n)
        return true
    }

    /// `[+-]h[h][:mm[:ss]]` in seconds.
    private static func parseOffset(_ c: inout ArraySlice<UInt8>) -> Int64? {
        var sign: Int64 = 1
        if c.first == UInt8(ascii: "+") {
            c = c.dropFirst()
        } else if c.first == UInt8(ascii: "-") {
            sign = -1
            c = c.dropFirst()
        }
        var parts: [Int64] = []
        repeat {
            if !parts.isEmpty { c = c.dropFirst() }
            let digits = c.prefix { $0 >= 48 && $0 <= 57 }
            guard !digits.isEmpty, digits.count <= 3 else { return nil }
            parts.append(digits.reduce(0) { $0 * 10 + Int64($1 - 48) })
            c = c.dropFirst(digits.count)
        } while c.first == UInt8(ascii: ":") && parts.count < 3
        let secs = parts[0] * 3600 + (parts.count > 1 ? parts[1] * 60 : 0) + (parts.count > 2 ? parts[2] : 0)
        return sign * secs
    }

    private static func parseRule(_ c: inout ArraySlice<UInt8>) -> Rule? {
        func number() -> Int? {
            let digits = c.prefix { $0 >= 48 && $0 <= 57 }
            guard !digits.isEmpty else { return nil }
            c = c.dropFirst(digits.count)
            return digits.reduce(0) { $0 * 10 + Int($1 - 48) }
        }
        let day: Rule.Day
        if c.first == UInt8(ascii: "M") {
            c = c.dropFirst()
            guard let m = number(), c.popFirst() == UInt8(ascii: "."), let w = number(),
                c.popFirst() == UInt8(ascii: "."),
                let d = number(), (1...12).contains(m), (1...5).contains(w), (0...6).contains(d)
            else { return nil }
            day = .monthWeekDay(m, w, d)
        } else if c.first == UInt8(ascii: "J") {
            c = c.dropFirst()
            guard let n = number(), (1...365).contains(n) else { return nil }
            day = .julianNoLeap(n)
        } else {
            guard let n = number(), (0...365).contains(n) else { return nil }
            day = .zeroBased(n)
        }
        var time: Int64 = 7200
        if c.first == UInt8(ascii: "/") {
            c = c.dropFirst()
            guard let t = parseOffset(&c) else { return nil }
            time = t
        }
        return Rule(day: day, time: time)
    }
}

/// IANA time zone names, checked against the system's zoneinfo database.
extension Zone {
    public static let directory = "/usr/share/zoneinfo"

    /// True if `name` is a zone octo can read (`Europe/London`, `UTC`, …):
    /// the same test `Zone.named` makes, so settings and jobs agree.
    public static func isKnown(_ name: String) -> Bool { (try? Zone.named(name)) != nil }

    /// `named`, for a zone a job or setting is defined in: the same on every
    /// machine. `localtime` is each machine's own zone (a link to
    /// /etc/localtime), `right/…` counts leap seconds (its wall clock is 27 s
    /// off cron's), `posixrules` and `Factory` are not places: refused (exit 2).
    public static func definable(_ name: String) throws(OctoError) -> Zone {
        if ["localtime", "posixrules", "Factory"].contains(name) || name.hasPrefix("right/") {
            throw OctoError.invalid(
                "time zone", name,
                expected:
                    "an IANA zone name such as Europe/London or UTC, the same on every machine (not localtime, posixrules, Factory or right/…)"
            )
        }
        return try named(name)
    }

    /// A name that can only point inside the zoneinfo directory.
    static func isSafeName(_ name: String) -> Bool {
        !name.isEmpty && name.utf8.count <= 64 && !name.hasPrefix("/") && !name.contains("..")
            && name.unicodeScalars.allSatisfy {
                $0.isASCII && ($0.properties.isAlphabetic || "0123456789/_+-".unicodeScalars.contains($0))
            }
    }

    /// The zone this machine runs in: `$TZ` if it names a zone, else the
    /// target of `/etc/localtime`, else `/etc/timezone`, else `UTC`.
    public static func localName(environment: [String: String]) -> String {
        if var tz = environment["TZ"], !tz.isEmpty {
            if tz.hasPrefix(":") { tz.removeFirst() }
            if let r = tz.firstRange(of: "zoneinfo/") { tz = String(tz[r.upperBound...]) }
            if isKnown(tz) { return tz }
        }
        if let target = readLink("/etc/localtime"), let r = target.firstRange(of: "zoneinfo/") {
            let name = String(target[r.upperBound...])
            if isKnown(name) { return name }
        }
        if let text = readTextFile("/etc/timezone") {
            let name = text.trimmingWhitespace()
            if isKnown(name) { return name }
        }
        return "UTC"
    }

    /// `localName`, as a zone jobs can be defined in (`octo init`'s
    /// `default_tz`): `right/X` becomes `X`; `localtime` (a `TZ` naming the
    /// link) is what /etc/localtime points to; else `UTC`.
    public static func definableLocalName(environment: [String: String]) -> String {
        var env = environment
        for _ in 0..<2 {
            var name = localName(environment: env)
            if name.hasPrefix("right/") { name.removeFirst("right/".count) }
            if (try? definable(name)) != nil { return name }
            env["TZ"] = nil
        }
        return "UTC"
    }
}
