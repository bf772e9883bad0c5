import MariaDB
import OctoTime

#if canImport(Glibc)
    import Glibc
#endif

/// Log levels, most severe first. `all` and `none` are filter values, not levels.
public enum LogLevel: String, SQLTextEnum, Comparable {
    case fatal, error, warn, info, debug, trace

    /// More severe compares smaller: `.error < .warn`.
    public static func < (a: LogLevel, b: LogLevel) -> Bool {
        allCases.firstIndex(of: a)! < allCases.firstIndex(of: b)!
    }
}

/// The codes of lines that mark a run's life.
public enum LogCode: Int, Sendable, CaseIterable {
    case start = 100
    case heartbeat = 110
    case end = 120

    /// The code of a stored line; a number that is none is unexpected data.
    static func stored(_ code: Int64) throws -> LogCode {
        guard let c = LogCode(rawValue: Int(code)) else {
            throw RowDecodingError(column: "code", expected: "100, 110 or 120", found: String(code))
        }
        return c
    }
}

/// One line for the `logs` table.
public struct LogLine: Sendable, Equatable {
    public var loggedAt: Instant
    public var jobName: String
    public var runID: Int64?
    public var level: LogLevel
    public var code: LogCode?
    public var content: String
    /// The line was longer than `LogText.maxBytes` and was cut.
    public var truncated: Bool

    public init(
        loggedAt: Instant, jobName: String, runID: Int64? = nil, level: LogLevel, code: LogCode? = nil,
        content: String, truncated: Bool = false
    ) {
        (self.loggedAt, self.jobName, self.runID, self.level, self.code, self.content, self.truncated) =
            (loggedAt, jobName, runID, level, code, content, truncated)
    }
}

/// How raw bytes become a stored line: lines are stored, never refused.
public enum LogText {
    /// Longer lines are cut here and marked `truncated`.
    public static let maxBytes = 65_536

    /// Invalid UTF-8 becomes U+FFFD, NUL bytes are removed (MariaDB text and
    /// C tools downstream stop at them), a trailing CR is dropped.
    public static func text<C: Collection>(_ bytes: C) -> String where C.Element == UInt8 {
        var b = Array(bytes)
        if b.last == 13 { b.removeLast() }
        if b.contains(0) { b.removeAll { $0 == 0 } }
        return String(decoding: b, as: UTF8.self)
    }
}

/// Splits a byte stream into lines, cutting any line longer than
/// `LogText.maxBytes` (the rest of it is dropped, the kept part — whole
/// UTF-8 characters only — marked truncated). A line of exactly
/// `maxBytes` is whole.
public struct LineSplitter: Sendable {
    private var buffer: [UInt8] = []
    private var dropping = false

    public init() {}

    /// Feeds bytes; returns the complete lines (without their newline).
    public mutating func feed(_ bytes: UnsafeRawBufferPointer) -> [(text: String, truncated: Bool)] {
        var out: [(String, Bool)] = []
        for byte in bytes {
            if byte == 10 {
                if !dropping { out.append((LogText.text(buffer), false)) }
                buffer.removeAll(keepingCapacity: true)
                dropping = false
            } else if !dropping {
                // (a CR after the limit may be a CRLF's, which the line drops)
                if buffer.count > LogText.maxBytes || (buffer.count == LogText.maxBytes && byte != 13) {
                    let kept = Array(buffer.prefix(LogText.maxBytes))
                    out.append((LogText.text(kept[..<Self.wholeCharacters(kept)]), true))
                    buffer.removeAll(keepingCapacity: true)
                    dropping = true
                } else {
                    buffer.append(byte)
                }
            }
        }
        return out
    }

    /// The length of `bytes` without a UTF-8 sequence the cut left unfinished.
    static func wholeCharacters(_ bytes: [UInt8]) -> Int {
        var start = bytes.count - 1  // of the last sequence: its lead byte (continuations are 10xxxxxx)
        while start > 0 && bytes[start] & 0xC0 == 0x80 && bytes.count - start < 4 { start -= 1 }
        guard start >= 0 else { return 0 }
        let lead = bytes[start]
        let length = lead >= 0xF8 ? 1 : lead >= 0xF0 ? 4 : lead >= 0xE0 ? 3 : lead >= 0xC0 ? 2 : 1
        return bytes.count - start < length ? start : bytes.count
    }

    /// The last line when the stream ended without a newline.
    public mutating func finish() -> (text: String, truncated: Bool)? {
        defer {
            buffer.removeAll()
            dropping = false
        }
        return buffer.isEmpty ? nil : (LogText.text(buffer), false)
    }
}

/// The server's clock as seen from this process: the server's `NOW(6)` read
/// once, advanced by the local monotonic clock. Line times come from it, so
/// a machine with a wrong wall clock still stamps lines right, and a line
/// keeps its time when it is written later (spool replay).
public struct ServerClock: Sendable {
    let base: Instant
    let baseMonotonic: Int64

    public init(_ db: Connection) throws {
        base = try JobStore.serverNow(db)
        baseMonotonic = Monotonic.microseconds()
    }

    /// This machine's own clock, for when the server cannot be reached.
    public init(local: Void = ()) {
        base = Instant.now()
        baseMonotonic = Monotonic.microseconds()
    }

    public func now() -> Instant { base + .microseconds(Monotonic.microseconds() - baseMonotonic) }
}

/// CLOCK_MONOTONIC, for timers that must not jump with the wall clock.
public enum Monotonic {
    public static func microseconds() -> Int64 {
        var ts = timespec()
        clock_gettime(CLOCK_MONOTONIC, &ts)
        return Int64(ts.tv_sec) * 1_000_000 + Int64(ts.tv_nsec) / 1000
    }
    public static func seconds() -> Double { Double(microseconds()) / 1_000_000 }
}
