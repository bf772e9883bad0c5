import MariaDB
import OctoTime

/// The Octopus log line format, `<time> <name> <level> <content>`:
///
///     2013/07/04:16:41:00 app_name error Process has exited!
///     2013-07-04T16:41:00.250+02:00 billing.nightly warn disk 91% full
///     2013-07-04 16:41:00,250 etl-load 120 exit 0
///
/// - time: `YYYY/MM/DD:HH:MM:SS`, ISO 8601 `YYYY-MM-DDTHH:MM:SS` with
///   `Z` or `±HH:MM` / `±HHMM`, or `YYYY-MM-DD HH:MM:SS`; seconds may have a
///   fraction (`.250` or `,250`, up to microseconds). A time without a zone
///   is this machine's local time (`$TZ`, else `/etc/localtime`).
/// - name: a job name (`A-Z a-z 0-9 . _ -`, at most 64 characters).
/// - level: `fatal error warn info debug trace` (any case; `warning` is
///   `warn`), or a code: `100`/`start`, `110`/`heartbeat`, `120`/`end`
///   (stored at level `info` with that code).
/// - content: the rest of the line after the whitespace following the level
///   (may be empty).
///
/// A line that does not match in every field is not an error: it is stored
/// whole, as content, with the logger's name and level and the time it was read.
public struct LogFormat: Sendable {
    /// The fields of a line that matched the format.
    public struct Parsed: Sendable, Equatable {
        public var time: Instant
        public var name: String
        public var level: LogLevel
        public var code: LogCode?
        public var content: String
    }

    let zone: Zone

    /// `zone`: the zone of times written without an offset.
    public init(zone: Zone) { self.zone = zone }

    /// The fields of `line`, or nil when it is not in the format.
    public func parse(_ line: String) -> Parsed? {
        var line = line
        return line.withUTF8 { parse(bytes: $0) }
    }

    func parse(bytes b: UnsafeBufferPointer<UInt8>) -> Parsed? {
        // fast exit for the common plain line: the format starts with four digits
        guard b.count >= 24, isDigit(b[0]), isDigit(b[1]), isDigit(b[2]), isDigit(b[3]) else { return nil }
        var i = 0
        guard let time = parseTime(b, &i), i < b.count, isBlank(b[i]) else { return nil }
        skipBlanks(b, &i)
        let nameStart = i
        while i < b.count, !isBlank(b[i]) {
            guard Names.isNameByte(b[i]) else { return nil }
            i += 1
        }
        guard (1...64).contains(i - nameStart), i < b.count else { return nil }
        let name = String(decoding: UnsafeBufferPointer(rebasing: b[nameStart..<i]), as: UTF8.self)
        skipBlanks(b, &i)
        let levelStart = i
        while i < b.count, !isBlank(b[i]) { i += 1 }
        guard let (level, code) = LogFormat.level(UnsafeBufferPointer(rebasing: b[levelStart..<i])) else { return nil }
        skipBlanks(b, &i)
        let content = String(decoding: UnsafeBufferPointer(rebasing: b[i...]), as: UTF8.self)
        return Parsed(time: time, name: name, level: level, code: code, content: content)
    }

    /// A level word or code (`warn`, `WARNING`, `120`, `end`), case-insensitive.
    public static func level(word: String) -> (LogLevel, LogCode?)? {
        var w = word
        return w.withUTF8 { level($0) }
    }

    /// A level word or code, case-insensitive.
    static func level(_ word: UnsafeBufferPointer<UInt8>) -> (LogLevel, LogCode?)? {
        guard (3...9).contains(word.count) else { return nil }
        let w = String(decoding: word.map { $0 >= 65 && $0 <= 90 ? $0 + 32 : $0 }, as: UTF8.self)
        switch w {
        case "warning": return (.warn, nil)
        case "100", "start": return (.info, .start)
        case "110", "heartbeat": return (.info, .heartbeat)
        case "120", "end": return (.info, .end)
        default: return LogLevel(rawValue: w).map { ($0, nil) }
        }
    }

