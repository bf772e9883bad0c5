/// Durations as people write them: `90s`, `15m`, `2h`, `1d`, `1h30m`, `0`.
///
/// Used for job timeouts and retry delays, settings (`lease`, `log_retention`,
/// …) and `--since`. Whole seconds; negative values and unknown units are errors.
public enum Durations {
    public static let rule =
        "whole numbers with units d, h, m, s, each at most once and largest first (e.g. 90s, 15m, 2h, 1d, 1h30m) or 0"

    /// Seconds in `text`; throws a usage error naming `what` and the text.
    public static func parse(_ text: String, what: String = "duration") throws(OctoError) -> Int64 {
        let s = text.trimmingWhitespace().lowercased()
        if s == "0" { return 0 }
        var total: Int64 = 0
        var number: Int64? = nil
        var sawUnit = false
        var smallestSoFar = Int64.max  // units largest first, each once: `1h1h` or `30m1h` is a typo, not 2h
        for c in s {
            if let d = c.wholeNumberValue, c.isASCII {
                let (m, o1) = (number ?? 0).multipliedReportingOverflow(by: 10)
                let (a, o2) = m.addingReportingOverflow(Int64(d))
                guard !o1, !o2 else { throw OctoError.invalid(what, text, expected: rule) }
                number = a
                continue
            }
            let unit: Int64
            switch c {
            case "s": unit = 1
            case "m": unit = 60
            case "h": unit = 3600
            case "d": unit = 86_400
            default: throw OctoError.invalid(what, text, expected: rule)
            }
            guard let n = number, unit < smallestSoFar else { throw OctoError.invalid(what, text, expected: rule) }
            smallestSoFar = unit
            let (p, o1) = n.multipliedReportingOverflow(by: unit)
            let (t, o2) = total.addingReportingOverflow(p)
            guard !o1, !o2, t <= 100 * 365 * 86_400 else { throw OctoError.invalid(what, text, expected: rule) }
            total = t
            number = nil
            sawUnit = true
        }
        guard sawUnit, number == nil else { throw OctoError.invalid(what, text, expected: rule) }
        return total
    }

    /// The shortest spelling: 90 → `1m30s`, 900 → `15m`, 5400 → `1h30m`, 0 → `0`.
    public static func format(_ seconds: Int64) -> String {
        if seconds == 0 { return "0" }
        var rest = seconds
        var out = ""
        for (unit, name) in [(Int64(86_400), "d"), (3600, "h"), (60, "m"), (1, "s")] where rest >= unit {
            out += "\(rest / unit)\(name)"
            rest %= unit
        }
        return out
    }
}
