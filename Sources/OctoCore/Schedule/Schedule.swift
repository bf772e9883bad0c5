import MariaDB
import OctoTime

/// When a job fires: a cron expression, an `@every` interval, or nothing
/// (manual-only).
///
/// ```swift
/// let s = try Schedule("30 2 * * *")
/// let ny = try Zone.named("America/New_York")
/// s.next(after: t, in: ny)        // first fire strictly after t
/// s.previous(before: t, in: ny)   // last fire strictly before t
/// ```
///
/// Cron schedules are read in the job's zone with Vixie cron's rules for
/// daylight-saving changes. A fixed-time job (minute and hour fields without
/// `*`) whose wall time falls in a spring-forward gap fires once, right after
/// the gap; one whose wall time occurs twice in a fall-back fires once, at the
/// first occurrence. Jobs with a wildcard minute or hour follow elapsed time:
/// they fire at every instant whose wall time matches (none inside a gap,
/// twice across a repeated hour). `@every` intervals are counted in UTC from
/// the Unix epoch, so every machine agrees on the fire times.
/// Fire times are whole seconds.
public struct Schedule: Sendable, Hashable, CustomStringConvertible {
    public enum Kind: Sendable, Hashable {
        case manual
        case cron(CronExpression)
        /// Every N seconds.
        case every(Int64)
    }

    public let kind: Kind
    /// The schedule as written (trimmed); empty for manual-only.
    public let text: String

    public static let macros: [String: String] = [
        "@yearly": "0 0 1 1 *", "@annually": "0 0 1 1 *", "@monthly": "0 0 1 * *", "@weekly": "0 0 * * 0",
        "@daily": "0 0 * * *", "@midnight": "0 0 * * *", "@hourly": "0 * * * *"
    ]

    /// Parses a schedule; empty text means manual-only. Errors name the text.
    public init(_ raw: String) throws(OctoError) {
        let text = raw.trimmingWhitespace()
        self.text = text
        if text.isEmpty {
            kind = .manual
        } else if text.lowercased().hasPrefix("@every") {
            let rest = String(text.dropFirst(6)).trimmingWhitespace()
            guard !rest.isEmpty, let secs = try? Durations.parse(rest), secs >= 1 else {
                throw OctoError(
                    .usage,
                    "invalid schedule '\(text.quotedForMessage)': expected @every with a duration of at least 1s, e.g. @every 15m"
                )
            }
            kind = .every(secs)
        } else if text.hasPrefix("@") {
            guard let expr = Schedule.macros[text.lowercased()] else {
                throw OctoError(
                    .usage,
                    "invalid schedule '\(text.quotedForMessage)': known macros are @yearly @annually @monthly @weekly @daily @midnight @hourly @every"
                )
            }
            kind = .cron(try CronExpression(expr))
        } else {
            kind = .cron(try CronExpression(text))
        }
    }

    public var description: String { text }
    public var isManual: Bool { kind == .manual }

    // MARK: - Next and previous fire

    /// The first fire strictly after `t`; nil for manual-only, or when no fire
    /// comes within the search horizon (the calendar's 400-year cycle: a schedule that can fire, does within it).
    public func next(after t: Instant, in zone: Zone) -> Instant? {
        switch kind {
        case .manual:
            return nil
        case .every(let iv):
            let s = t.secondsSinceEpoch
            return Instant(secondsSinceEpoch: (s.floorDiv(iv) + 1) * iv)
        case .cron(let c):
            return Schedule.next(c, after: t.secondsSinceEpoch, zone).map(Instant.init(secondsSinceEpoch:))
        }
    }

    /// The last fire strictly before `t`.
    public func previous(before t: Instant, in zone: Zone) -> Instant? {
        // the last whole second strictly before t
        let last = t.microsecond == 0 ? t.secondsSinceEpoch - 1 : t.secondsSinceEpoch
        switch kind {
        case .manual:
            return nil
        case .every(let iv):
            return Instant(secondsSinceEpoch: last.floorDiv(iv) * iv)
        case .cron(let c):
            return Schedule.previous(c, atOrBefore: last, zone).map(Instant.init(secondsSinceEpoch:))
        }
    }

    /// The next `count` fires after `t`.
    public func fires(after t: Instant, in zone: Zone, count: Int) -> [Instant] {
        var out: [Instant] = []
        var cursor = t
        while out.count < count, let n = next(after: cursor, in: zone) {
            out.append(n)
            cursor = n
        }
        return out
    }

    // The zone's table splits time into segments of constant offset. Within a
    // segment, wall time = UTC + offset, so the cron match is found in wall
    // time and mapped back; at a segment boundary the DST rules apply.

    static let horizon: Int64 = Int64(CronExpression.searchYears) * 366 * 86_400

    static func next(_ c: CronExpression, after t: Int64, _ zone: Zone) -> Int64? {
        var cursor = t + 1  // first candidate second
        let stop = t + horizon
        while cursor <= stop {
            let i = zone.segment(containing: cursor)
            let off = Int64(zone.offsets[i])
            let segStart: Int64? = i > 0 ? zone.transitions[i - 1] : nil
            let segEnd = i < zone.transitions.count ? zone.transitions[i] : Int64.max
            var fromLocal = cursor + off
            if c.isFixedTime, let change = segStart {
                let prevOff = Int64(zone.offsets[i - 1])
                if prevOff > off {
                    // fall-back: wall times before change + prevOff already occurred (and fired) once
                    fromLocal = max(fromLocal, change + prevOff)
                } else if prevOff < off, cursor == change, let g = c.next(atOrAfter: change + prevOff), g < change + off
                {
                    // spring-forward: a fire in the gap happens once, right after it
                    return change
                }
            }
            if let l = c.next(atOrAfter: fromLocal) {
                let u = l - off
                if u < segEnd { return u }
            } else {
                return nil
            }
            guard segEnd != Int64.max else { return nil }
            cursor = segEnd
        }
        return nil
    }

    static func previous(_ c: CronExpression, atOrBefore t: Int64, _ zone: Zone) -> Int64? {
        var cursor = t
        let stop = t - horizon
        while cursor >= stop {
            let i = zone.segment(containing: cursor)
            let off = Int64(zone.offsets[i])
            let segStart: Int64? = i > 0 ? zone.transitions[i - 1] : nil
            var lowLocal = segStart.map { $0 + off } ?? Int64.min
            var gapFire: Int64?
            if c.isFixedTime, let change = segStart {
                let prevOff = Int64(zone.offsets[i - 1])
                if prevOff > off {
                    lowLocal = change + prevOff  // repeated wall times belong to the first occurrence
                } else if prevOff < off, let g = c.next(atOrAfter: change + prevOff), g < change + off {
                    gapFire = change
                }
            }
            if let l = c.previous(atOrBefore: cursor + off), l >= lowLocal {
                return l - off
            }
            if let g = gapFire { return g }
            guard let change = segStart else { return nil }
            cursor = change - 1
        }
        return nil
    }
}