    /// Parses a time at `i`, leaving `i` just after it.
    private func parseTime(_ b: UnsafeBufferPointer<UInt8>, _ i: inout Int) -> Instant? {
        func number(_ width: Int) -> Int? {
            guard i + width <= b.count else { return nil }
            var v = 0
            for k in i..<(i + width) {
                guard isDigit(b[k]) else { return nil }
                v = v * 10 + Int(b[k] - 48)
            }
            i += width
            return v
        }
        func expect(_ c: UInt8) -> Bool {
            guard i < b.count, b[i] == c else { return false }
            i += 1
            return true
        }
        guard let year = number(4), i < b.count else { return nil }
        let octopus = b[i] == UInt8(ascii: "/")
        let dateSep = octopus ? UInt8(ascii: "/") : UInt8(ascii: "-")
        guard expect(dateSep), let month = number(2), expect(dateSep), let day = number(2) else { return nil }
        // Octopus `:`, ISO `T`, or one space between date and time
        guard i < b.count, octopus ? b[i] == UInt8(ascii: ":") : (b[i] == UInt8(ascii: "T") || b[i] == 32) else {
            return nil
        }
        i += 1
        guard let hour = number(2), expect(UInt8(ascii: ":")), let minute = number(2), expect(UInt8(ascii: ":")),
            let second = number(2)
        else { return nil }
        var micro = 0
        if i < b.count, b[i] == UInt8(ascii: ".") || b[i] == UInt8(ascii: ",") {
            i += 1
            var digits = 0
            while i < b.count, isDigit(b[i]) {
                if digits < 6 { micro = micro * 10 + Int(b[i] - 48) }
                digits += 1
                i += 1
            }
            guard digits > 0 else { return nil }
            for _ in digits..<max(digits, 6) { micro *= 10 }
        }
        var offset: Int64?
        if !octopus, i < b.count {
            if b[i] == UInt8(ascii: "Z") || b[i] == UInt8(ascii: "z") {
                offset = 0
                i += 1
            } else if b[i] == UInt8(ascii: "+") || b[i] == UInt8(ascii: "-") {
                let negative = b[i] == UInt8(ascii: "-")
                i += 1
                guard let h = number(2) else { return nil }
                _ = expect(UInt8(ascii: ":"))
                guard let m = number(2), h <= 14, m < 60 else { return nil }
                offset = Int64(h * 3600 + m * 60) * (negative ? -1 : 1)
            }
        }
        guard (1000...9999).contains(year), hour < 24,
            let civil = Instant(year: year, month: month, day: day, hour: hour, minute: minute, second: second)
        else { return nil }
        let wall = civil.secondsSinceEpoch
        let t = offset.map { Instant(secondsSinceEpoch: wall - $0) } ?? TimeText.instant(wallSeconds: wall, zone: zone)
        // the instant itself must be one a DATETIME holds: an offset or the zone can move 9999-12-31 into the year
        // 10000, which MariaDB would store as a zero date (or 1000-01-01 into 999, outside the range it documents);
        // such a line is plain text
        guard LogFormat.storable.contains(t.microseconds / 1_000_000) else { return nil }
        return t + .microseconds(Int64(micro))
    }

    /// 1000-01-01T00:00:00Z up to 9999-12-31T23:59:59Z, in seconds since the epoch: `DATETIME`'s range in UTC.
    static let storable: ClosedRange<Int64> = -30_610_224_000...253_402_300_799

    private func isDigit(_ c: UInt8) -> Bool { c >= 48 && c <= 57 }
    private func isBlank(_ c: UInt8) -> Bool { c == 32 || c == 9 }
    private func skipBlanks(_ b: UnsafeBufferPointer<UInt8>, _ i: inout Int) {
        while i < b.count, isBlank(b[i]) { i += 1 }
    }
}
